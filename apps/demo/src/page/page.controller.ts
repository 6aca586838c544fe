import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Controller, Get, Header, type OnModuleInit } from '@nestjs/common';

// The page loads only its own script and style, and talks only to its own origin.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// Built next to this file's folder as `public/`, in the sources and in `dist/` alike.
const PUBLIC_DIR = new URL('../public/', import.meta.url);

/**
 * The library's browser module, as built (`npm run build --workspace nestjs-sse-hub`): the
 * demo serves the same file that an app would bundle from `nestjs-sse-hub/client`.
 */
function clientModulePath(): string {
  return createRequire(import.meta.url).resolve('nestjs-sse-hub/client');
}

/**
 * Serves the demo's page at `GET /`, its two assets and the library's browser client at
 * `GET /sse-client.js`, read once at start-up. They are public: the page is where a user
 * signs in.
 */
@Controller()
export class PageController implements OnModuleInit {
  private html = '';
  private script = '';
  private style = '';
  private client = '';

  async onModuleInit(): Promise<void> {
    const read = (name: string) => readFile(new URL(name, PUBLIC_DIR), 'utf8');
    [this.html, this.script, this.style, this.client] = await Promise.all([
      read('index.html'),
      read('app.js'),
      read('style.css'),
      readFile(clientModulePath(), 'utf8'),
    ]);
  }

  /** `GET /`: the page. */
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  @Header('Cache-Control', 'no-cache')
  page(): string {
    return this.html;
  }

  /** `GET /assets/app.js`: the page's script. */
  @Get('assets/app.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  appScript(): string {
    return this.script;
  }

  /** `GET /assets/style.css`: the page's style sheet. */
  @Get('assets/style.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  styleSheet(): string {
    return this.style;
  }

  /** `GET /sse-client.js`: the library's browser client, `nestjs-sse-hub/client`. */
  @Get('sse-client.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Cache-Control', 'no-cache')
  clientModule(): string {
    return this.client;
  }
}
