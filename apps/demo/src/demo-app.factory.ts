import type { INestApplication, NestApplicationOptions } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { resolveDemoConfig, type DemoConfig } from './demo.config.js';
import { DemoModule } from './demo.module.js';

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
    app = await NestFactory.create(module, new FastifyAdapter(), options);
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
