import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import * as hub from 'nestjs-sse-hub';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DemoServer } from './support/demo-server.js';
import { CHROMIUM_PATH, chromiumRequirement } from './support/requirements.js';

/**
 * The browser client on its own in Chromium: a page that loads `/sse-client.js` and records
 * what it dispatches. Against the demo with Bearer tokens and no cookies across server
 * timeouts; against a small server of this test's own, answers that close it for good.
 */

const chromiumFound = chromiumRequirement();
const suite = chromiumFound.available ? describe : describe.skip;

/** The page under test: it opens one client from its query and records everything. */
const FIXTURE_HTML = `<!doctype html>
<meta charset="utf-8" />
<link rel="icon" href="data:," />
<script type="module">
  import { SseClient } from '/sse-client.js';
  const query = new URLSearchParams(location.search);
  const options = JSON.parse(query.get('options') ?? '{}');
  const log = { events: [], errors: [], opens: 0, tokens: 0 };
  if (query.has('token')) {
    options.token = async () => {
      log.tokens += 1;
      return query.get('token');
    };
  }
  const client = new SseClient(query.get('url') ?? '/sse', options);
  const record = (event) =>
    log.events.push({ type: event.type, id: event.lastEventId, data: event.data });
  client.addEventListener('open', () => (log.opens += 1));
  client.addEventListener('error', () => log.errors.push(client.readyState));
  for (const name of ['message', 'chat', 'sse:gap', 'sse:close']) {
    client.addEventListener(name, record);
  }
  window.log = log;
  window.client = client;
</script>`;

/** What the fixture page recorded. */
interface Recorded {
  events: Array<{ type: string; id: string; data: string }>;
  errors: number[];
  opens: number;
  tokens: number;
}

async function recorded(page: Page): Promise<Recorded> {
  return (await page.evaluate('window.log')) as Recorded;
}

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

function fixtureUrl(origin: string, query: Record<string, string>): string {
  return `${origin}/client-fixture.html?${new URLSearchParams(query)}`;
}

suite('browser client with a Bearer token and no cookies, against the demo', () => {
  let demo: DemoServer;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    // A short lifetime: every stream ends after 300 ms and the client comes back.
    demo = await DemoServer.start({ retry: 100, timeout: 300 });
    browser = await launch();
  });

  afterEach(async () => {
    await context?.close();
    await demo.untilConnections(0);
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  /** A page of the demo's origin, in a context that never signed in: no cookie. */
  async function fixturePage(query: Record<string, string>): Promise<Page> {
    context = await browser.newContext();
    await context.route('**/client-fixture.html*', (route) =>
      route.fulfill({ contentType: 'text/html', body: FIXTURE_HTML }),
    );
    const page = await context.newPage();
    await page.goto(fixtureUrl(demo.url, query));
    return page;
  }

  it('loses nothing across server timeouts; the token is asked at every connect', async () => {
    const { token } = await demo.login('kate');
    const streams: IncomingMessage[] = [];
    demo.httpServer.on('request', (request: IncomingMessage) => {
      if (request.url === '/sse') streams.push(request);
    });
    const page = await fixturePage({ token });
    const sender = await demo.login('leo');
    const sent: string[] = [];
    // Three rounds, each after the server has ended the stream and the client is back.
    for (let round = 0; round < 3; round++) {
      const connected = firstValueFrom(
        demo.sse.events$.pipe(filter((e) => e.type === 'connect' && e.userId === 'kate')),
      );
      if (round > 0) await connected;
      else await demo.untilConnections(1);
      for (let i = 0; i < 5; i++) {
        const data = `round ${round} message ${i}`;
        const answer = await demo.request('POST', '/messages', {
          token: sender.token,
          json: { to: 'kate', event: i % 2 === 0 ? 'chat' : undefined, data },
        });
        expect(answer.status).toBe(200);
        sent.push(data);
      }
      await page.waitForFunction(`window.log.events.length >= ${sent.length}`);
    }
    const log = await recorded(page);
    expect(log.events.map((e) => e.data)).toEqual(sent);
    expect(log.events.map((e) => e.type)).toEqual(
      sent.map((_, i) => ((i % 5) % 2 === 0 ? 'chat' : 'message')),
    );
    // Every connect carried the token and no cookie; every reconnect a Last-Event-ID.
    expect(streams.length).toBeGreaterThanOrEqual(3);
    for (const request of streams) {
      expect(request.headers.authorization).toBe(`Bearer ${token}`);
      expect(request.headers.cookie).toBeUndefined();
    }
    for (const request of streams.slice(1)) expect(request.headers['last-event-id']).toMatch(/\S/);
    expect(log.tokens).toBeGreaterThanOrEqual(streams.length);
    // The server's clean ends were reconnections (readyState 0), never a close.
    expect(log.errors.every((state) => state === 0)).toBe(true);
    expect(log.opens).toBeGreaterThanOrEqual(3);
  });

  it('gives up on 401 after asking for a fresh token once', async () => {
    const page = await fixturePage({ token: 'not-a-token' });
    await page.waitForFunction('window.log.errors.length > 0');
    const log = await recorded(page);
    expect(log).toMatchObject({ errors: [2], opens: 0, tokens: 2 });
    expect(await page.evaluate('window.client.readyState')).toBe(2);
  });

  // A subscription the demo refuses (SPEC §7: 403). Runs once the library has topics; until
  // then it says so here, and the same refusal is tested below against a server of our own.
  const topicsLanded = 'SseInvalidTopicError' in hub;
  if (!topicsLanded) {
    console.warn('[skipped] topics have not landed in the library yet: the refused-topic case');
  }
  it.runIf(topicsLanded)(
    'closes without retrying when the demo refuses a topic (403)',
    async () => {
      const { token } = await demo.login('mia');
      let refused = 0;
      demo.httpServer.on('request', (request: IncomingMessage) => {
        if (request.url?.startsWith('/sse?topic=')) refused += 1;
      });
      const page = await fixturePage({
        token,
        options: JSON.stringify({ topics: ['private-of-someone-else'], shared: false }),
      });
      await page.waitForFunction('window.log.errors.length > 0');
      expect(await recorded(page)).toMatchObject({ errors: [2], opens: 0 });
      expect(refused).toBe(1);
    },
  );
});

suite('browser client against answers that close it for good', () => {
  let server: Server;
  let origin: string;
  let browser: Browser;
  let context: BrowserContext;
  /** Requests per path and query. */
  const requests = new Map<string, number>();

  beforeAll(async () => {
    const client = await readFile(
      createRequire(import.meta.url).resolve('nestjs-sse-hub/client'),
      'utf8',
    );
    server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname === '/client-fixture.html') {
        return void response.writeHead(200, { 'content-type': 'text/html' }).end(FIXTURE_HTML);
      }
      if (url.pathname === '/sse-client.js') {
        return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(client);
      }
      const key = url.pathname + url.search;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      if (url.pathname === '/stream') {
        // A stream that stays open: its first event, then nothing.
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        return void response.write(`id: ${key}\nretry: 60000\ndata:\n\n`);
      }
      // What an app's stream route answers for a refused topic, a bad name, no such
      // route, and a server that is down for now.
      const status: Record<string, number> = {
        '/sse?topic=secret': 403,
        '/sse?topic=bad+name': 400,
        '/missing': 404,
        '/busy': 503,
      };
      response.writeHead(status[key] ?? 500).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launch();
    context = await browser.newContext();
  });

  it('shares one stream between tabs whose topics differ only in order; shared: false does not', async () => {
    requests.clear();
    const tab = async (options: object) => {
      const page = await context.newPage();
      await page.goto(fixtureUrl(origin, { url: '/stream', options: JSON.stringify(options) }));
      await page.waitForFunction('window.log.opens === 1');
      return page;
    };
    const first = await tab({ topics: ['a', 'b'] });
    const second = await tab({ topics: ['b', 'a'] });
    const own = await tab({ topics: ['a', 'b'], shared: false });
    expect(await first.evaluate('window.client.role')).toBe('holder');
    expect(await second.evaluate('window.client.role')).toBe('sharer');
    expect(await own.evaluate('window.client.role')).toBe('own');
    const streams = [...requests].filter(([key]) => key.startsWith('/stream'));
    expect(streams).toEqual([['/stream?topic=a&topic=b', 2]]);
    for (const page of [first, second, own]) await page.close();
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it.each([
    ['a refused topic (403)', '/sse', ['secret'], '/sse?topic=secret'],
    ['a bad topic name (400)', '/sse', ['bad name'], '/sse?topic=bad+name'],
    ['no such route (404)', '/missing', [], '/missing'],
  ])('closes for good on %s: one request, one error, readyState 2', async (_, url, topics, key) => {
    for (const shared of [true, false]) {
      requests.clear();
      const options = JSON.stringify({ topics, shared });
      const page = await context.newPage();
      await page.goto(fixtureUrl(origin, { url, options }));
      // A client on a server that is down retries (after a backoff of at least half a
      // second): once it has, the refused one would have retried too had it meant to.
      const busy = await context.newPage();
      await busy.goto(fixtureUrl(origin, { url: '/busy', options: '{"shared":false}' }));
      await page.waitForFunction('window.log.errors.length > 0');
      await busy.waitForFunction('window.log.errors.length >= 2');
      expect(await recorded(page)).toMatchObject({ errors: [2], opens: 0, events: [] });
      expect(await page.evaluate('window.client.readyState')).toBe(2);
      expect((await recorded(busy)).errors.slice(0, 2)).toEqual([0, 0]);
      expect(requests.get(key)).toBe(1);
      expect(requests.get('/busy')).toBeGreaterThanOrEqual(2);
      await page.close();
      await busy.close();
    }
  });
});
