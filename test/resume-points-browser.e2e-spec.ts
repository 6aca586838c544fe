import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SSE_CLOSE_EVENT, SSE_GAP_EVENT, SseModule, SseService } from 'nestjs-sse-hub';
import { chromium, type Browser, type Page } from 'playwright-core';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, chromiumRequirement } from './support/requirements.js';

/**
 * The id rule with Chromium's own `EventSource`: every awkward id `send` accepts comes back,
 * byte for byte, as the `Last-Event-ID` of the browser's automatic reconnect, and the events
 * sent while the browser was away are replayed from it, in order, with no `sse:gap`. The ids
 * `send` refuses are tested in resume-points.e2e-spec.ts ("send refuses ids no client could
 * send back"), as is the same round trip with the `eventsource` package.
 *
 * Nothing intercepts the stream in the browser: the server ends each connection itself
 * (`disconnect`), and holds the browser's reconnect in a middleware while it sends the
 * events the browser is to miss, so that they can only arrive by replay.
 */

const chromiumFound = chromiumRequirement();
const suite = chromiumFound.available ? describe : describe.skip;

const USER = 'ida';

/** Every printable ASCII character, spaces inside, 256 in all. */
const LONGEST = Array.from({ length: 256 }, (_, i) => String.fromCharCode(0x20 + ((i + 1) % 95)));

/** Ids the rule accepts that a browser or a server could mangle on the way back. */
const IDS = [
  'a:b/c?d=e&f#g',
  '%41%42',
  '%',
  `say "hi" \\ 'bye' \\\\`,
  '{"json":1}',
  'a space inside',
  '~tilde~~',
  '<b>&amp;</b>',
  'x;y,z=1',
  LONGEST.join(''),
];

/** The page: one `EventSource` on the same origin, every event it dispatches recorded. */
const PAGE = `<!doctype html>
<meta charset="utf-8" />
<link rel="icon" href="data:," />
<script>
  window.log = [];
  const source = new EventSource('/sse');
  const record = (event) =>
    window.log.push({ type: event.type, id: event.lastEventId, data: event.data });
  for (const type of ['message', '${SSE_GAP_EVENT}', '${SSE_CLOSE_EVENT}']) {
    source.addEventListener(type, record);
  }
</script>`;

/** What the page recorded: one entry per dispatched event. */
interface Received {
  type: string;
  id: string;
  data: string;
}

async function received(page: Page): Promise<Received[]> {
  return (await page.evaluate('window.log')) as Received[];
}

/**
 * What the page recorded once it has `count` entries, or what it has after 10 s without:
 * the caller's comparison then shows what is missing.
 */
async function receivedOnce(page: Page, count: number): Promise<Received[]> {
  await page
    .waitForFunction(`window.log.length >= ${count}`, undefined, { timeout: 10_000 })
    .catch(() => undefined);
  return received(page);
}

/** The user a real app's auth middleware would find in the request's cookie. */
function cookieUser(request: IncomingMessage): string | undefined {
  return /(?:^|;\s*)user=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
}

suite("resume points through Chromium's EventSource", () => {
  let app: INestApplication;
  let sse: SseService;
  let origin: string;
  let browser: Browser;
  /** The `Last-Event-ID` of every `GET /sse` the browser made, in order (none: undefined). */
  const resumedFrom: Array<string | undefined> = [];
  /** Reconnects wait for it: the test opens it once it has sent what the browser misses. */
  let reconnectGate: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    @Module({ imports: [SseModule.forRoot({ retry: 20, heartbeat: 0 })] })
    class BrowserResumeModule {}
    app = await NestFactory.create(BrowserResumeModule, { logger: false });
    // Before the module's route: serves the page, sets `req.user` from the cookie it gave
    // (the module's default `resolveUser` reads `req.user.id`), records the resume point.
    app.use((request: IncomingMessage, response: ServerResponse, next: () => void) => {
      if (request.url === '/') {
        response.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'set-cookie': `user=${USER}; Path=/; SameSite=Strict`,
        });
        response.end(PAGE);
        return;
      }
      if (request.url === '/sse') {
        (request as IncomingMessage & { user?: unknown }).user = { id: cookieUser(request) };
        const lastEventId = request.headers['last-event-id'];
        resumedFrom.push(Array.isArray(lastEventId) ? lastEventId[0] : lastEventId);
        if (lastEventId !== undefined) return void reconnectGate.then(next);
      }
      next();
    });
    await app.listen(0, '127.0.0.1');
    origin = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    sse = app.get(SseService);
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /** Resolves at the user's next connect. */
  function nextConnect(): Promise<unknown> {
    return firstValueFrom(
      sse.events$.pipe(filter((event) => event.type === 'connect' && event.userId === USER)),
    );
  }

  it('every accepted id comes back as the Last-Event-ID of the reconnect, and replays what followed it', async () => {
    const page = await (await browser.newContext()).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    let connected = nextConnect();
    await page.goto(`${origin}/`);
    await connected;
    // Every connection's first event has empty data, which EventSource dispatches too.
    const [first] = await receivedOnce(page, 1);
    expect(first).toMatchObject({ type: 'message', data: '' });
    expect(first.id).not.toBe('');
    const expected: Received[] = [first];
    for (const [round, id] of IDS.entries()) {
      const marked = await sse.send(USER, `marked ${round}`, { id });
      expect(marked).toMatchObject({ id, delivered: 1, stored: true });
      expected.push({ type: 'message', id, data: `marked ${round}` });
      expect(await receivedOnce(page, expected.length)).toEqual(expected);

      // The server ends the connection; the browser's reconnect waits while two more are sent.
      let open!: () => void;
      reconnectGate = new Promise((resolve) => (open = resolve));
      connected = nextConnect();
      expect(await sse.disconnect(USER)).toBe(true);
      expected.push({
        type: SSE_CLOSE_EVENT,
        id,
        data: JSON.stringify({ reason: 'disconnected' }),
      });
      // The resumed connection's first event gives the browser its resume point back.
      expected.push({ type: 'message', id, data: '' });
      for (const name of ['first', 'second']) {
        const missed = await sse.send(USER, `${name} missed after ${round}`);
        expect(missed).toMatchObject({ delivered: 0, stored: true });
        expected.push({ type: 'message', id: missed.id, data: `${name} missed after ${round}` });
      }
      open();
      await connected;
      expect(resumedFrom.at(-1)).toBe(id);
      expect(await receivedOnce(page, expected.length)).toEqual(expected);
    }
    // The first request had no resume point; each reconnect sent exactly the id before it.
    expect(resumedFrom).toEqual([undefined, ...IDS]);
    expect((await received(page)).filter((event) => event.type === SSE_GAP_EVENT)).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 30_000);
});
