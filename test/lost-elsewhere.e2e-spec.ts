import { afterEach, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT } from 'nestjs-sse-hub';
import { SseCounters } from '../libs/sse/src/hub/sse-counters.js';
import { sseId } from '../libs/sse/src/wire/sse-id.js';
import { openStream, startApp, type TestApp } from './support/app.js';
import { received, type RawSseClient } from './support/sse-client.js';

/**
 * When a broker hears that events were lost before they reached this instance (another
 * instance's, that Redis refused), the hub tells each connection that was open before the
 * loss at once (`gapLocal`), wherever it is in its stream: a replay could not report it,
 * as a later event may already have moved the client's resume point past it.
 */
describe('events lost before they reached this instance', () => {
  let app: TestApp | undefined;
  const clients: RawSseClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await app?.close();
    app = undefined;
  });

  async function connect(userId: string, lastEventId?: string): Promise<RawSseClient> {
    const client = await openStream(app!, userId, lastEventId);
    clients.push(client);
    return client;
  }

  const gaps = (client: RawSseClient) =>
    received(client).filter((event) => event.event === SSE_GAP_EVENT);

  it('tell the streams open before the loss, past it or not, and no other', async () => {
    app = await startApp('express', { heartbeat: 0 });
    const before = await connect('alice');
    await app.sse.send('alice', 'with an id of its own', { id: 'order-1' });
    await before.waitFor((c) => received(c).length >= 1);
    const resumedFromCustom = await connect('alice', 'order-1');
    const bob = await connect('bob');
    const lost = sseId();
    // Opened after the loss: not its to know of.
    const after = await connect('alice');
    const later = await app.sse.send('alice', 'later');
    await before.waitFor((c) => received(c).some((event) => event.id === later.id));

    expect(app.hub.gapLocal('alice', lost)).toBe(2);
    await before.waitFor((c) => gaps(c).length === 1);
    await resumedFromCustom.waitFor((c) => gaps(c).length === 1);
    // The gap keeps the client's resume point: the last event it had.
    expect(gaps(before)[0]).toMatchObject({ id: later.id });
    expect(JSON.parse(gaps(before)[0].data!)).toEqual({
      reason: 'expired',
      lastEventId: later.id,
    });

    // Everyone's loss reaches bob too, and still not the stream opened after it; alice's
    // streams were told already and got nothing since: not told again.
    expect(app.hub.gapLocal(null, lost)).toBe(1);
    await bob.waitFor((c) => gaps(c).length === 1);
    const last = await app.sse.broadcast('last');
    await after.waitFor((c) => received(c).some((event) => event.id === last.id));
    expect(gaps(after)).toEqual([]);
    expect(app.app.get(SseCounters).metricCounts().gaps.get('expired')).toBe(3);
  });

  it('tell a stream once for losses that came one after another with nothing between', async () => {
    app = await startApp('express', { heartbeat: 0 });
    const alice = await connect('alice');
    expect(app.hub.gapLocal('alice', sseId())).toBe(1);
    expect(app.hub.gapLocal('alice', sseId())).toBe(0);
    const next = await app.sse.send('alice', 'next');
    await alice.waitFor((c) => received(c).some((event) => event.id === next.id));
    expect(app.hub.gapLocal('alice', sseId())).toBe(1);
    await alice.waitFor((c) => gaps(c).length === 2);
    expect(received(alice).map((event) => event.event ?? event.data)).toEqual([
      SSE_GAP_EVENT,
      'next',
      SSE_GAP_EVENT,
    ]);
  });
});
