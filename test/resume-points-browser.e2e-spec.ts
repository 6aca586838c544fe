import { randomUUID } from 'node:crypto';
import { chromium, type Browser, type Route } from 'playwright-core';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type Platform, type TestApp } from './support/app.js';
import { CHROMIUM_PATH, chromiumRequirement } from './support/requirements.js';

const chromiumFound = chromiumRequirement();
const suite = chromiumFound.available ? describe : describe.skip;

/** Ids `send` accepts, of every kind the rule allows: each must come back from a browser. */
const IDS = [
  'order-42',
  'a b',
  randomUUID(),
  '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  'x'.repeat(256),
];

/** A page of the app's origin that follows the stream with the browser's own EventSource. */
const PAGE = `<!doctype html><script>
  window.got = []; window.gaps = [];
  const source = new EventSource('/sse');
  source.onmessage = (event) => {
    if (event.data !== '') window.got.push({ id: event.lastEventId, data: event.data });
  };
  source.addEventListener('sse:gap', (event) => window.gaps.push(event.data));
</script>`;

suite.each<{ platform: Platform }>([{ platform: 'express' }, { platform: 'fastify' }])(
  'resume points in Chromium on $platform',
  ({ platform }) => {
    let browser: Browser;
    let test: TestApp;

    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      // Every stream ends after 300 ms; the browser comes back after 20 ms.
      test = await startApp(platform, {
        timeout: 300,
        retry: 20,
        heartbeat: 0,
        resolveUser: () => 'alice',
      });
    });

    afterAll(async () => {
      await browser?.close();
      await test?.close();
    });

    it("every id send accepts comes back as the browser's Last-Event-ID and resumes exactly", async () => {
      const page = await browser.newPage();
      await page.route(`${test.url}/`, (route) =>
        route.fulfill({ contentType: 'text/html', body: PAGE }),
      );
      // Each reconnect waits for its gate: the message of that round is sent while the
      // browser is away, so it can only arrive by replay from the Last-Event-ID it sends.
      const held: Route[] = [];
      const resumedFrom: (string | undefined)[] = [];
      let waiting: (() => void) | undefined;
      await page.route(`${test.url}/sse`, (route) => {
        const lastEventId = route.request().headers()['last-event-id'];
        if (lastEventId === undefined) return route.continue();
        resumedFrom.push(lastEventId);
        held.push(route);
        waiting?.();
        return undefined;
      });
      const disconnects = () =>
        firstValueFrom(test.sse.events$.pipe(filter((event) => event.type === 'disconnect')));
      let away = disconnects();
      await page.goto(`${test.url}/`);
      for (let round = 0; round < IDS.length; round++) {
        await away;
        await new Promise<void>((resolve) => {
          waiting = resolve;
          if (held.length > round) resolve();
        });
        const result = await test.sse.send('alice', `m${round}`, { id: IDS[round] });
        expect(result).toMatchObject({ id: IDS[round], delivered: 0, stored: true });
        away = disconnects();
        await held[round].continue();
      }
      await page.waitForFunction(`window.got.length >= ${IDS.length}`);
      const got = await page.evaluate('window.got');
      const gaps = await page.evaluate('window.gaps');
      await page.close();
      expect(got).toEqual(IDS.map((id, round) => ({ id, data: `m${round}` })));
      // The first resume point is the id of the first connection's first event.
      expect(resumedFrom.slice(1, IDS.length)).toEqual(IDS.slice(0, -1));
      expect(gaps).toEqual([]);
    }, 60_000);
  },
);
