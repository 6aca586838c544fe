import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { SseService } from 'nestjs-sse-hub';
import { filter, firstValueFrom, map, throwError, timeout } from 'rxjs';
import { createDemoApp } from '../../apps/demo/src/demo-app.factory.js';
import type { DemoConfig } from '../../apps/demo/src/demo.config.js';

/** An answer of the demo, its body parsed as JSON when it is JSON. */
export interface DemoAnswer {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

/** What a request to the demo carries. */
export interface DemoRequestInit {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** A `Cookie` header. */
  cookie?: string;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as it is, as `application/json`, for bodies that are not valid JSON. */
  raw?: string;
  headers?: Record<string, string>;
}

/** The demo, listening on a free port of 127.0.0.1. */
export class DemoServer {
  readonly sse: SseService;

  private constructor(
    readonly app: INestApplication,
    readonly url: string,
  ) {
    this.sse = app.get(SseService);
  }

  /** Starts the demo with `config` (the logger off unless given). */
  static async start(config: Partial<DemoConfig>): Promise<DemoServer> {
    const app = await createDemoApp({ logger: false, ...config });
    try {
      await app.listen(0, '127.0.0.1');
    } catch (error) {
      await app.close();
      throw error;
    }
    const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
    return new DemoServer(app, `http://127.0.0.1:${port}`);
  }

  get httpServer(): Server {
    return this.app.getHttpServer() as Server;
  }

  /** A request to the demo. */
  async request(method: string, path: string, init: DemoRequestInit = {}): Promise<DemoAnswer> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
    if (init.cookie !== undefined) headers.cookie = init.cookie;
    let body: string | undefined;
    if (init.json !== undefined || init.raw !== undefined) {
      headers['content-type'] = 'application/json';
      body = init.raw ?? JSON.stringify(init.json);
    }
    // Bounded, so that a stream opened by mistake fails the test instead of hanging it.
    const signal = AbortSignal.timeout(5000);
    const response = await fetch(this.url + path, { method, headers, body, signal });
    const text = await response.text();
    let parsed: unknown = text;
    if (response.headers.get('content-type')?.includes('application/json')) {
      parsed = JSON.parse(text);
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  /** Signs in as `userId`: the token, and the cookie as a `Cookie` header would send it. */
  async login(userId: string): Promise<{ token: string; cookie: string }> {
    const answer = await this.request('POST', '/auth/login', { json: { userId } });
    if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${answer.text}`);
    const setCookie = answer.headers.get('set-cookie') ?? '';
    return { token: (answer.body as { token: string }).token, cookie: setCookie.split(';')[0] };
  }

  /** Resolves once this instance has exactly `count` open streams. */
  untilConnections(count: number, timeoutMs = 5000): Promise<void> {
    if (this.sse.stats().connections === count) return Promise.resolve();
    return firstValueFrom(
      this.sse.events$.pipe(
        filter(() => this.sse.stats().connections === count),
        map(() => undefined),
        timeout({
          first: timeoutMs,
          with: () =>
            throwError(
              () =>
                new Error(`expected ${count} open streams, have ${this.sse.stats().connections}`),
            ),
        }),
      ),
    );
  }

  close(): Promise<void> {
    return this.app.close();
  }
}
