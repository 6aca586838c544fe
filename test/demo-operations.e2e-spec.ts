import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DemoServer } from './support/demo-server.js';
import { eventually } from './support/eventually.js';
import { OwnNatsServer } from './support/nats-server.js';
import { freePort } from './support/free-port.js';
import { OwnRedis } from './support/own-redis.js';
import {
  natsServerBinaryRequirement,
  redisServerBinaryRequirement,
} from './support/requirements.js';
import { RawSseClient } from './support/sse-client.js';

/**
 * What an operator reads off the demo: `GET /metrics` (Prometheus text) after real
 * traffic, and `GET /health`, 200 while the broker answers and 503 while it does not.
 */

/** The value of one sample of a Prometheus text exposition, `undefined` when absent. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) {
      return Number(match[3]);
    }
  }
  return undefined;
}

const demos: DemoServer[] = [];
const clients: RawSseClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const demo of demos.splice(0)) {
    await demo.untilConnections(0);
    await demo.close();
  }
});

async function open(demo: DemoServer, token: string): Promise<RawSseClient> {
  const client = await RawSseClient.open(`${demo.url}/sse`, { authorization: `Bearer ${token}` });
  clients.push(client);
  await client.waitForEvents(1);
  return client;
}

describe('the demo for operators', () => {
  it('serves the sse metrics at GET /metrics, counted from real traffic', async () => {
    const demo = await DemoServer.start({});
    demos.push(demo);
    const alice = await demo.login('alice');
    const bob = await demo.login('bob');
    const [aliceTab1, aliceTab2, bobTab] = [
      await open(demo, alice.token),
      await open(demo, alice.token),
      await open(demo, bob.token),
    ];
    const sent = await demo.request('POST', '/messages', {
      token: alice.token,
      json: { to: 'alice', data: 'hi' },
    });
    expect(sent.body).toMatchObject({ delivered: 2 });
    const all = await demo.request('POST', '/messages/broadcast', {
      token: alice.token,
      json: { data: 'all' },
    });
    expect(all.body).toMatchObject({ delivered: 3 });
    await Promise.all([
      aliceTab1.waitForEvents(3),
      aliceTab2.waitForEvents(3),
      bobTab.waitForEvents(2),
    ]);

    const scrape = await demo.request('GET', '/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = scrape.text;
    expect(sample(text, 'sse_connections')).toBe(3);
    expect(sample(text, 'sse_users')).toBe(2);
    expect(sample(text, 'sse_messages_total', { kind: 'user' })).toBe(1);
    expect(sample(text, 'sse_messages_total', { kind: 'broadcast' })).toBe(1);
    expect(sample(text, 'sse_messages_total', { kind: 'users' })).toBe(0);
    expect(sample(text, 'sse_deliveries_total')).toBe(5);
    expect(sample(text, 'sse_publish_duration_count')).toBe(2);
    expect(text).toMatch(/^# TYPE sse_messages_total counter$/m);

    bobTab.close();
    await demo.untilConnections(2);
    const after = (await demo.request('GET', '/metrics')).text;
    expect(sample(after, 'sse_connections')).toBe(2);
    expect(sample(after, 'sse_users')).toBe(1);
    expect(sample(after, 'sse_disconnects_total', { reason: 'client' })).toBe(1);
  });

  it('answers GET /health 200 with the in-memory broker', async () => {
    const demo = await DemoServer.start({});
    demos.push(demo);
    const answer = await demo.request('GET', '/health');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      status: 'ok',
      info: { sse: { status: 'up', broker: 'up', connections: 0, users: 0 } },
    });
  });
});

const redisServer = redisServerBinaryRequirement();
(redisServer.available ? describe : describe.skip)('GET /health on Redis', () => {
  it('answers 503 while its Redis is unreachable, 200 while it answers', async () => {
    const redis = await OwnRedis.start();
    try {
      const demo = await DemoServer.start({ redisUrl: redis.url });
      demos.push(demo);
      const up = await demo.request('GET', '/health');
      expect(up.status).toBe(200);
      expect(up.body).toMatchObject({ status: 'ok', info: { sse: { broker: 'up' } } });

      redis.freeze();
      await eventually(
        async () => (await demo.request('GET', '/health')).status === 503,
        'a frozen Redis makes /health answer 503',
      );
      redis.thaw();
      await eventually(
        async () => (await demo.request('GET', '/health')).status === 200,
        'a thawed Redis makes /health answer 200',
      );

      await redis.stop();
      await eventually(
        async () => (await demo.request('GET', '/health')).status === 503,
        'a stopped Redis makes /health answer 503',
      );
      const down = await demo.request('GET', '/health');
      expect(down.body).toMatchObject({
        status: 'error',
        error: { sse: { status: 'down', broker: 'down' } },
      });
    } finally {
      await redis.stop();
    }
  });
});

const natsServer = natsServerBinaryRequirement();
(natsServer.available ? describe : describe.skip)('GET /health on NATS', () => {
  it('answers 200 while its NATS answers, 503 once it is stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sse-health-nats-'));
    const server = new OwnNatsServer(await freePort(), dir);
    try {
      await server.start();
      const demo = await DemoServer.start({ natsUrl: server.url });
      demos.push(demo);
      await eventually(
        async () => (await demo.request('GET', '/health')).status === 200,
        'a running NATS makes /health answer 200',
      );
      await server.stop();
      await eventually(
        async () => (await demo.request('GET', '/health')).status === 503,
        'a stopped NATS makes /health answer 503',
      );
      expect((await demo.request('GET', '/health')).body).toMatchObject({
        status: 'error',
        error: { sse: { status: 'down', broker: 'down' } },
      });
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
