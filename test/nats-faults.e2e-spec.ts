import { describe } from 'vitest';
import { SseBroker } from 'nestjs-sse-hub';
import { NatsSseBroker } from 'nestjs-sse-hub/nats';
import { freePort } from './support/free-port.js';
import { OwnNatsServer } from './support/nats-server.js';
import { natsServerBinaryRequirement } from './support/requirements.js';
import { describeServerFaults } from './support/sse-faults.test-suite.js';

const binary = natsServerBinaryRequirement();

describe.skipIf(!binary.available)('NATS', () => {
  describeServerFaults('nats', {
    server: async (dir) => new OwnNatsServer(await freePort(), dir),
    broker: (url) =>
      new NatsSseBroker({
        servers: url,
        prefix: 'faults',
        presenceTtlMs: 3000,
        presenceHeartbeatMs: 500,
        requestTimeoutMs: 1000,
      }),
    // Each instance counts the user's open connections, all instances together.
    async settled(userId, apps) {
      const total = apps.reduce((n, app) => n + app.hub.localConnections(userId), 0);
      return apps.every(
        (app) => (app.app.get(SseBroker) as NatsSseBroker).connectionsOf(userId) === total,
      );
    },
    // The client notices a lost connection a moment after the server has gone.
    noticesAtOnce: false,
    exactTimers: true,
  });
});
