import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT, type SseRequestLike } from 'nestjs-sse-hub';
import { MATRIX, StreamSession, type TestAppOptions } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSseClient, received, receivedData } from './support/sse-client.js';

/** What `authorizeTopics` was asked, in order. */
const asked: Array<{ header: unknown; userId: string; topics: readonly string[] }> = [];

/** The demo's rule: `public:` topics for anyone, others for their members. */
async function authorizeTopics(
  request: SseRequestLike,
  userId: string,
  topics: readonly string[],
): Promise<boolean> {
  asked.push({ header: request.headers['x-user'], userId, topics });
  const joined = new Set(await session.app!.sse.topicsOf(userId));
  return topics.every((topic) => topic.startsWith('public:') || joined.has(topic));
}

const session = new StreamSession();

describe.each(MATRIX)('topics on $platform, $transport transport', ({ platform, transport }) => {
  const start = (options: TestAppOptions = {}) =>
    session.start(platform, { transport, heartbeat: 0, authorizeTopics, ...options });

  async function open(user: string, topics: string[], lastEventId?: string) {
    const query = topics.map((topic) => `topic=${encodeURIComponent(topic)}`).join('&');
    const headers: Record<string, string> = { 'x-user': user, accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    return RawSseClient.open(`${session.app!.url}/sse?${query}`, headers);
  }

  async function drop(client: RawSseClient, user: string): Promise<void> {
    const gone = firstValueFrom(
      session.app!.sse.events$.pipe(filter((e) => e.type === 'disconnect' && e.userId === user)),
    );
    client.close();
    await gone;
  }

  /** Every stream gone, nothing of any user or topic left in the hub. */
  async function expectCleanedUp(): Promise<void> {
    for (const client of session.takeClients()) client.close();
    const { hub } = session.app!;
    await eventually(async () => hub.resourceCounts().connections === 0, 'every stream is gone');
    expect(hub.resourceCounts()).toEqual({ channels: 0, connections: 0, deadlines: 0, timers: 0 });
    expect([...hub.localTopics()]).toEqual([]);
  }

  afterEach(async () => {
    asked.length = 0;
    await session.close();
  });

  it('a member’s open streams get the topic’s events from the join on, without reconnecting, and none after leave', async () => {
    const { sse } = await start();
    const tabs = [await session.connect('alice'), await session.connect('alice')];
    const bob = await session.connect('bob');
    expect((await sse.publish('team:1', 'before')).delivered).toBe(0);
    expect(await sse.join('alice', 'team:1')).toBe(true);
    const inside = await sse.publish('team:1', { text: 'hello' }, { event: 'chat' });
    expect(inside.delivered).toBe(2);
    expect(await sse.leave('alice', 'team:1')).toBe(true);
    expect((await sse.publish('team:1', 'after')).delivered).toBe(0);
    const mark = await sse.broadcast('mark');
    for (const tab of tabs) {
      await tab.waitFor((c) => received(c).some((e) => e.id === mark.id));
      expect(received(tab).map((e) => [e.id, e.event, e.data])).toEqual([
        [inside.id, 'chat', '{"text":"hello"}'],
        [mark.id, undefined, 'mark'],
      ]);
    }
    await bob.waitFor((c) => received(c).length >= 1);
    expect(receivedData(bob)).toEqual(['mark']);
    await expectCleanedUp();
  });

  it('subscribes with ?topic= as authorizeTopics allows, and counts a connection in both ways once', async () => {
    const { sse } = await start();
    await sse.join('alice', 'team:1');
    const both = await open('alice', ['team:1', 'public:news']);
    const bob = await open('bob', ['public:news']);
    for (const client of [both, bob]) {
      expect(client.status).toBe(200);
      await client.waitForEvents(1);
    }
    const team = await sse.publish('team:1', 'team');
    const news = await sse.publish('public:news', 'news');
    expect(team.delivered).toBe(1);
    expect(news.delivered).toBe(2);
    // Leaving does not take a subscription away: the stream asked for the topic itself.
    await sse.leave('alice', 'team:1');
    const still = await sse.publish('team:1', 'still subscribed');
    expect(still.delivered).toBe(1);
    await both.waitFor((c) => received(c).some((e) => e.id === still.id));
    expect(receivedData(both)).toEqual(['team', 'news', 'still subscribed']);
    await bob.waitFor((c) => received(c).length >= 1);
    expect(receivedData(bob)).toEqual(['news']);
    both.close();
    bob.close();
    await expectCleanedUp();
  });

  it('answers 403 when authorizeTopics refuses or is absent, 400 for a bad name or too many', async () => {
    const { sse } = await start({ maxTopicsPerConnection: 3 });
    const refused = await open('bob', ['team:1']);
    expect(refused.status).toBe(403);
    await sse.join('bob', 'team:1');
    expect((await open('bob', ['team:1', 'team:2'])).status).toBe(403);
    expect((await open('bob', ['bad topic'])).status).toBe(400);
    expect((await open('bob', ['x'.repeat(129)])).status).toBe(400);
    expect((await open('bob', ['public:a', 'public:b', 'public:c', 'public:d'])).status).toBe(400);
    const bad = await open('bob', ['a/b']);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toContain('Potential solutions');
    const allowed = await open('bob', ['team:1', 'public:a', 'public:a']);
    expect(allowed.status).toBe(200);
    // Asked once per stream that wants topics, with each topic once; never for a bad request.
    expect(asked).toEqual([
      { header: 'bob', userId: 'bob', topics: ['team:1'] },
      { header: 'bob', userId: 'bob', topics: ['team:1', 'team:2'] },
      { header: 'bob', userId: 'bob', topics: ['team:1', 'public:a'] },
    ]);
    allowed.close();
    await expectCleanedUp();
    await session.close();

    await session.start(platform, { transport, heartbeat: 0 });
    expect((await open('bob', ['public:a'])).status).toBe(403);
    const plain = await open('bob', []);
    expect(plain.status).toBe(200);
    plain.close();
    await expectCleanedUp();
  });

  it('replays across a reconnect with join and leave in between: nothing from before the join nor after the leave, none twice, in order', async () => {
    const { sse } = await start();
    const first = await open('alice', ['public:feed']);
    await first.waitForEvents(1);
    await sse.join('alice', 'room');
    const seen = await sse.publish('room', 'seen live');
    await first.waitFor((c) => received(c).some((e) => e.id === seen.id));
    const resumeFrom = received(first).at(-1)!.id!;
    await drop(first, 'alice');

    const missed = [await sse.publish('room', 'missed in room'), await sse.send('alice', 'own')];
    await sse.leave('alice', 'room');
    await sse.publish('room', 'after leave');
    await sse.publish('later', 'before join');
    await sse.join('alice', 'later');
    missed.push(
      await sse.publish('later', 'after join'),
      await sse.broadcast('everyone'),
      await sse.publish('public:feed', 'feed'),
    );
    await sse.publish('public:other', 'not subscribed');

    const back = await open('alice', ['public:feed'], resumeFrom);
    expect(back.status).toBe(200);
    await back.waitForEvents(1);
    expect(back.events[0].id).toBe(resumeFrom);
    await back.waitFor((c) => received(c).length >= missed.length);
    const live = await sse.publish('later', 'live');
    await back.waitFor((c) => received(c).some((e) => e.id === live.id));
    expect(received(back).some((e) => e.event === SSE_GAP_EVENT)).toBe(false);
    expect(received(back).map((e) => e.id)).toEqual([...missed.map((m) => m.id), live.id]);
    expect(receivedData(back)).toEqual([
      'missed in room',
      'own',
      'after join',
      'everyone',
      'feed',
      'live',
    ]);
    back.close();
    await expectCleanedUp();
  });
});
