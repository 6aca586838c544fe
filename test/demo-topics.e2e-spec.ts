import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoPlatform } from '../apps/demo/src/demo.config.js';
import { DemoServer } from './support/demo-server.js';
import { RawSseClient, receivedData } from './support/sse-client.js';

/**
 * The demo's topic routes (SPEC §7), against the demo listening on a real port, with
 * `fetch` and raw SSE clients: membership reaching streams that are already open, without
 * reconnecting; subscriptions through `GET /sse?topic=`; and every refusal.
 */

const SECRET = 'demo-topics-test-secret';
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The library's defaults, which the demo keeps. */
const MAX_TOPICS_PER_USER = 100;
const MAX_TOPICS_PER_CONNECTION = 20;

const setups: Array<[DemoPlatform, 'direct' | 'observable']> = [
  ['express', 'direct'],
  ['fastify', 'observable'],
];

/** Topic routes, each with a body it would otherwise accept. */
const ROUTES: Array<[string, string, unknown]> = [
  ['POST', '/topics/public:news/join', undefined],
  ['POST', '/topics/public:news/leave', undefined],
  ['GET', '/topics', undefined],
  ['GET', '/topics/public:news/members', undefined],
  ['POST', '/topics/public:news/messages', { data: 'hi' }],
  ['GET', '/sse?topic=public:news', undefined],
];

/** Names the library refuses, as they go in a path segment and in a query. */
const BAD_NAMES: Array<[string, string]> = [
  ['a space', 'bad name'],
  ['a slash', 'a/b'],
  ['129 characters', 't'.repeat(129)],
  ['a non-ASCII letter', 'café'],
];

describe.each(setups)('demo topics on %s with the %s transport', (platform, transport) => {
  let demo: DemoServer;
  const clients: RawSseClient[] = [];
  /** Topic names unique to each test: memberships outlive the streams. */
  let test = 0;
  const topic = (name: string) => `${name}-${platform}-${++test}`;

  beforeAll(async () => {
    demo = await DemoServer.start({ platform, transport, secret: SECRET });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await demo.untilConnections(0);
  });

  afterAll(async () => {
    await demo?.close();
  });

  async function as(userId: string) {
    const { token } = await demo.login(userId);
    const call = (method: string, path: string, json?: unknown) =>
      demo.request(method, path, { token, json });
    return {
      token,
      call,
      join: (name: string) => call('POST', `/topics/${encodeURIComponent(name)}/join`),
      leave: (name: string) => call('POST', `/topics/${encodeURIComponent(name)}/leave`),
      post: (name: string, json: unknown) =>
        call('POST', `/topics/${encodeURIComponent(name)}/messages`, json),
      /** Opens a stream with these subscriptions; resolves after its first event. */
      stream: async (topics: string[] = []) => {
        const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
        const client = await RawSseClient.open(`${demo.url}/sse${query ? `?${query}` : ''}`, {
          authorization: `Bearer ${token}`,
        });
        clients.push(client);
        expect({ status: client.status, body: client.body }).toEqual({ status: 200, body: '' });
        await client.waitForEvents(1);
        return client;
      },
      /** The status of a stream request, closed at once. */
      streamStatus: async (query: string) => {
        const client = await RawSseClient.open(`${demo.url}/sse?${query}`, {
          authorization: `Bearer ${token}`,
        });
        clients.push(client);
        return client.status;
      },
    };
  }

  /** Waits until the client has received `count` events besides its first one. */
  async function receivedCount(client: RawSseClient, count: number): Promise<string[]> {
    await client.waitFor((c) => c.messages.length > count, 5000, `${count} events`);
    return receivedData(client) as string[];
  }

  it.each(ROUTES)('%s %s answers 401 without a sign-in', async (method, path, json) => {
    const answer = await demo.request(method, path, { json });
    expect(answer.status).toBe(401);
    const forged = await demo.request(method, path, { json, token: 'not-a-token' });
    expect(forged.status).toBe(401);
  });

  it('joins, lists, posts to an open stream without reconnecting, and leaves', async () => {
    const team = topic('team');
    const alice = await as('alice');
    const bob = await as('bob');
    // Opened before the join: the membership reaches it as it is.
    const aliceTabs = [await alice.stream(), await alice.stream()];
    const bobStream = await bob.stream();

    expect((await alice.call('GET', '/topics')).body).toEqual({ topics: [] });
    const joined = await alice.join(team);
    expect({ status: joined.status, body: joined.body }).toEqual({
      status: 200,
      body: { joined: true },
    });
    // Joining again is no error.
    expect((await alice.join(team)).body).toEqual({ joined: true });
    expect((await alice.call('GET', '/topics')).body).toEqual({ topics: [team] });
    expect((await bob.call('GET', `/topics/${team}/members`)).body).toEqual({ users: ['alice'] });

    // Bob is not a member: he may not post to a topic that is not public.
    const refused = await bob.post(team, { data: 'let me in' });
    expect(refused.status).toBe(403);
    expect((refused.body as { message: string }).message).toMatch(/join/);

    const first = await alice.post(team, { data: { text: 'hello team' }, event: 'chat' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ id: expect.stringMatching(UUID_V7), delivered: 2 });
    for (const tab of aliceTabs) {
      expect(await receivedCount(tab, 1)).toEqual(['{"text":"hello team"}']);
      expect(tab.messages[1]).toMatchObject({
        id: (first.body as { id: string }).id,
        event: 'chat',
      });
    }

    // Bob joins; his open stream gets the next one, and the caller's own id is kept.
    expect((await bob.join(team)).body).toEqual({ joined: true });
    expect((await bob.call('GET', `/topics/${team}/members`)).body).toEqual({
      users: ['alice', 'bob'],
    });
    const second = await bob.post(team, { data: 'bob here', id: 'team-2' });
    expect(second.body).toEqual({ id: 'team-2', delivered: 3 });
    expect(await receivedCount(bobStream, 1)).toEqual(['bob here']);
    expect(bobStream.messages[1].id).toBe('team-2');
    for (const tab of aliceTabs) expect(await receivedCount(tab, 2)).toContain('bob here');

    // Alice leaves: her streams get nothing more of the topic, and she may not post.
    expect((await alice.leave(team)).body).toEqual({ left: true });
    expect((await alice.leave(team)).body).toEqual({ left: false });
    expect((await alice.call('GET', '/topics')).body).toEqual({ topics: [] });
    expect((await alice.post(team, { data: 'me again' })).status).toBe(403);
    const third = await bob.post(team, { data: 'only bob' });
    expect(third.body).toMatchObject({ delivered: 1 });
    expect(await receivedCount(bobStream, 2)).toEqual(['bob here', 'only bob']);
    // The next thing Alice's tabs get is a message to her, not the topic's.
    await bob.call('POST', '/messages', { to: 'alice', data: 'direct' });
    for (const tab of aliceTabs) {
      expect(await receivedCount(tab, 3)).toEqual(['{"text":"hello team"}', 'bob here', 'direct']);
    }
    // The same three streams throughout: none was reopened.
    expect(demo.sse.stats().connections).toBe(3);
  });

  it('takes a topic name of 128 characters, encoded or not, on every route', async () => {
    const ivan = await as('ivan');
    const long = `public:${'x'.repeat(121)}`;
    expect(long).toHaveLength(128);
    const encoded = encodeURIComponent(long);
    expect((await ivan.call('POST', `/topics/${long}/join`)).body).toEqual({ joined: true });
    expect((await ivan.call('GET', `/topics/${encoded}/members`)).body).toEqual({
      users: ['ivan'],
    });
    const stream = await ivan.stream([long]);
    const posted = await ivan.post(long, { data: 'long' });
    expect(posted.body).toMatchObject({ delivered: 1 });
    expect(await receivedCount(stream, 1)).toEqual(['long']);
    expect((await ivan.leave(long)).body).toEqual({ left: true });
  });

  it('posts to a public: topic without being a member, and counts delivered 0', async () => {
    const news = topic('public:news');
    const carol = await as('carol');
    const answer = await carol.post(news, { data: 'nobody listens' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ id: expect.stringMatching(UUID_V7), delivered: 0 });
    expect((await carol.call('GET', `/topics/${news}/members`)).body).toEqual({ users: [] });
  });

  it('streams ?topic=public:x to anyone, ?topic=private only to its members', async () => {
    const news = topic('public:news');
    const secret = topic('private');
    const dave = await as('dave');
    const erin = await as('erin');

    const subscribed = await dave.stream([news]);
    const posted = await erin.post(news, { data: 'extra!' });
    expect(posted.body).toMatchObject({ delivered: 1 });
    expect(await receivedCount(subscribed, 1)).toEqual(['extra!']);

    // Not a member: refused, and no stream opened.
    expect(await dave.streamStatus(`topic=${secret}`)).toBe(403);
    expect(await dave.streamStatus(`topic=${news}&topic=${secret}`)).toBe(403);
    expect(demo.sse.stats().connections).toBe(1);
    // A member may.
    await erin.join(secret);
    const member = await erin.stream([secret, news]);
    // Member and subscribed: the stream counts once and gets the event once.
    const both = await erin.post(secret, { data: 'for members' });
    expect(both.body).toMatchObject({ delivered: 1 });
    const all = await erin.post(news, { data: 'for all' });
    expect(all.body).toMatchObject({ delivered: 2 });
    expect(await receivedCount(member, 2)).toEqual(['for members', 'for all']);
    expect(await receivedCount(subscribed, 2)).toEqual(['extra!', 'for all']);
  });

  it.each(BAD_NAMES)('answers 400 for a topic name with %s, on every route', async (_, name) => {
    const frank = await as('frank');
    const path = `/topics/${encodeURIComponent(name)}`;
    for (const [method, route, json] of [
      ['POST', `${path}/join`, undefined],
      ['POST', `${path}/leave`, undefined],
      ['GET', `${path}/members`, undefined],
      ['POST', `${path}/messages`, { data: 'hi' }],
    ] as const) {
      const answer = await frank.call(method, route, json);
      expect({ route, status: answer.status }).toEqual({ route, status: 400 });
      expect((answer.body as { message: string }).message).toMatch(/topic/i);
    }
    expect(await frank.streamStatus(`topic=${encodeURIComponent(name)}`)).toBe(400);
    expect((await frank.call('GET', '/topics')).body).toEqual({ topics: [] });
  });

  it('answers 400 for a public: topic with a bad name too, and for a body without data', async () => {
    const grace = await as('grace');
    expect((await grace.post('public:bad name', { data: 'x' })).status).toBe(400);
    expect((await grace.post(topic('public:ok'), {})).status).toBe(400);
    expect((await grace.post(topic('public:ok'), { data: 1, event: 'sse:close' })).status).toBe(
      400,
    );
  });

  it('answers 400 past maxTopicsPerUser and past maxTopicsPerConnection', async () => {
    const heidi = await as('heidi');
    const names = Array.from({ length: MAX_TOPICS_PER_USER }, (_, i) => topic(`many-${i}`));
    for (const name of names) expect((await heidi.join(name)).status).toBe(200);
    const over = await heidi.join(topic('one-too-many'));
    expect(over.status).toBe(400);
    expect((over.body as { message: string }).message).toMatch(/maxTopicsPerUser/);
    expect(((await heidi.call('GET', '/topics')).body as { topics: string[] }).topics).toHaveLength(
      MAX_TOPICS_PER_USER,
    );

    const query = (count: number) =>
      Array.from({ length: count }, (_, i) => `topic=public:c${i}`).join('&');
    expect(await heidi.streamStatus(query(MAX_TOPICS_PER_CONNECTION + 1))).toBe(400);
    const atLimit = await heidi.stream(
      Array.from({ length: MAX_TOPICS_PER_CONNECTION }, (_, i) => `public:c${i}`),
    );
    expect(atLimit.status).toBe(200);
    for (const name of names) await heidi.leave(name);
  });
});
