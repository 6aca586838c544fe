import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { MATRIX, startApp } from './support/app.js';
import { RawSseClient } from './support/sse-client.js';

const CYCLES = 3000;
const AT_ONCE = 50;

describe.each(MATRIX)('churn on $platform, $transport transport', ({ platform, transport }) => {
  it(`${CYCLES} connect and disconnect cycles leave nothing behind`, async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const test = await startApp(platform, { transport, heartbeat: 5000, timeout: 60_000 });
    let disconnects = 0;
    let allGone: () => void = () => undefined;
    const gone = new Promise<void>((resolve) => (allGone = resolve));
    test.sse.events$.subscribe((e) => {
      if (e.type === 'disconnect' && ++disconnects === CYCLES) allGone();
    });
    try {
      for (let done = 0; done < CYCLES; done += AT_ONCE) {
        const batch = await Promise.all(
          Array.from({ length: AT_ONCE }, (_, i) =>
            RawSseClient.open(`${test.url}/sse`, { 'x-user': `user-${(done + i) % 7}` }),
          ),
        );
        await Promise.all(batch.map((client) => client.waitForEvents(1)));
        // Some messages on the way, so that closing meets live subscriptions.
        await test.sse.send(`user-${done % 7}`, done);
        for (const client of batch) client.close();
        await Promise.all(batch.map((client) => client.waitForEnd()));
      }
      // The server learns of the last clients' departure a moment after they see the end.
      await gone;
      expect(disconnects).toBe(CYCLES);
      expect(test.sse.stats()).toMatchObject({ users: 0, connections: 0 });
      expect(test.hub.resourceCounts()).toEqual({
        channels: 0,
        connections: 0,
        deadlines: 0,
        timers: 0,
      });
      const server = test.app.getHttpServer() as Server;
      expect(server.listenerCount('connection')).toBeLessThan(5);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await test.close();
    }
  }, 120_000);
});
