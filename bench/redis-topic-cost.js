/**
 * What a topic costs Redis, per message and per member, with RedisSseBroker.
 *
 * Two instances (two applications in this process) share a Redis: `readers` members have
 * a stream open on the first, the second publishes to the topic. For each member count it
 * reports, per published message, Redis's commands, CPU and bytes (INFO counters), and per
 * member the commands and CPU of a join and the memory its membership takes (MEMORY USAGE).
 *
 *   npm run build --workspace nestjs-sse-hub && node bench/redis-topic-cost.js
 *   node bench/redis-topic-cost.js --members=10,10000 --messages=5000 --readers=10
 *
 * REDIS_URL picks the server (default redis://127.0.0.1:6379); every key it writes is under
 * a prefix of its own, deleted at the end.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';
import { reader, redisCounters as counters } from './lib/throughput.js';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const args = process.argv.slice(2);
const option = (name, fallback) =>
  args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;

async function instance(keyPrefix) {
  class AppModule {}
  Module({
    imports: [
      SseModule.forRoot({
        resolveUser: (req) => req.headers['x-user'],
        heartbeat: 0,
        history: { size: 100 },
        maxPendingBytes: 256 * 1024 * 1024,
        broker: new RedisSseBroker({ url: REDIS_URL, keyPrefix }),
      }),
    ],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  return { app, sse: app.get(SseService), port: app.getHttpServer().address().port };
}

function per(before, after, n) {
  const commands = {};
  for (const [name, calls] of Object.entries(after.calls)) {
    const delta = calls - (before.calls[name] ?? 0);
    if (delta > 0 && !['info', 'ping', 'memory|usage'].includes(name)) {
      commands[name] = Math.round((delta / n) * 100) / 100;
    }
  }
  return {
    commands,
    redisCpuUs: Math.round(((after.cpu - before.cpu) * 1e6) / n),
    bytesIn: Math.round((after.in - before.in) / n),
    bytesOut: Math.round((after.out - before.out) / n),
  };
}

async function run(members, messages, readerCount, bytes, round) {
  const keyPrefix = `bt${(process.pid % 1000).toString(36)}${round}:`;
  const admin = new Redis(REDIS_URL);
  const receiving = await instance(keyPrefix);
  const sending = await instance(keyPrefix);
  const topic = 'bench-topic';

  const before = await counters(admin);
  for (let i = 0; i < members; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(members, i + 200); j++)
      batch.push(sending.sse.join(`u${j}`, topic));
    await Promise.all(batch);
  }
  const joined = await counters(admin);
  const join = per(before, joined, members);
  const sample = Math.min(members, 100);
  let membership = 0;
  for (let j = 0; j < sample; j++) {
    membership += Number(await admin.call('MEMORY', 'USAGE', `${keyPrefix}u:{u${j}}:t`));
    membership += Number(await admin.call('MEMORY', 'USAGE', `${keyPrefix}u:{u${j}}:tv`));
  }
  const memberSet = Number(await admin.call('MEMORY', 'USAGE', `${keyPrefix}t:{${topic}}:m`));

  const readers = [];
  for (let j = 0; j < Math.min(readerCount, members); j++) {
    readers.push(await reader(receiving.port, `u${j}`));
  }
  const data = 'x'.repeat(bytes);
  // Warm-up, and until the receiving instance's count is in Redis.
  while ((await sending.sse.publish(topic, data)).delivered < readers.length) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const start = await counters(admin);
  const started = performance.now();
  let delivered = 0;
  let next = 0;
  const lane = async () => {
    while (next++ < messages) {
      const result = await sending.sse.publish(topic, data);
      delivered += result.delivered;
    }
  };
  await Promise.all(Array.from({ length: 64 }, lane));
  const ms = performance.now() - started;
  const end = await counters(admin);
  if (process.env.BENCH_DEBUG) {
    console.log(
      readers.map((r) => r.count),
      await admin.hgetall(`${keyPrefix}t:{${topic}}:p`),
    );
  }

  for (const client of readers) client.close();
  await Promise.all([receiving.app.close(), sending.app.close()]);
  const keys = await admin.keys(`${keyPrefix}*`);
  for (let i = 0; i < keys.length; i += 1000) await admin.del(...keys.slice(i, i + 1000));
  await admin.quit();
  return {
    members,
    readers: readers.length,
    publishesPerSec: Math.round((messages / ms) * 1000),
    deliveredPerMessage: delivered / messages,
    perMessage: per(start, end, messages),
    perJoin: join,
    membershipBytes: Math.round(membership / sample),
    memberSetBytesPerMember: Math.round(memberSet / members),
  };
}

const memberCounts = String(option('members', '10,10000')).split(',').map(Number);
const messages = Number(option('messages', 5000));
const readers = Number(option('readers', 10));
const bytes = Number(option('bytes', 100));
const results = [];
for (const [round, members] of memberCounts.entries()) {
  const result = await run(members, messages, readers, bytes, round);
  results.push(result);
  console.log(JSON.stringify(result));
}
console.table(
  results.map((r) => ({
    members: r.members,
    'publish/s': r.publishesPerSec,
    'Redis µs/msg': r.perMessage.redisCpuUs,
    'bytes in/out per msg': `${r.perMessage.bytesIn} / ${r.perMessage.bytesOut}`,
    'Redis µs/join': r.perJoin.redisCpuUs,
    'bytes/member': r.membershipBytes + r.memberSetBytesPerMember,
  })),
);
process.exit(0);
