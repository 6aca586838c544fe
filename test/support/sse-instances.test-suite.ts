import { EventSource } from 'eventsource';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SSE_CLOSE_EVENT,
  SSE_GAP_EVENT,
  type SseBroker,
  type SseModuleOptions,
  type SseSendResult,
} from 'nestjs-sse-hub';
import { openStream, startApp, type TestApp } from './app.js';
import { eventually } from './eventually.js';
import { RawSseClient, received, receivedData } from './sse-client.js';
import { TcpRelay } from './tcp-relay.js';

/** How often an instance says it is alive, and how long until it is taken for dead. */
export interface SsePresenceTuning {
  presenceTtlMs: number;
  presenceHeartbeatMs: number;
}

/** One group of instances sharing a broker's state that no other group sees. */
export interface SseInstancesGroup {
  /**
   * A broker of the group. `via`: reach the server through this `host:port` instead of its
   * own address (a relay the test can cut); `presence`: a quicker presence.
   */
  broker(options?: { via?: string; presence?: SsePresenceTuning }): SseBroker;
  /**
   * Resolves once every instance counts the user's connections as `apps` hold them: the
   * counts the tests assert.
   */
  settled(userId: string, apps: readonly TestApp[]): Promise<void>;
  /** Resolves once the other instances have cleared what a dead instance left. */
  deadCleared?(instanceId: string): Promise<boolean>;
}

/** A broker that spreads one application over several instances. */
export interface SseInstancesTarget {
  /** A new group of instances; called once per test. */
  group(): SseInstancesGroup;
  /**
   * The one server the brokers reach, for a relay to it (an instance that reaches it late,
   * one that is cut off). Absent where a relay cannot stand between an instance and its
   * servers (a Redis Cluster: clients learn every node's own address); the cases that need
   * one are then not part of the suite.
   */
  server?: { host: string; port: number };
  /**
   * Whether an instance that shuts down cleanly is out of presence the moment its
   * `close()` resolves (else once the others hear of it).
   */
  leavesAtOnce: boolean;
}

/** A target whose instances can be put behind a relay to their one server. */
export type SseRelayedTarget = SseInstancesTarget & {
  server: NonNullable<SseInstancesTarget['server']>;
};

/** The instances of one test and their clean-up, for the suites below. */
function useInstances(target: SseInstancesTarget) {
  let group: SseInstancesGroup | undefined;
  const apps: TestApp[] = [];
  const clients: RawSseClient[] = [];
  const relays: TcpRelay[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(relays.splice(0).map((relay) => relay.cut()));
  });

  /** Instances of a new group. */
  async function cluster(count: number, options: SseModuleOptions = {}): Promise<TestApp[]> {
    group = target.group();
    const started: TestApp[] = [];
    for (let i = 0; i < count; i++) started.push(await join(group.broker(), options));
    return started;
  }

  /** One more instance of the current group. */
  async function join(broker: SseBroker, options: SseModuleOptions = {}): Promise<TestApp> {
    const app = await startApp('express', { broker, heartbeat: 0, ...options });
    apps.push(app);
    return app;
  }

  async function connect(app: TestApp, userId: string, lastEventId?: string) {
    const client = await openStream(app, userId, lastEventId);
    clients.push(client);
    await current().settled(userId, apps);
    return client;
  }

  async function drop(app: TestApp, client: RawSseClient, userId: string): Promise<void> {
    const gone = firstValueFrom(
      app.sse.events$.pipe(filter((e) => e.type === 'disconnect' && e.userId === userId)),
    );
    client.close();
    await gone;
    await current().settled(userId, apps);
  }

  const ids = (client: RawSseClient) => received(client).map((event) => event.id);

  /** The group of the test's instances. */
  function current(): SseInstancesGroup {
    if (group === undefined) throw new Error('no instances started yet: call cluster() first');
    return group;
  }

  return { apps, clients, relays, cluster, join, connect, drop, ids, current };
}

/**
 * What several instances on one broker keep, against real applications and real SSE
 * clients (raw HTTP and the `eventsource` package): a message sent on any instance reaches
 * every tab of its user on every instance once and in order, a client resuming on another
 * instance replays exactly what it missed (or gets `sse:gap`), and presence and
 * `disconnect` are the whole cluster's. `RedisSseBroker` and `NatsSseBroker` both run it.
 */
export function describeSeveralInstances(name: string, target: SseInstancesTarget): void {
  describe(`several instances on ${name}`, () => {
    const { apps, cluster, connect, drop, ids, current } = useInstances(target);

    it('delivers a message sent on one instance to every tab on every instance, once, in order', async () => {
      const [a, b, c] = await cluster(3);
      const tabs = [
        await connect(a, 'alice'),
        await connect(b, 'alice'),
        await connect(b, 'alice'),
        await connect(c, 'alice'),
      ];
      const bob = await connect(c, 'bob');
      const sent: SseSendResult[] = [];
      for (let i = 0; i < 10; i++) sent.push(await a.sse.send('alice', `m${i}`));
      const last = await c.sse.send('alice', 'last');
      expect(sent.map((s) => s.delivered)).toEqual(Array(10).fill(4));
      expect(sent.every((s) => s.stored)).toBe(true);
      for (const tab of tabs) {
        await tab.waitFor((t) => ids(t).includes(last.id));
        expect(ids(tab)).toEqual([...sent.map((s) => s.id), last.id]);
      }
      const forBob = await b.sse.send('bob', 'bob');
      expect(forBob.delivered).toBe(1);
      await bob.waitFor((t) => received(t).length >= 1);
      expect(ids(bob)).toEqual([forBob.id]);
    });

    it('broadcasts from one instance to every connection of every instance', async () => {
      const [a, b, c] = await cluster(3);
      const everyone = [
        await connect(a, 'alice'),
        await connect(b, 'bob'),
        await connect(b, 'bob'),
        await connect(c, 'carol'),
      ];
      const news = await b.sse.broadcast({ headline: 'hello' }, { event: 'news' });
      expect(news).toMatchObject({ delivered: 4, stored: true });
      const some = await c.sse.sendToUsers(['alice', 'bob', 'zed'], 'to some');
      expect(some.delivered).toBe(3);
      for (const client of everyone) {
        await client.waitFor((t) => received(t).length >= 1);
        expect(received(client)[0]).toMatchObject({ id: news.id, event: 'news' });
      }
      for (const client of everyone.slice(0, 3)) {
        await client.waitFor((t) => received(t).length >= 2);
        expect(ids(client)).toEqual([news.id, some.id]);
      }
    });

    it('sends one event to a long list of users, parts of it in order with what follows', async () => {
      const [a, b] = await cluster(2);
      const alice = await connect(b, 'alice');
      const zed = await connect(a, 'zed');
      const many = [...Array.from({ length: 1200 }, (_, i) => `user-${i}`), 'zed', 'alice'];
      const [first, next] = await Promise.all([
        a.sse.sendToUsers(many, 'to many'),
        a.sse.send('alice', 'right after'),
      ]);
      expect(first).toMatchObject({ delivered: 2, stored: true });
      for (const client of [alice, zed]) {
        await client.waitFor((t) => ids(t).includes(first.id));
      }
      await alice.waitFor((t) => ids(t).includes(next.id));
      expect(ids(alice)).toEqual([first.id, next.id]);
      expect(ids(zed)).toEqual([first.id]);
    });

    it('replays on another instance exactly what was missed on the first', async () => {
      const [a, b, c] = await cluster(3);
      const first = await connect(a, 'alice');
      const from = first.events[0].id!;
      await drop(a, first, 'alice');
      const missed = [
        await c.sse.send('alice', 'one'),
        await b.sse.broadcast('news'),
        await a.sse.send('alice', 'two', { id: 'custom-2' }),
        await c.sse.send('bob', 'not for alice'),
      ];
      expect(missed[0].delivered).toBe(0);
      const back = await connect(b, 'alice', from);
      expect(back.events[0].id).toBe(from);
      await back.waitFor((t) => received(t).length >= 3);
      const live = await c.sse.send('alice', 'live');
      await back.waitFor((t) => ids(t).includes(live.id));
      expect(ids(back)).toEqual([missed[0].id, missed[1].id, 'custom-2', live.id]);
      expect(received(back).some((e) => e.event === SSE_GAP_EVENT)).toBe(false);

      // From a message id, on a third instance.
      const again = await connect(c, 'alice', 'custom-2');
      await again.waitFor((t) => received(t).length >= 1);
      expect(ids(again)).toEqual([live.id]);
    });

    it('an EventSource that moves to another instance replays what it missed, once each', async () => {
      const [a, b] = await cluster(2);
      const got: Array<{ id: string; data: string }> = [];
      const open = (app: TestApp, lastEventId?: string): EventSource =>
        new EventSource(`${app.url}/sse`, {
          fetch: (input, init) =>
            fetch(input, {
              ...init,
              headers: {
                ...init?.headers,
                'x-user': 'alice',
                ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
              },
            }),
        });
      const record = (e: MessageEvent): void => {
        if (e.data !== '') got.push({ id: e.lastEventId, data: e.data });
      };
      const first = open(a);
      first.addEventListener('message', record);
      await eventually(async () => a.hub.localConnections('alice') === 1, 'alice is on a');
      await current().settled('alice', apps);
      const before = await b.sse.send('alice', 'before');
      await eventually(async () => got.length === 1, 'the first message');
      const gone = firstValueFrom(a.sse.events$.pipe(filter((e) => e.type === 'disconnect')));
      first.close();
      await gone;
      const missed = [await a.sse.send('alice', 'missed 1'), await b.sse.send('alice', 'missed 2')];
      const second = open(b, before.id);
      second.addEventListener('message', record);
      await eventually(async () => got.length === 3, 'the replay');
      const live = await a.sse.send('alice', 'live');
      await eventually(async () => got.length === 4, 'the live message');
      second.close();
      expect(got).toEqual([
        { id: before.id, data: 'before' },
        { id: missed[0].id, data: 'missed 1' },
        { id: missed[1].id, data: 'missed 2' },
        { id: live.id, data: 'live' },
      ]);
      await eventually(async () => b.hub.localConnections('alice') === 0, 'alice has left');
    });

    it('loses and repeats nothing when a client resumes on one instance while another sends', async () => {
      const [a, b] = await cluster(2, { history: { size: 1000 } });
      const first = await connect(a, 'alice');
      const from = first.events[0].id!;
      await drop(a, first, 'alice');
      const sent: string[] = [];
      let resumed: Promise<RawSseClient> | undefined;
      for (let batch = 0; batch < 8; batch++) {
        if (batch === 2) resumed = connect(b, 'alice', from);
        const results = await Promise.all(
          Array.from({ length: 25 }, (_, i) => a.sse.send('alice', `b${batch}m${i}`)),
        );
        sent.push(...results.map((r) => r.id));
      }
      const back = await resumed!;
      // Anything doubled would arrive before this last one.
      const last = await a.sse.send('alice', 'last');
      await back.waitFor((t) => ids(t).includes(last.id));
      expect(ids(back)).toEqual([...sent, last.id]);
    });

    it('sends sse:gap on another instance when more was missed than is kept', async () => {
      const [a, b] = await cluster(2, { history: { size: 2 } });
      const first = await connect(a, 'alice');
      const from = first.events[0].id!;
      await drop(a, first, 'alice');
      const sent: SseSendResult[] = [];
      for (let i = 0; i < 4; i++) sent.push(await a.sse.send('alice', `m${i}`));
      const back = await connect(b, 'alice', from);
      await back.waitFor((t) => received(t).length >= 3);
      const [gap, ...events] = received(back);
      expect(gap.event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(gap.data!).reason).toBe('expired');
      expect(events.map((e) => e.id)).toEqual([sent[2].id, sent[3].id]);
    });

    it('answers presence for the whole cluster, and disconnects a user everywhere', async () => {
      const [a, b, c] = await cluster(3);
      const alice = [await connect(b, 'alice'), await connect(c, 'alice')];
      await connect(c, 'carol');
      expect(await a.sse.isOnline('alice')).toBe(true);
      expect(await a.sse.isOnline('nobody')).toBe(false);
      expect((await a.sse.onlineUsers()).sort()).toEqual(['alice', 'carol']);
      expect((await a.sse.send('alice', 'x')).delivered).toBe(2);

      expect(await a.sse.disconnect('alice')).toBe(true);
      for (const tab of alice) {
        await tab.waitForEnd();
        expect(received(tab).at(-1)?.event).toBe(SSE_CLOSE_EVENT);
      }
      await eventually(async () => !(await a.sse.isOnline('alice')), 'alice is offline');
      expect(await a.sse.onlineUsers()).toEqual(['carol']);
      expect(await a.sse.disconnect('alice')).toBe(false);

      // An instance that shuts down cleanly leaves presence: at once where the broker says
      // so, else as soon as the others hear of it.
      await c.close();
      apps.splice(apps.indexOf(c), 1);
      if (!target.leavesAtOnce) {
        await eventually(async () => !(await a.sse.isOnline('carol')), 'carol is offline');
      }
      expect(await a.sse.isOnline('carol')).toBe(false);
      expect(await b.sse.onlineUsers()).toEqual([]);
    });

    it('keeps data intact across instances: strings, lines, JSON, names, odd user ids', async () => {
      const [a, b] = await cluster(2);
      const user = 'team.a:b c*>';
      const client = await connect(b, user);
      await a.sse.send(user, 'line one\nline two\n\nline four', { event: 'multi' });
      await a.sse.send(user, { text: 'é€😀', n: [1, 2] });
      const last = await a.sse.send(user, '');
      await client.waitFor((t) => ids(t).includes(last.id));
      expect(receivedData(client)).toEqual([
        'line one\nline two\n\nline four',
        JSON.stringify({ text: 'é€😀', n: [1, 2] }),
        '',
      ]);
      expect(received(client)[0].event).toBe('multi');
      expect(await a.sse.onlineUsers()).toEqual([user]);
    });
  });
}

/**
 * The cases of `describeSeveralInstances` that put a relay between an instance and the
 * server: an instance that reaches it late, one that is cut off without cleaning up.
 */
export function describeInstancesBehindRelays(name: string, target: SseRelayedTarget): void {
  describe(`instances on ${name} behind a relay`, () => {
    const { clients, relays, cluster, join, connect, ids, current } = useInstances(target);
    const { server } = target;

    it('misses nothing sent on another instance at the instant a user first connects here', async () => {
      // History big enough to hold all that is sent during the window.
      const history = { size: 10_000 };
      const [a] = await cluster(1, { history });
      // b reaches the server 30 ms late, its subscriptions too: a wide window in which a
      // sends to a user whose first connection on b is open but not yet subscribed.
      const slow = await TcpRelay.start(server.host, server.port, 30);
      relays.push(slow);
      const b = await join(current().broker({ via: slow.address }), { history });
      for (let round = 0; round < 4; round++) {
        const userId = `fresh-${round}`;
        const sent: SseSendResult[] = [];
        let sending = true;
        const sender = (async () => {
          while (sending && sent.length < 5000) sent.push(await a.sse.send(userId, sent.length));
        })();
        await eventually(async () => sent.length >= 10, 'sending has started');
        // The user's first connection on b: b subscribes to the user's events meanwhile.
        const client = await openStream(b, userId);
        clients.push(client);
        const firstId = client.events[0].id!;
        const atConnect = sent.length;
        await eventually(async () => sent.length >= atConnect + 50, 'more was sent');
        sending = false;
        await sender;
        const due = sent.filter((message) => message.id > firstId).map((message) => message.id);
        const last = sent.at(-1)!.id;
        await client.waitFor((c) => ids(c).includes(last), 10_000, 'the last message');
        const got = ids(client);
        expect(received(client).some((event) => event.event === SSE_GAP_EVENT)).toBe(false);
        // Everything sent after the first event arrived; in order and once each.
        expect(due.filter((id) => !got.includes(id))).toEqual([]);
        expect(got).toEqual([...new Set(got)].sort());
        client.close();
      }
    });

    it('drops an instance that dies without cleaning up out of presence within presenceTtlMs', async () => {
      const presence = { presenceTtlMs: 1500, presenceHeartbeatMs: 300 };
      const [a] = await cluster(1);
      const relay = await TcpRelay.start(server.host, server.port);
      relays.push(relay);
      const doomed = await join(current().broker({ via: relay.address, presence }));
      const doomedId = doomed.sse.stats().instanceId;
      await connect(doomed, 'bob');
      await connect(a, 'alice');
      expect(await a.sse.isOnline('bob')).toBe(true);
      expect((await a.sse.send('bob', 'hi')).delivered).toBe(1);
      expect((await a.sse.broadcast('all')).delivered).toBe(2);

      await relay.cut();
      await eventually(async () => !(await a.sse.isOnline('bob')), 'bob drops out');
      expect(await a.sse.onlineUsers()).toEqual(['alice']);
      expect((await a.sse.send('bob', 'hi')).delivered).toBe(0);
      expect((await a.sse.broadcast('all')).delivered).toBe(1);
      // The survivors clear what the dead instance left.
      const cleared = current().deadCleared;
      if (cleared !== undefined) {
        await eventually(() => cleared(doomedId), 'the dead instance is cleared');
      }
      // The cut-off instance still serves its own connection.
      expect(await doomed.sse.isOnline('bob')).toBe(true);
      expect((await doomed.sse.send('bob', 'local')).delivered).toBe(1);
    });
  });
}
