import { randomUUID } from 'node:crypto';
import { EventSource } from 'eventsource';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT, SseInvalidEventIdError } from 'nestjs-sse-hub';
import { MATRIX, openStream, startApp, type TestApp } from './support/app.js';
import { received, type RawSseClient } from './support/sse-client.js';

/** Ids `send` accepts, of every kind the rule allows. */
const IDS = [
  'order-42',
  'a b',
  randomUUID(),
  ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'.trim(),
  'x'.repeat(256),
];

/** Ids no client could send back as they were sent, so `send` refuses them. */
const REFUSED = [
  'order-ü-1',
  '注文-1',
  'tab\there',
  'bell\u0007',
  'del\u007f',
  'trailing ',
  ' leading',
];

/** Resolves at the app's next disconnect. */
function nextDisconnect(test: TestApp): Promise<unknown> {
  return firstValueFrom(test.sse.events$.pipe(filter((event) => event.type === 'disconnect')));
}

describe.each(MATRIX)(
  'resume points on $platform, $transport transport',
  ({ platform, transport }) => {
    let test: TestApp | undefined;
    const clients: RawSseClient[] = [];

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await test?.close();
      test = undefined;
    });

    it('every id send accepts resumes an eventsource client across reconnects, replayed exactly', async () => {
      test = await startApp(platform, { transport, timeout: 300, retry: 20, heartbeat: 0 });
      const app = test;
      // Each reconnect waits for its gate: the message of that round is sent while the client
      // is away, so it can only arrive by replay from the Last-Event-ID the client sends.
      const gates: Array<() => void> = [];
      const opened = IDS.map(() => new Promise<void>((resolve) => gates.push(resolve)));
      const resumedFrom: (string | null)[] = [];
      let requests = 0;
      const source = new EventSource(`${app.url}/sse`, {
        fetch: async (input, init) => {
          const attempt = requests++;
          if (attempt > 0) {
            // Past the last round, the client stays away until the test closes it.
            await (opened[attempt - 1] ?? new Promise(() => {}));
            resumedFrom.push(new Headers(init?.headers).get('last-event-id'));
          }
          return fetch(input, { ...init, headers: { ...init?.headers, 'x-user': 'alice' } });
        },
      });
      const firstIds: string[] = [];
      const got: Array<{ id: string; data: string }> = [];
      const gaps: string[] = [];
      const allIn = new Promise<void>((resolve) => {
        source.addEventListener('message', (event) => {
          if (event.data === '') firstIds.push(event.lastEventId);
          else got.push({ id: event.lastEventId, data: event.data });
          if (got.length === IDS.length) resolve();
        });
      });
      source.addEventListener(SSE_GAP_EVENT, (event) => gaps.push(event.data));
      for (let round = 0; round < IDS.length; round++) {
        await nextDisconnect(app);
        const result = await app.sse.send('alice', `m${round}`, { id: IDS[round] });
        expect(result).toMatchObject({ id: IDS[round], delivered: 0, stored: true });
        gates[round]();
      }
      await allIn;
      source.close();
      expect(got).toEqual(IDS.map((id, round) => ({ id, data: `m${round}` })));
      expect(resumedFrom).toEqual([firstIds[0], ...IDS.slice(0, -1)]);
      // A resumed connection's first event gives the client its own resume point back.
      expect(firstIds.slice(1)).toEqual(resumedFrom);
      expect(gaps).toEqual([]);
    }, 30_000);

    it('a raw client resumes from each accepted id and gets exactly what followed it', async () => {
      test = await startApp(platform, { transport, heartbeat: 0 });
      const away = await openStream(test, 'alice');
      clients.push(away);
      const from = away.events[0].id!;
      away.close();
      for (const [i, id] of IDS.entries()) await test.sse.send('alice', `m${i}`, { id });
      for (const [i, id] of [from, ...IDS].entries()) {
        const back = await openStream(test, 'alice', id);
        clients.push(back);
        const expected = IDS.slice(i);
        await back.waitFor((c) => received(c).length >= expected.length);
        expect(back.events[0].id).toBe(id);
        expect(received(back).map((e) => e.id)).toEqual(expected);
        back.close();
      }
    });

    it('send refuses ids no client could send back, and keeps nothing of them', async () => {
      test = await startApp(platform, { transport, heartbeat: 0 });
      const away = await openStream(test, 'alice');
      clients.push(away);
      const from = away.events[0].id!;
      away.close();
      for (const id of REFUSED) {
        await expect(test.sse.send('alice', 'refused', { id })).rejects.toThrow(
          SseInvalidEventIdError,
        );
      }
      const last = await test.sse.send('alice', 'accepted');
      const back = await openStream(test, 'alice', from);
      clients.push(back);
      await back.waitFor((c) => received(c).length >= 1);
      expect(received(back).map((e) => [e.id, e.data])).toEqual([[last.id, 'accepted']]);
    });

    it('a resume point outside the rule is not echoed: a fresh first id, then sse:gap unknown', async () => {
      test = await startApp(platform, { transport, heartbeat: 0 });
      // What Node reads from a browser that sends a non-ASCII id as UTF-8.
      const garbled = Buffer.from('order-ü-1', 'utf8').toString('latin1');
      const back = await openStream(test, 'alice', garbled);
      clients.push(back);
      await back.waitFor((c) => received(c).length >= 1);
      expect(back.events[0].id).not.toBe(garbled);
      expect(received(back)[0].event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(received(back)[0].data!)).toEqual({
        reason: 'unknown',
        lastEventId: garbled,
      });
    });

    it('with the in-memory broker, a resume point from before a restart gets sse:gap restarted', async () => {
      const before = await startApp(platform, { transport, heartbeat: 0 });
      const first = await openStream(before, 'alice');
      const from = first.events[0].id!;
      first.close();
      await before.close();
      test = await startApp(platform, { transport, heartbeat: 0 });
      const quiet = await openStream(test, 'alice', from);
      clients.push(quiet);
      await quiet.waitFor((c) => received(c).length >= 1);
      expect(received(quiet).map((e) => [e.event, e.data])).toEqual([
        [SSE_GAP_EVENT, JSON.stringify({ reason: 'restarted', lastEventId: from })],
      ]);
      const sent = await test.sse.send('bob', 'after the restart');
      const bob = await openStream(test, 'bob', from);
      clients.push(bob);
      await bob.waitFor((c) => received(c).length >= 2);
      expect(received(bob).map((e) => [e.event, e.id])).toEqual([
        [SSE_GAP_EVENT, from],
        [undefined, sent.id],
      ]);
      expect(JSON.parse(received(bob)[0].data!).reason).toBe('restarted');
    });
  },
);
