import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT, type SseBroker } from 'nestjs-sse-hub';
import { openStream, startApp, type TestApp } from './app.js';
import { eventually } from './eventually.js';
import { RawSseClient, received, receivedData } from './sse-client.js';

/** A server of the test's own that keeps its data across a stop and a start. */
export interface SseFaultsServer {
  /** Where the brokers reach it, started or not. */
  readonly url: string;
  /** Starts it (again) and resolves once it takes connections. */
  start(): Promise<void>;
  /** Stops it, its data kept, and resolves once it is gone. */
  stop(): Promise<void>;
}

/** A broker whose server a test may stop and start under running instances. */
export interface SseFaultsTarget {
  /** A new server, not started, on a free port, keeping its data in `dir`. */
  server(dir: string): Promise<SseFaultsServer>;
  /** A broker on the server at `url`, quick to notice a fault. */
  broker(url: string): SseBroker;
  /**
   * Whether every instance in `apps` counts the user's connections as `apps` hold them:
   * what `delivered` and presence are asserted against.
   */
  settled(userId: string, apps: readonly TestApp[]): Promise<boolean>;
  /**
   * Whether an instance knows its server is gone the moment the server has stopped (its
   * next call fails), else the test waits until it has noticed.
   */
  noticesAtOnce: boolean;
  /**
   * Whether the process must hold exactly the timers it held before an instance came and
   * went, else no more of them (a timer of the test runner's own may expire meanwhile).
   */
  exactTimers: boolean;
}

/** What a case of one broker's own gets from the suite: a server and instances it clears up. */
export interface SseFaultsFixture {
  /** A new server of the target's, not started, stopped after the case. */
  serve(): Promise<SseFaultsServer>;
  /** An application on a broker of the target's on `url`, closed after the case. */
  instance(url: string): Promise<TestApp>;
  /** A raw SSE stream of the user's, closed after the case. */
  connect(app: TestApp, userId: string, lastEventId?: string): Promise<RawSseClient>;
}

/** Sockets and timers of the process, by kind: what an instance must give back on close. */
function handles(): { sockets: number; timers: number } {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return { sockets: counts.TCPSocketWrap ?? 0, timers: counts.Timeout ?? 0 };
}

/**
 * What a broker keeps when its server goes away and comes back, against real applications
 * and raw SSE clients: an instance starts without its server and joins once it is up, one
 * cut off delivers locally and says so (`stored: false`), its streams end once it is back
 * so their clients replay what they missed (told of a loss by `sse:gap`), and closing gives
 * back every socket and timer. `RedisSseBroker` and `NatsSseBroker` both run it; `beyond`
 * adds the cases of one broker's own, on the same fixture.
 */
export function describeServerFaults(
  name: string,
  target: SseFaultsTarget,
  beyond?: (fixture: SseFaultsFixture) => void,
): void {
  describe(`the broker when ${name} fails`, () => {
    const apps: TestApp[] = [];
    const clients: RawSseClient[] = [];
    let dir = '';
    /** The case's server, stopped after it. */
    let current: SseFaultsServer | undefined;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'sse-faults-'));
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await Promise.all(apps.splice(0).map((app) => app.close()));
      await current?.stop();
      current = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    async function serve(): Promise<SseFaultsServer> {
      current = await target.server(dir);
      return current;
    }

    async function instance(url: string): Promise<TestApp> {
      const app = await startApp('express', { broker: target.broker(url), heartbeat: 0 });
      apps.push(app);
      return app;
    }

    async function connect(app: TestApp, userId: string, lastEventId?: string) {
      const client = await openStream(app, userId, lastEventId);
      clients.push(client);
      return client;
    }

    const settled =
      (...userIds: string[]) =>
      async () => {
        for (const userId of userIds) if (!(await target.settled(userId, apps))) return false;
        return true;
      };

    it(`starts without ${name}, serves its own connections, and joins the cluster once ${name} is up`, async () => {
      const server = await serve();
      const a = await instance(server.url);
      const alice = await connect(a, 'alice');

      const local = await a.sse.send('alice', `without ${name}`);
      expect(local).toMatchObject({ delivered: 1, stored: false });
      await alice.waitFor((c) => receivedData(c).length >= 1);
      expect(receivedData(alice)).toEqual([`without ${name}`]);
      expect(await a.sse.isOnline('alice')).toBe(true);
      expect(await a.sse.isOnline('bob')).toBe(false);
      expect(await a.sse.onlineUsers()).toEqual(['alice']);
      const resumed = await connect(a, 'alice', uuidv7());
      await resumed.waitFor((c) => received(c).length >= 1);
      expect(received(resumed)[0].event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(received(resumed)[0].data!).reason).toBe('unavailable');
      resumed.close();

      await server.start();
      // Once subscribed, the instance ends its streams with a short retry: their clients
      // reconnect and replay what other instances sent while it was cut off.
      await alice.waitForEnd(20_000);
      expect(alice.events.at(-1)!.id).toBe(local.id);
      expect(alice.events.at(-1)!.data).toBeUndefined();
      expect(alice.events.at(-1)!.retry).toBeGreaterThanOrEqual(1000);
      const aliceBack = await connect(a, 'alice', local.id);
      // The first message was never stored: the history cannot vouch for what followed it.
      await aliceBack.waitFor((c) => received(c).length >= 1);
      expect(received(aliceBack)[0].event).toBe(SSE_GAP_EVENT);
      const b = await instance(server.url);
      await eventually(settled('alice'), 'the first instance has joined');
      const across = await b.sse.send('alice', `through ${name}`);
      expect(across).toMatchObject({ delivered: 1, stored: true });
      await aliceBack.waitFor((c) => receivedData(c).includes(`through ${name}`));
      expect(receivedData(alice)).toEqual([`without ${name}`]);
      expect(receivedData(aliceBack)).toEqual([`through ${name}`]);
    });

    it(`delivers locally while ${name} is away, says so, and tells resuming clients what was lost`, async () => {
      const server = await serve();
      await server.start();
      const [a, b] = [await instance(server.url), await instance(server.url)];
      const alice = await connect(a, 'alice');
      const bob = await connect(b, 'bob');
      // `delivered` counts what presence says: an instance that took longer than its
      // timeout to reach the server at start writes its presence once it has.
      await eventually(settled('alice', 'bob'), 'presence');
      const before = await a.sse.send('bob', 'before');
      expect(before).toMatchObject({ delivered: 1, stored: true });
      await bob.waitFor((c) => receivedData(c).length >= 1);

      await server.stop();
      if (!target.noticesAtOnce) {
        await eventually(async () => !(await a.sse.isOnline('bob')), `a knows ${name} is away`);
      }
      const whileDown = await a.sse.send('alice', 'while down');
      expect(whileDown).toMatchObject({ delivered: 1, stored: false });
      const missed = await a.sse.send('bob', 'missed');
      expect(missed).toMatchObject({ delivered: 0, stored: false });
      const everyone = await a.sse.broadcast('local broadcast');
      expect(everyone).toMatchObject({ delivered: 1, stored: false });
      await alice.waitFor((c) => receivedData(c).length >= 2);
      expect(receivedData(alice)).toEqual(['while down', 'local broadcast']);
      expect(await a.sse.isOnline('alice')).toBe(true);
      expect(await a.sse.isOnline('bob')).toBe(false);
      expect(await a.sse.onlineUsers()).toEqual(['alice']);
      expect(await a.sse.disconnect('bob')).toBe(false);

      await server.start();
      // Back on the server, each instance ends its streams with a short retry, keeping each
      // client's resume point: they reconnect and replay what they missed.
      await Promise.all([alice.waitForEnd(20_000), bob.waitForEnd(20_000)]);
      expect(bob.events.at(-1)!.id).toBe(before.id);
      expect(alice.events.at(-1)!.id).toBe(everyone.id);
      expect(bob.events.at(-1)!.data).toBeUndefined();
      expect(bob.events.at(-1)!.retry).toBeGreaterThanOrEqual(1000);

      // Bob's client comes back from the last event it saw: it is told that some are lost.
      const back = await connect(a, 'bob', before.id);
      await eventually(settled('bob'), 'bob is back');
      const after = await b.sse.send('bob', 'after');
      expect(after).toMatchObject({ delivered: 1, stored: true });
      await back.waitFor((c) => received(c).length >= 2);
      expect(received(back)[0].event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(received(back)[0].data!).reason).toBe('expired');
      expect(received(back)[1].id).toBe(after.id);
      // Alice saw everything sent to her: nothing to report from her last event.
      const aliceBack = await connect(b, 'alice', everyone.id);
      const next = await a.sse.send('alice', 'next');
      await aliceBack.waitFor((c) => received(c).length >= 1);
      expect(received(aliceBack).map((e) => e.id)).toEqual([next.id]);
    });

    it(`gives back every socket and timer on close, even while ${name} is away`, async () => {
      const away = await target.server(dir);
      const before = handles();
      const a = await instance(away.url);
      await connect(a, 'alice');
      await a.sse.send('alice', 'local');
      for (const client of clients.splice(0)) client.close();
      await apps.splice(0)[0].close();
      await new Promise((resolve) => setImmediate(resolve));
      const after = handles();
      expect(after.sockets).toBe(before.sockets);
      // None may be added; unless the target holds them exact, a timer of the test runner's
      // own may expire meanwhile.
      expect(after.timers).toBeLessThanOrEqual(before.timers);
      expect(after.timers).toBeGreaterThanOrEqual(target.exactTimers ? before.timers : 0);
    });

    beyond?.({ serve, instance, connect });
  });
}
