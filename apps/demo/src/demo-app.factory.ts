import type { INestApplication, NestApplicationOptions } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { resolveDemoConfig, type DemoConfig } from './demo.config.js';
import { DemoModule } from './demo.module.js';

/** Longest path parameter Fastify routes: a topic name of 128 characters, URL-encoded. */
const MAX_PARAM_LENGTH = 3 * 128 + 128;

/**
 * Creates the demo application for a configuration, on Express or Fastify, initialised but
 * not listening: call `listen(port)` on it (`0` for a free port) and `close()` when done.
 * Rejects when a library option cannot work (`SseOptionsError`).
 *
 * @example
 * ```ts
 * const app = await createDemoApp({ platform: 'fastify', transport: 'observable' });
 * await app.listen(0, '127.0.0.1');
 * ```
 */
export async function createDemoApp(config: Partial<DemoConfig> = {}): Promise<INestApplication> {
  const resolved = resolveDemoConfig(config);
  const module = DemoModule.forRoot(resolved);
  // A configuration that cannot work rejects rather than ending the process.
  const options: NestApplicationOptions = { abortOnError: false };
  if (resolved.logger !== undefined) options.logger = resolved.logger;
  let app: INestApplication;
  if (resolved.platform === 'fastify') {
    // Loaded only for Fastify, so that an Express demo never loads it.
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    // Fastify answers 414 for a path parameter over 100 characters by default; a topic
    // name may have 128, each encoded in up to three (`%3A`), and a longer one is a 400.
    const adapter = new FastifyAdapter({ maxParamLength: MAX_PARAM_LENGTH });
    app = await NestFactory.create(module, adapter, options);
  } else {
    app = await NestFactory.create(module, options);
  }
  try {
    await app.init();
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}
