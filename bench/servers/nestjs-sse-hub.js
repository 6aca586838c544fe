/**
 * The library with its defaults, on Express unless told otherwise. Variants, from the
 * runner's environment: `BENCH_TRANSPORT` (`direct`, `observable`), `BENCH_PLATFORM`
 * (`express`, `fastify`), `BENCH_REDIS_URL` and `BENCH_REDIS_PREFIX` (the Redis broker).
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { requestUser, serve } from './harness.js';

const transport = process.env.BENCH_TRANSPORT || undefined;
const platform = process.env.BENCH_PLATFORM || 'express';
const redisUrl = process.env.BENCH_REDIS_URL || undefined;

async function brokerOption() {
  if (redisUrl === undefined) return {};
  const { RedisSseBroker } = await import('nestjs-sse-hub/redis');
  return {
    broker: new RedisSseBroker({ url: redisUrl, keyPrefix: process.env.BENCH_REDIS_PREFIX }),
  };
}

async function createApp(module) {
  if (platform === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    return NestFactory.create(module, new FastifyAdapter(), { logger: ['error', 'warn'] });
  }
  return NestFactory.create(module, { logger: ['error', 'warn'] });
}

await serve('nestjs-sse-hub', async () => {
  class AppModule {}
  Module({
    imports: [
      SseModule.forRoot({
        resolveUser: requestUser,
        ...(transport === undefined ? {} : { transport }),
        ...(await brokerOption()),
      }),
    ],
  })(AppModule);

  const app = await createApp(AppModule);
  await app.listen(0, '127.0.0.1');
  const sse = app.get(SseService);
  const failed = (error) => {
    throw error;
  };
  return {
    port: app.getHttpServer().address().port,
    broadcast: (data) => void sse.broadcast(data).catch(failed),
    unicast: (userId, data) => void sse.send(userId, data).catch(failed),
    connections: () => sse.stats().connections,
    close: () => app.close(),
  };
});
