import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DemoServer } from './support/demo-server.js';
import { redisRequirement, TEST_REDIS_URL } from './support/requirements.js';
import { RawSseClient } from './support/sse-client.js';

/**
 * Two demo instances on one Redis (`REDIS_URL`) and one `DEMO_SECRET`, one on Express and
 * one on Fastify, act as one: tokens, messages, presence, disconnects and replay cross over.
 */

const redis = await redisRequirement();
const suite = redis.available ? describe : describe.skip;

suite('two demo instances on one Redis', () => {
  // A prefix of this run's own, so that nothing else on this Redis server is seen.
  const keyPrefix = `demo-test:${uuidv7()}:`;
  const shared = { redisUrl: TEST_REDIS_URL, redisKeyPrefix: keyPrefix, secret: 'shared' };
  let one: DemoServer;
  let two: DemoServer;
  const clients: RawSseClient[] = [];

  beforeAll(async () => {
    one = await DemoServer.start({ ...shared, platform: 'express', transport: 'direct' });
    two = await DemoServer.start({ ...shared, platform: 'fastify', transport: 'observable' });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all([one.untilConnections(0), two.untilConnections(0)]);
  });

  afterAll(async () => {
    await one?.close();
    await two?.close();
    if (!redis.available) return;
    const admin = new Redis(TEST_REDIS_URL);
    try {
      const keys = await admin.keys(`${keyPrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    } finally {
      await admin.quit();
    }
  });

  async function open(demo: DemoServer, token: string, lastEventId?: string) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const client = await RawSseClient.open(`${demo.url}/sse`, headers);
    clients.push(client);
    expect({ status: client.status, body: client.body }).toEqual({ status: 200, body: '' });
    await client.waitForEvents(1);
    return client;
  }

  it('accepts one instance’s token on the other, and delivers across them', async () => {
    const alice = await one.login('alice');
    const bob = await one.login('bob');
    const stream = await open(two, bob.token);

    const online = await one.request('GET', '/sse/online', { token: alice.token });
    expect(online.body).toEqual({ users: ['bob'] });

    const json = { to: 'bob', data: { text: 'across instances' }, event: 'chat' };
    const answer = await one.request('POST', '/messages', { token: alice.token, json });
    expect(answer.body).toEqual({ id: expect.any(String), delivered: 1 });
    await stream.waitFor((c) => c.messages.length >= 2);
    expect(stream.messages[1]).toMatchObject({
      id: (answer.body as { id: string }).id,
      event: 'chat',
      data: '{"text":"across instances"}',
    });

    // DELETE /sse on one instance closes the user's stream on the other.
    const deleted = await one.request('DELETE', '/sse', { token: bob.token });
    expect(deleted.body).toEqual({ disconnected: true });
    await stream.waitForEnd();
    expect(stream.messages.at(-1)?.event).toBe('sse:close');
  });

  it('replays on one instance what was missed after leaving the other', async () => {
    const alice = await two.login('alice');
    const carol = await two.login('carol');
    const first = await open(two, carol.token);
    const resumeFrom = first.events[0].id!;
    first.close();
    await two.untilConnections(0);

    const ids: string[] = [];
    for (const data of ['while away 1', 'while away 2']) {
      const answer = await two.request('POST', '/messages', {
        token: alice.token,
        json: { to: 'carol', data },
      });
      expect((answer.body as { delivered: number }).delivered).toBe(0);
      ids.push((answer.body as { id: string }).id);
    }

    // Back through the other instance, which sent none of it: the history is Redis's.
    const resumed = await open(one, carol.token, resumeFrom);
    await resumed.waitFor((c) => c.messages.length >= 3);
    expect(resumed.messages.map((m) => [m.id, m.event, m.data])).toEqual([
      [resumeFrom, undefined, ''],
      [ids[0], undefined, 'while away 1'],
      [ids[1], undefined, 'while away 2'],
    ]);
  });
});
