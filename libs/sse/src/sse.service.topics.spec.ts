import 'reflect-metadata';
import type { MessageEvent } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SseHub } from './hub/sse-hub.js';
import { SSE_DEFAULTS } from './sse.options.js';
import { SseInvalidTopicError, SseTooManyTopicsError } from './sse.errors.js';
import { SseModule } from './sse.module.js';
import { SseService } from './sse.service.js';
import { SseFrame } from './wire/sse-frame.js';

describe('SseService topics', () => {
  let moduleRef: TestingModule | undefined;

  async function start(options: { maxTopicsPerConnection?: number } = {}): Promise<SseService> {
    moduleRef = await Test.createTestingModule({
      imports: [SseModule.forRoot({ path: null, heartbeat: 0, ...options })],
    }).compile();
    await moduleRef.init();
    return moduleRef.get(SseService);
  }

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  it('defaults to 100 memberships per user and 20 subscriptions per stream', () => {
    expect(SSE_DEFAULTS.maxTopicsPerUser).toBe(100);
    expect(SSE_DEFAULTS.maxTopicsPerConnection).toBe(20);
  });

  it('stream({ topics }) subscribes for the stream’s life, each topic once', async () => {
    const sse = await start();
    const messages: MessageEvent[] = [];
    const subscription = sse
      .stream('alice', { topics: ['a', 'b', 'a'] })
      .subscribe((message) => messages.push(message));
    const result = await sse.publish('a', 'to a', { event: 'note' });
    expect(result).toEqual({ id: result.id, delivered: 1, stored: true });
    expect((await sse.publish('b', 'to b')).delivered).toBe(1);
    expect((await sse.publish('c', 'to c')).delivered).toBe(0);
    expect(messages.slice(1).map((m) => [m.type, m.data])).toEqual([
      ['note', 'to a'],
      [undefined, 'to b'],
    ]);
    subscription.unsubscribe();
    expect((await sse.publish('a', 'gone')).delivered).toBe(0);
    expect(moduleRef!.get(SseHub).resourceCounts().channels).toBe(0);
  });

  it('serialises a topic event once for all its connections, each reached once', async () => {
    const sse = await start();
    const streams = [];
    let received = 0;
    for (let i = 0; i < 300; i++) {
      const topics = i % 3 === 0 ? [] : ['big'];
      streams.push(sse.stream(`u${i % 150}`, { topics }).subscribe(() => received++));
    }
    for (let i = 0; i < 150; i += 2) await sse.join(`u${i}`, 'big');
    received = 0;
    const frames = vi.spyOn(SseFrame, 'message');
    const result = await sse.publish('big', { n: 1 });
    // Subscribed: 200 streams; members u0, u2, ... own 150 streams, 50 of them not subscribed.
    expect(result.delivered).toBe(250);
    expect(received).toBe(250);
    expect(frames).toHaveBeenCalledTimes(1);
    frames.mockRestore();
    for (const stream of streams) stream.unsubscribe();
    expect(moduleRef!.get(SseHub).resourceCounts().channels).toBe(0);
  });

  it('stream() refuses a bad topic and more than maxTopicsPerConnection, saying what to do', async () => {
    const sse = await start({ maxTopicsPerConnection: 2 });
    expect(() => sse.stream('alice', { topics: ['ok', 'not ok'] })).toThrow(SseInvalidTopicError);
    expect(() => sse.stream('alice', { topics: 'a' as unknown as string[] })).toThrow(
      SseInvalidTopicError,
    );
    expect(() => sse.stream('alice', { topics: ['a', 'b', 'c'] })).toThrow(SseTooManyTopicsError);
    expect(() => sse.stream('alice', { topics: ['a', 'b', 'c'] })).toThrow(
      /Potential solutions: .*maxTopicsPerConnection/,
    );
  });

  it('refuses bad input to join, leave, members and publish', async () => {
    const sse = await start();
    await expect(sse.join('alice', 'a b')).rejects.toThrow(/Potential solutions/);
    await expect(sse.leave('alice', 'é')).rejects.toThrow(SseInvalidTopicError);
    await expect(sse.members(42 as unknown as string)).rejects.toThrow(SseInvalidTopicError);
    await expect(sse.publish('a'.repeat(129), 'x')).rejects.toThrow(SseInvalidTopicError);
    await expect(sse.join('', 'a')).rejects.toThrow(/Invalid user id/);
    expect(await sse.topicsOf('alice')).toEqual([]);
  });
});
