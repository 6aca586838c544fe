/**
 * The library with its defaults, on Express unless told otherwise. Variants, from the
 * runner's environment: `BENCH_TRANSPORT` (`direct`, `observable`), `BENCH_PLATFORM`
 * (`express`, `fastify`), `BENCH_REDIS_URL` and `BENCH_REDIS_PREFIX` (the Redis broker),
 * `BENCH_REDIS_CLUSTER_NODES` (`host:port,...`: the Redis broker on a Redis Cluster),
 * `BENCH_NATS_URL` (the NATS broker, its prefix made of `BENCH_REDIS_PREFIX`),
 * `BENCH_PUBLISH=http` (messages come over HTTP, `POST /pub/<user id>` or `/pub/all`, from
 * bench/publisher.js: what nchan's publisher is measured with).
 */
import 'reflect-metadata';
import { Body, Controller, HttpCode, Inject, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { requestUser, serve } from './harness.js';

const transport = process.env.BENCH_TRANSPORT || undefined;
const platform = process.env.BENCH_PLATFORM || 'express';
const redisUrl = process.env.BENCH_REDIS_URL || undefined;
const clusterNodes = process.env.BENCH_REDIS_CLUSTER_NODES?.split(',').filter(Boolean);
const natsUrl = process.env.BENCH_NATS_URL || undefined;
const publishOverHttp = process.env.BENCH_PUBLISH === 'http';

async function brokerOption() {
  if (natsUrl !== undefined) {
    const { NatsSseBroker } = await import('nestjs-sse-hub/nats');
    const { natsPrefix } = await import('../lib/servers.js');
    const prefix = natsPrefix(process.env.BENCH_REDIS_PREFIX ?? 'sse-bench');
    return { broker: new NatsSseBroker({ servers: natsUrl, prefix, storage: 'memory' }) };
  }
  if (redisUrl === undefined && clusterNodes === undefined) return {};
  const { RedisSseBroker } = await import('nestjs-sse-hub/redis');
  const where =
    clusterNodes === undefined ? { url: redisUrl } : { cluster: { nodes: clusterNodes } };
  return {
    broker: new RedisSseBroker({ ...where, keyPrefix: process.env.BENCH_REDIS_PREFIX }),
  };
}

async function createApp(module) {
  if (platform === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    return NestFactory.create(module, new FastifyAdapter(), { logger: ['error', 'warn'] });
  }
  return NestFactory.create(module, { logger: ['error', 'warn'] });
}

/**
 * The smallest publish route: `all` broadcasts, any other channel is a user id. It answers
 * once the library has taken the message, as nchan's publisher does. Plain JavaScript: the
 * decorators are applied as the TypeScript compiler would.
 */
class PublishController {
  constructor(sse) {
    this.sse = sse;
  }

  async publish(channel, body) {
    if (channel === 'all') await this.sse.broadcast(body);
    else await this.sse.send(channel, body);
  }
}
Inject(SseService)(PublishController, undefined, 0);
Param('channel')(PublishController.prototype, 'publish', 0);
Body()(PublishController.prototype, 'publish', 1);
Reflect.decorate(
  [Post('pub/:channel'), HttpCode(202)],
  PublishController.prototype,
  'publish',
  Object.getOwnPropertyDescriptor(PublishController.prototype, 'publish'),
);
Controller()(PublishController);

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
    controllers: publishOverHttp ? [PublishController] : [],
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
    join: (userId, topic) => sse.join(userId, topic),
    leave: (userId, topic) => sse.leave(userId, topic),
    publish: (topic, data) => void sse.publish(topic, data).catch(failed),
    connections: () => sse.stats().connections,
    close: () => app.close(),
  };
});
