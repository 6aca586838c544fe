import { mkdir } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Page,
  type Route,
} from 'playwright-core';
import { filter, firstValueFrom, map } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../apps/demo/src/auth/auth.service.js';
import type { DemoPlatform } from '../apps/demo/src/demo.config.js';
import { DemoServer } from './support/demo-server.js';
import { CHROMIUM_PATH, chromiumRequirement } from './support/requirements.js';

/**
 * The demo's page in headless Chromium: two users in two browser contexts (two cookie
 * jars), a connection dropped by the server, and what the page shows afterwards. The page
 * streams through the library's browser client (`/sse-client.js`); the tabs of one context
 * sharing it are tested in client-shared.e2e-spec.ts.
 */

const OUTPUT_DIR = new URL('../test-output/', import.meta.url);
const HISTORY_SIZE = 5;
const LAPTOP = { viewport: { width: 1100, height: 720 } };
const PHONE = { viewport: { width: 390, height: 780 }, isMobile: true, hasTouch: true };

const chromiumFound = chromiumRequirement();
const suite = chromiumFound.available ? describe : describe.skip;

const setups: Array<[DemoPlatform, 'direct' | 'observable']> = [
  ['express', 'direct'],
  ['fastify', 'observable'],
];

/** What a page shows in its list, oldest first. */
interface Shown {
  id: string;
  event: string;
  data: string;
  time: string;
  /** `direct`, `broadcast`, `topic`, or `other` for data the page's senders did not wrap. */
  kind: string;
  /** What the item shows as its sender. */
  from: string;
}

suite.each(setups)('demo page in Chromium, on %s with the %s transport', (platform, transport) => {
  let demo: DemoServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  /** Every `GET /sse` the server received, to find a page's stream by its user. */
  const streamRequests: IncomingMessage[] = [];

  beforeAll(async () => {
    // A short retry so that a dropped page is back quickly; a small history for the gap.
    demo = await DemoServer.start({ platform, transport, retry: 200, historySize: HISTORY_SIZE });
    demo.httpServer.on('request', (request: IncomingMessage) => {
      if (request.method === 'GET' && request.url === '/sse') streamRequests.push(request);
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    await mkdir(OUTPUT_DIR, { recursive: true });
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
    await demo.untilConnections(0);
    const errors = pageErrors.splice(0);
    if (errors.length > 0) throw new Error(`The page reported errors:\n${errors.join('\n')}`);
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  /** A page in its own browser context, signed in through its form, its stream open. */
  async function signedInPage(userId: string, device: typeof LAPTOP | typeof PHONE) {
    const context = await browser.newContext(device);
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${userId}: ${error.message}`));
    page.on('console', (message) => {
      // A violation of the page's Content-Security-Policy is reported here.
      if (message.type() === 'error' && /Content.Security.Policy/i.test(message.text())) {
        pageErrors.push(`${userId}: ${message.text()}`);
      }
    });
    await page.goto(demo.url);
    await page.fill('#user-id', userId);
    await page.click('#sign-in-button');
    await stateIs(page, 'open');
    await page.locator('#messages li.system.open').filter({ hasText: 'Connected' }).waitFor();
    await expect(page.textContent('#user-name')).resolves.toBe(userId);
    // Alone in its browser, the tab holds the connection itself.
    await page.locator('#role[data-role="holder"]').waitFor();
    expect(await page.textContent('#role')).toBe('This tab holds the connection');
    return page;
  }

  function stateIs(page: Page, state: string): Promise<void> {
    return page.locator(`#state[data-state="${state}"]`).waitFor();
  }

  /** Resolves once `count` messages are shown; returns them, oldest first. */
  async function shown(page: Page, count: number): Promise<Shown[]> {
    const items = page.locator('#messages li.event');
    await items.nth(count - 1).waitFor();
    const result: Shown[] = [];
    for (const item of await items.all()) {
      result.push({
        id: (await item.getAttribute('data-id')) ?? '',
        event: (await item.getAttribute('data-event')) ?? '',
        data: (await item.locator('.data').textContent()) ?? '',
        time: (await item.locator('.time').textContent()) ?? '',
        kind: (await item.getAttribute('data-kind')) ?? '',
        from: (await item.locator('.from').textContent()) ?? '',
      });
    }
    // The page shows the newest first.
    return result.reverse();
  }

  /** Sends through the demo's API as `from`; returns the answer. */
  async function sendAs(from: string, json: unknown): Promise<{ id: string; delivered: number }> {
    const { token } = await demo.login(from);
    const answer = await demo.request('POST', '/messages', { token, json });
    expect({ status: answer.status, body: answer.body }).toMatchObject({ status: 200 });
    return answer.body as { id: string; delivered: number };
  }

  function openStreamOf(userId: string): IncomingMessage | undefined {
    const auth = demo.app.get(AuthService);
    return streamRequests.findLast((r) => !r.socket.destroyed && auth.userOf(r) === userId);
  }

  /**
   * Drops the user's open stream from the server's side, as a restart or a network fault
   * would, and holds the page's reconnection until `release` is called. `release` resolves
   * to the `Last-Event-ID` the page reconnected with, as the server received it.
   */
  async function dropStream(page: Page, userId: string) {
    const request = openStreamOf(userId);
    if (request === undefined) throw new Error(`no open stream of ${userId}`);
    let held!: (route: Route) => void;
    const reconnection = new Promise<Route>((resolve) => (held = resolve));
    await page.route('**/sse', (route) => held(route));
    const gone = firstValueFrom(
      demo.sse.events$.pipe(
        filter((e) => e.type === 'disconnect' && e.userId === userId),
        map((e) => (e.type === 'disconnect' ? e.reason : undefined)),
      ),
    );
    request.socket.destroy();
    expect(await gone).toBe('client');
    await stateIs(page, 'reconnecting');
    const route = await reconnection;
    return async (): Promise<string | undefined> => {
      await route.continue();
      await page.unroute('**/sse');
      await stateIs(page, 'open');
      const resumed = openStreamOf(userId);
      expect(resumed).not.toBe(request);
      return resumed?.headers['last-event-id'] as string | undefined;
    };
  }

  it('shows a message live, then, after the server drops it, what it missed, once each, in order', async () => {
    const alice = await signedInPage('alice', PHONE);
    const bob = await signedInPage('bob', LAPTOP);

    // Alice sends through the page's form; Bob's page shows it live.
    await alice.fill('#to', 'bob');
    await alice.fill('#event', 'chat');
    await alice.fill('#data', 'Hello Bob!\nSecond line.');
    await alice.click('#send');
    await alice.locator('#send-result[data-id]').waitFor();
    const sentId = await alice.getAttribute('#send-result', 'data-id');
    expect(await alice.textContent('#send-result')).toContain('to 1 connection');
    const [live] = await shown(bob, 1);
    expect(live).toMatchObject({
      id: sentId,
      event: 'chat',
      data: 'Hello Bob!\nSecond line.',
      kind: 'direct',
      from: 'alice',
    });
    expect(live.time).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(await bob.locator('#messages li.event .badge').count()).toBe(0);

    // A refused send shows its error; the next send that works replaces it.
    await alice.fill('#to', 'not a user id');
    await alice.click('#send');
    await alice.locator('#send-result.error').filter({ hasText: '400' }).waitFor();
    await alice.fill('#to', 'alice');
    await alice.fill('#data', 'note to self');
    await alice.click('#send');
    await alice
      .locator('#send-result:not(.error)')
      .filter({ hasText: 'to 1 connection' })
      .waitFor();
    expect((await shown(alice, 1))[0]).toMatchObject({ data: 'note to self', from: 'you' });
    await alice.click('#clear');

    // A broadcast from Bob's page reaches both.
    await bob.fill('#data', '{"note":"to everyone"}');
    await bob.check('#as-json');
    await bob.click('#broadcast');
    await bob.locator('#send-result').filter({ hasText: 'to 2 connections' }).waitFor();
    expect((await shown(alice, 1))[0]).toMatchObject({
      data: '{"note":"to everyone"}',
      kind: 'broadcast',
      from: 'bob',
    });
    await alice
      .locator('#messages li.event .badge.broadcast')
      .filter({ hasText: 'to all' })
      .waitFor();
    const before = await shown(bob, 2);

    // The server drops Bob's stream; messages are sent while the page is away.
    const release = await dropStream(bob, 'bob');
    const missed: Array<{ id: string; data: unknown }> = [];
    for (const data of ['While you were away: 1', { n: 2 }, 'While you were away: 3']) {
      const { id, delivered } = await sendAs('alice', { to: 'bob', data });
      expect(delivered).toBe(0);
      missed.push({ id, data });
    }
    expect(await release()).toBe(before[1].id);
    await bob.locator('#messages li.system.lost').waitFor();
    await bob
      .locator('#messages li.system.open')
      .filter({ hasText: `Reconnected; resuming after ${before[1].id}` })
      .waitFor();

    // Back, through Last-Event-ID: each missed message once, in order, and nothing else.
    const after = await shown(bob, 5);
    expect(after.slice(2).map((m) => [m.kind, m.from])).toEqual(
      Array(3).fill(['other', 'sender not given']),
    );
    expect(after.map(({ id, data }) => ({ id, data }))).toEqual([
      { id: sentId, data: 'Hello Bob!\nSecond line.' },
      { id: before[1].id, data: '{"note":"to everyone"}' },
      { id: missed[0].id, data: 'While you were away: 1' },
      { id: missed[1].id, data: '{"n":2}' },
      { id: missed[2].id, data: 'While you were away: 3' },
    ]);
    // And live again.
    const { id: liveAgain } = await sendAs('alice', { to: 'bob', data: 'Welcome back' });
    expect((await shown(bob, 6))[5]).toMatchObject({ id: liveAgain, data: 'Welcome back' });
    expect(await bob.locator('#notice').isHidden()).toBe(true);
    // The online list was refreshed after the reconnection: both users, Bob marked as "you".
    await bob.locator('#online li').filter({ hasText: 'bobyou' }).waitFor();
    expect(await bob.locator('#online li').allTextContents()).toEqual(['alice', 'bobyou']);

    const name = `demo-${platform}-${transport}`;
    await bob.screenshot({ path: new URL(`${name}.png`, OUTPUT_DIR).pathname });
    await alice.screenshot({ path: new URL(`${name}-phone.png`, OUTPUT_DIR).pathname });
    if (platform === 'express' && transport === 'direct') {
      await bob.screenshot({ path: new URL('demo.png', OUTPUT_DIR).pathname });
    }
  });

  it('joins a topic from the panel, shows its events live in two pages, and leaves', async () => {
    const erin = await signedInPage('erin', LAPTOP);
    const frank = await signedInPage('frank', PHONE);
    const streamsBefore = streamRequests.length;
    const team = `team-${platform}`;

    /** Joins `topic` through the page's panel; resolves once the panel lists it. */
    async function join(page: Page, topic: string) {
      await page.fill('#topic', topic);
      await page.click('#join-topic');
      await page.locator(`#topic-list li[data-topic="${topic}"]`).waitFor();
      await page
        .locator('#messages li.system.topic')
        .filter({ hasText: `Joined ${topic}` })
        .waitFor();
    }

    // Not a member yet: posting to a topic that is not public is refused, and says why.
    await frank.fill('#topic', team);
    await frank.fill('#topic-data', 'let me in');
    await frank.click('#post-topic');
    await frank.locator('#topic-result.error').filter({ hasText: '403' }).waitFor();

    await join(erin, team);
    await join(frank, team);
    expect(await erin.textContent('#topic-count')).toBe('1');
    expect(await demo.sse.members(team)).toEqual(['erin', 'frank']);

    await erin.fill('#topic-data', 'Hello team!');
    await erin.click('#post-topic');
    await erin.locator('#topic-result').filter({ hasText: 'to 2 connections' }).waitFor();
    const postedId = await erin.getAttribute('#topic-result', 'data-id');
    for (const [page, from] of [
      [erin, 'you'],
      [frank, 'erin'],
    ] as const) {
      const [event] = await shown(page, 1);
      expect(event).toMatchObject({ id: postedId, data: 'Hello team!', kind: 'topic', from });
      await page
        .locator(`#messages li.event[data-topic="${team}"] .badge.topic`)
        .filter({ hasText: `topic ${team}` })
        .waitFor();
    }

    // Frank leaves from the panel: the next post reaches Erin only.
    await frank.locator(`#topic-list li[data-topic="${team}"] .leave`).click();
    await frank
      .locator('#topic-result')
      .filter({ hasText: `Left ${team}` })
      .waitFor();
    await frank.locator(`#topic-list li[data-topic="${team}"]`).waitFor({ state: 'detached' });
    expect(await frank.textContent('#topic-count')).toBe('0');
    await erin.fill('#topic-data', 'Frank has gone');
    await erin.click('#post-topic');
    await erin.locator('#topic-result').filter({ hasText: 'to 1 connection.' }).waitFor();
    expect((await shown(erin, 2))[1]).toMatchObject({ data: 'Frank has gone', kind: 'topic' });
    // The next thing Frank's page shows is a message to him, not the topic's.
    await sendAs('erin', { to: 'frank', data: 'just for you' });
    const frankShows = await shown(frank, 2);
    expect(frankShows.map((m) => [m.kind, m.data])).toEqual([
      ['topic', 'Hello team!'],
      ['other', 'just for you'],
    ]);
    // The topics reached the streams that were open: neither page reconnected.
    expect(streamRequests.length).toBe(streamsBefore);
    if (platform === 'express') {
      await erin.screenshot({ path: new URL('demo-topics.png', OUTPUT_DIR).pathname });
    }
    await demo.sse.leave('erin', team);
  });

  it('says so on sse:gap and reloads the online list; stops for good on sse:close', async () => {
    const carol = await signedInPage('carol', LAPTOP);

    // More is sent while Carol is away than the history keeps: the oldest is lost.
    const release = await dropStream(carol, 'carol');
    const sent: string[] = [];
    for (let i = 1; i <= HISTORY_SIZE + 1; i++) {
      sent.push(`message ${i}`);
      await sendAs('dave', { to: 'carol', data: `message ${i}` });
    }
    const reload = carol.waitForRequest((r) => r.url().endsWith('/sse/online'));
    await release();
    await carol.locator('#notice').filter({ hasText: 'events were lost' }).waitFor();
    await carol.locator('#messages li.system.gap').waitFor();
    await reload;
    const replayed = await shown(carol, HISTORY_SIZE);
    expect(replayed.map((m) => m.data)).toEqual(sent.slice(1));

    // The warning stays until the next action succeeds: a send from the page.
    await carol.fill('#to', 'carol');
    await carol.fill('#data', 'still here');
    await carol.click('#send');
    await carol.locator('#send-result').filter({ hasText: 'to 1 connection' }).waitFor();
    await carol.locator('#notice').waitFor({ state: 'hidden' });

    // "Close my tabs": the server ends the stream with sse:close and the page stays closed.
    await carol.click('#disconnect-all');
    await stateIs(carol, 'closed');
    // The client closed itself for good: it will not reconnect on its own.
    expect(await carol.getAttribute('#state', 'data-ready-state')).toBe('CLOSED');
    await carol.locator('#messages li.system.close').filter({ hasText: 'disconnected' }).waitFor();
    await carol.locator('#notice').filter({ hasText: 'will not reconnect' }).waitFor();
    await demo.untilConnections(0);
    expect(await carol.locator('#reconnect').isVisible()).toBe(true);
    expect(await demo.sse.isOnline('carol')).toBe(false);

    // Until asked to.
    await carol.click('#reconnect');
    await stateIs(carol, 'open');
    expect(await demo.sse.isOnline('carol')).toBe(true);
    // The stream works again: the notice that it would not reconnect is gone.
    expect(await carol.locator('#notice').isHidden()).toBe(true);
  });
});
