import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect as connectNats } from '@nats-io/transport-node';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe } from 'vitest';
import { SseBroker } from 'nestjs-sse-hub';
import { NatsSseBroker } from 'nestjs-sse-hub/nats';
import { eventually } from './support/eventually.js';
import { natsRequirement, TEST_NATS_URL } from './support/requirements.js';
import {
  describeInstancesBehindRelays,
  describeSeveralInstances,
  type SseRelayedTarget,
} from './support/sse-instances.test-suite.js';

const nats = await natsRequirement();
const server = new URL(TEST_NATS_URL.includes('://') ? TEST_NATS_URL : `nats://${TEST_NATS_URL}`);
// Prefixes used here, their streams and buckets deleted at the end.
const prefixes: string[] = [];

describe.skipIf(!nats.available)('NATS', () => {
  let admin: NatsConnection;

  beforeAll(async () => {
    admin = await connectNats({ servers: TEST_NATS_URL });
  });

  afterAll(async () => {
    const jsm = await jetstreamManager(admin);
    for (const used of prefixes) {
      for (const name of [`${used}-history`, `KV_${used}-presence`, `KV_${used}-topics`]) {
        await jsm.streams.delete(name).catch(() => false);
      }
    }
    await admin.close();
  });

  const target: SseRelayedTarget = {
    server: { host: server.hostname, port: Number(server.port || 4222) },
    leavesAtOnce: false,
    group() {
      const prefix = `ssecluster-${uuidv7()}`;
      prefixes.push(prefix);
      return {
        broker: ({ via, presence } = {}) =>
          new NatsSseBroker({
            servers: via ?? TEST_NATS_URL,
            prefix,
            storage: 'memory',
            ...presence,
          }),
        // Each instance counts a connection once it has read it from the bucket.
        async settled(userId, apps) {
          const total = apps.reduce((n, app) => n + app.hub.localConnections(userId), 0);
          const counts = () =>
            apps.map((app) => (app.app.get(SseBroker) as NatsSseBroker).connectionsOf(userId));
          await eventually(async () => counts().every((n) => n === total), `${userId}'s presence`);
        },
      };
    },
  };
  describeSeveralInstances('one NATS', target);
  describeInstancesBehindRelays('one NATS', target);
});
