import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DemoServer } from './support/demo-server.js';
import { eventually } from './support/eventually.js';
import { natsRequirement, TEST_NATS_URL } from './support/requirements.js';
import { RawSseClient } from './support/sse-client.js';

/**
 * Two demo instances on one NATS (`NATS_URL`) and one `DEMO_SECRET`, one on Express and
 * one on Fastify, act as one: messages, presence, disconnects and replay cross over.
 */

const nats = await natsRequirement();

describe.skipIf(!nats.available)('two demo instances on one NATS', () => {
  const natsPrefix = `demotest-${uuidv7()}`;
  const shared = { natsUrl: TEST_NATS_URL, natsPrefix, secret: 'shared' };
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
    if (!nats.available) return;
    const admin = await connect({ servers: TEST_NATS_URL });
    const jsm = await jetstreamManager(admin);
    for (const name of [
      `${natsPrefix}-history`,
      `KV_${natsPrefix}-presence`,
      `KV_${natsPrefix}-topics`,
    ]) {
      await jsm.streams.delete(name).catch(() => false);
    }
    await admin.close();
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

  it('delivers across instances, answers presence for both, and disconnects everywhere', async () => {
    const alice = await one.login('alice');
    const bob = await one.login('bob');
    const stream = await open(two, bob.token);
    await eventually(async () => {
      const online = await one.request('GET', '/sse/online', { token: alice.token });
      return JSON.stringify(online.body) === JSON.stringify({ users: ['bob'] });
    }, 'bob is online on the other instance');

    const json = { to: 'bob', data: { text: 'across instances' }, event: 'chat' };
    const answer = await one.request('POST', '/messages', { token: alice.token, json });
    expect(answer.body).toEqual({ id: expect.any(String), delivered: 1 });
    await stream.waitFor((c) => c.messages.length >= 2);
    expect(stream.messages[1]).toMatchObject({
      id: (answer.body as { id: string }).id,
      event: 'chat',
      data: '{"text":"across instances"}',
    });

    const deleted = await one.request('DELETE', '/sse', { token: bob.token });
    expect(deleted.body).toEqual({ disconnected: true });
    await stream.waitForEnd();
    expect(stream.messages.at(-1)?.event).toBe('sse:close');
  });

  it('replays on one instance what was sent through the other while the user was away', async () => {
    const carol = await one.login('carol');
    const first = await open(one, carol.token);
    const from = first.messages[0].id!;
    first.close();
    await one.untilConnections(0);
    const json = { to: 'carol', data: 'while away' };
    const sent = await two.request('POST', '/messages', { token: carol.token, json });
    const back = await open(two, carol.token, from);
    await back.waitFor((c) => c.messages.length >= 2);
    expect(back.messages[1]).toMatchObject({
      id: (sent.body as { id: string }).id,
      data: 'while away',
    });
  });
});
