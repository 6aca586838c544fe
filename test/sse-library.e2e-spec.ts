import { afterEach, describe, expect, it } from 'vitest';
import { SSE_CLOSE_EVENT, type SseConnectionEvent } from 'nestjs-sse-hub';
import { MATRIX, startApp, StreamSession, type TestApp } from './support/app.js';
import { RawSseClient, type ParsedEvent } from './support/sse-client.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const events = (client: RawSseClient): ParsedEvent[] => client.messages;

describe.each(MATRIX)(
  'the ready route on $platform, $transport transport',
  ({ platform, transport }) => {
    const session = new StreamSession();
    let test: TestApp | undefined;

    async function start(options = {}): Promise<TestApp> {
      test = await session.start(platform, { transport, ...options });
      return test;
    }

    const connect = (user: string, headers: Record<string, string> = {}) =>
      session.connect(user, headers);

    afterEach(() => session.close());

    it('answers 401 without a user', async () => {
      await start();
      const client = await RawSseClient.open(`${test!.url}/sse`);
      expect(client.status).toBe(401);
      expect(test!.sse.stats().connections).toBe(0);
    });

    it('sends the SSE headers and, at once, a first event with an id, retry and empty data', async () => {
      await start({ retry: 2500 });
      const client = await connect('alice');
      const headers = client.response.headers;
      expect(headers['content-type']).toMatch(/^text\/event-stream/);
      expect(headers['cache-control']).toContain('no-cache');
      expect(headers['cache-control']).toContain('no-transform');
      expect(headers['x-accel-buffering']).toBe('no');
      const [first] = events(client);
      expect(first.id).toMatch(UUID_V7);
      expect(first.retry).toBe(2500);
      expect(first.data).toBe('');
      expect(first.event).toBeUndefined();
    });

    it('delivers strings as they are, multi-line strings intact, and JSON, with ids and names', async () => {
      await start();
      const client = await connect('alice');
      const sent = [
        await test!.sse.send('alice', 'plain'),
        await test!.sse.send('alice', 'line one\nline two\n\nline four'),
        await test!.sse.send('alice', { text: 'é€😀', n: [1, 2] }, { event: 'chat' }),
        await test!.sse.send('alice', 'mine', { id: 'custom-1' }),
      ];
      await client.waitForEvents(5);
      const received = events(client).slice(1);
      expect(received.map((e) => e.data)).toEqual([
        'plain',
        'line one\nline two\n\nline four',
        JSON.stringify({ text: 'é€😀', n: [1, 2] }),
        'mine',
      ]);
      expect(received.map((e) => e.id)).toEqual(sent.map((s) => s.id));
      expect(received[2].event).toBe('chat');
      expect(sent[0].id).toMatch(UUID_V7);
      expect(sent[3].id).toBe('custom-1');
      expect(sent.every((s) => s.delivered === 1 && s.stored)).toBe(true);
    });

    it('reaches every tab of a user, in order', async () => {
      await start();
      const tabs = [await connect('alice'), await connect('alice'), await connect('alice')];
      for (let i = 0; i < 20; i++) {
        await expect(test!.sse.send('alice', i)).resolves.toMatchObject({ delivered: 3 });
      }
      for (const tab of tabs) {
        await tab.waitForEvents(21);
        expect(
          events(tab)
            .slice(1)
            .map((e) => Number(e.data)),
        ).toEqual([...Array(20).keys()]);
      }
    });

    it('closes the oldest tab with sse:close past maxConnectionsPerUser', async () => {
      await start({ maxConnectionsPerUser: 2 });
      const reasons: SseConnectionEvent[] = [];
      test!.sse.events$.subscribe((e) => reasons.push(e));
      const oldest = await connect('alice');
      const second = await connect('alice');
      const newest = await connect('alice');
      await oldest.waitForEnd();
      expect(events(oldest).at(-1)).toMatchObject({
        event: SSE_CLOSE_EVENT,
        data: JSON.stringify({ reason: 'replaced' }),
        id: events(oldest)[0].id,
      });
      expect(second.ended || newest.ended).toBe(false);
      await expect(test!.sse.send('alice', 'x')).resolves.toMatchObject({ delivered: 2 });
      expect(reasons.find((e) => e.type === 'disconnect')).toMatchObject({ reason: 'replaced' });
    });

    it('disconnect ends every tab of the user with sse:close', async () => {
      await start();
      const tabs = [await connect('alice'), await connect('alice')];
      const bob = await connect('bob');
      await expect(test!.sse.disconnect('alice')).resolves.toBe(true);
      for (const tab of tabs) {
        await tab.waitForEnd();
        expect(events(tab).at(-1)).toMatchObject({
          event: SSE_CLOSE_EVENT,
          data: JSON.stringify({ reason: 'disconnected' }),
        });
      }
      expect(bob.ended).toBe(false);
      await expect(test!.sse.onlineUsers()).resolves.toEqual(['bob']);
    });

    it('refuses bad input in send and keeps streaming', async () => {
      await start({ maxMessageBytes: 1024 });
      const client = await connect('alice');
      const refusals = [
        test!.sse.send('alice', 'x', { id: 'a\nb' }),
        test!.sse.send('alice', 'x', { id: 'a\rb' }),
        test!.sse.send('alice', 'x', { event: 'a\nb' }),
        test!.sse.send('alice', 'x', { event: 'sse:close' }),
        test!.sse.send('alice', 'x'.repeat(1025)),
        test!.sse.send('alice', undefined),
        test!.sse.send('alice', 1n),
      ];
      for (const refusal of refusals) await expect(refusal).rejects.toThrow(/Potential solutions/);
      await test!.sse.send('alice', 'still here');
      await client.waitForEvents(2);
      expect(events(client).map((e) => e.data)).toEqual(['', 'still here']);
    });

    it('keeps users apart: ten users, random sends, each gets only its own, in order', async () => {
      await start();
      const users = Array.from({ length: 10 }, (_, i) => `user-${i}`);
      const clients = new Map<string, RawSseClient>();
      for (const user of users) clients.set(user, await connect(user));
      const expected = new Map(users.map((user) => [user, [] as string[]]));
      let seed = 42;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (let i = 0; i < 300; i++) {
        const user = users[Math.floor(random() * users.length)];
        const payload = `${user}#${i}`;
        expected.get(user)!.push(payload);
        await test!.sse.send(user, payload);
      }
      for (const user of users) {
        const client = clients.get(user)!;
        const want = expected.get(user)!;
        await client.waitForEvents(want.length + 1);
        expect(
          events(client)
            .slice(1)
            .map((e) => e.data),
        ).toEqual(want);
      }
    });

    it('broadcasts to everyone', async () => {
      await start();
      const all = [await connect('a'), await connect('b'), await connect('b')];
      const result = await test!.sse.broadcast({ news: 1 }, { event: 'news' });
      expect(result.delivered).toBe(3);
      for (const client of all) {
        await client.waitForEvents(2);
        expect(events(client)[1]).toMatchObject({
          id: result.id,
          event: 'news',
          data: '{"news":1}',
        });
      }
    });

    it('sends heartbeat comments on an idle connection', async () => {
      await start({ heartbeat: 50 });
      const client = await connect('alice');
      await client.waitFor((c) => c.events.some((e) => e.comments.length > 0), 5000, 'a heartbeat');
      const heartbeat = client.events.find((e) => e.comments.length > 0)!;
      expect(heartbeat.id).toBeUndefined();
      expect(heartbeat.data).toBeUndefined();
    });

    it('ends the stream cleanly at the timeout', async () => {
      await start({ timeout: 200, heartbeat: 0 });
      const reasons: string[] = [];
      test!.sse.events$.subscribe((e) => e.type === 'disconnect' && reasons.push(e.reason));
      const client = await connect('alice');
      await client.waitForEnd();
      expect(events(client)).toHaveLength(1);
      expect(client.response.complete).toBe(true);
      expect(reasons).toEqual(['timeout']);
    });

    it('cleans up: after clients leave, nothing of them stays', async () => {
      await start({ heartbeat: 1000, timeout: 60_000 });
      const left: Promise<void>[] = [];
      const closed = new Promise<void>((resolve) => {
        let n = 0;
        test!.sse.events$.subscribe((e) => {
          if (e.type === 'disconnect' && ++n === 12) resolve();
        });
      });
      for (let i = 0; i < 12; i++) await connect(`user-${i % 4}`);
      expect(test!.sse.stats()).toMatchObject({ users: 4, connections: 12 });
      for (const client of session.takeClients()) {
        client.close();
        left.push(client.waitForEnd());
      }
      await Promise.all(left);
      await closed;
      expect(test!.sse.stats()).toMatchObject({ users: 0, connections: 0 });
      expect(test!.hub.resourceCounts()).toEqual({
        channels: 0,
        connections: 0,
        deadlines: 0,
        timers: 0,
      });
      await expect(test!.sse.onlineUsers()).resolves.toEqual([]);
    });
  },
);

describe('open handles', () => {
  it('leaves no socket, server or timer behind once the app is closed', async () => {
    const count = () =>
      process
        .getActiveResourcesInfo()
        .filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout').length;
    const before = count();
    for (const { platform, transport } of MATRIX) {
      const test = await startApp(platform, { transport, heartbeat: 100 });
      const clients = await Promise.all(
        ['a', 'b', 'a'].map((user) => RawSseClient.open(`${test.url}/sse`, { 'x-user': user })),
      );
      await Promise.all(clients.map((c) => c.waitForEvents(1)));
      await test.sse.send('a', 'x');
      await test.close();
      await Promise.all(clients.map((c) => c.waitForEnd()));
    }
    // Sockets are released on the next turns of the loop after they close.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(count()).toBeLessThanOrEqual(before);
  });
});
