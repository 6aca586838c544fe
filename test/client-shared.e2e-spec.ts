import type { IncomingMessage } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DemoServer } from './support/demo-server.js';
import { CHROMIUM_PATH, chromiumRequirement } from './support/requirements.js';

/**
 * One connection for the tabs of one browser (SPEC §8): three pages of one browser context,
 * signed in as one user on the demo's page, make one `GET /sse` between them, each shows
 * every message, a hand-over when the holding tab closes loses nothing and repeats nothing,
 * and `sse:close` closes every tab.
 */

const chromiumFound = chromiumRequirement();
const suite = chromiumFound.available ? describe : describe.skip;

suite('shared connection of the browser client, in Chromium against the demo', () => {
  let demo: DemoServer;
  let browser: Browser;
  let context: BrowserContext | undefined;
  const pageErrors: string[] = [];
  /** Every `GET /sse` the server received. */
  const streamRequests: IncomingMessage[] = [];

  beforeAll(async () => {
    demo = await DemoServer.start({ retry: 200 });
    demo.httpServer.on('request', (request: IncomingMessage) => {
      if (request.method === 'GET' && /^\/sse(\?|$)/.test(request.url ?? '')) {
        streamRequests.push(request);
      }
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    streamRequests.length = 0;
    await demo.untilConnections(0);
    const errors = pageErrors.splice(0);
    if (errors.length > 0) throw new Error(`The page reported errors:\n${errors.join('\n')}`);
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  /** Three tabs of one browser, signed in as `userId`: the first through the form. */
  async function threeTabs(userId: string): Promise<Page[]> {
    context = await browser.newContext();
    const tabs: Page[] = [];
    for (let i = 0; i < 3; i++) {
      const tab = await context.newPage();
      tab.on('pageerror', (error) => pageErrors.push(`tab ${i}: ${error.message}`));
      await tab.goto(demo.url);
      // The first signs in; the others find the user the browser remembers.
      if (i === 0) {
        await tab.fill('#user-id', userId);
        await tab.click('#sign-in-button');
      }
      await tab.locator('#state[data-state="open"]').waitFor();
      tabs.push(tab);
    }
    return tabs;
  }

  /** The data of the messages a tab shows, oldest first, once `count` are shown. */
  async function shownData(tab: Page, count: number): Promise<string[]> {
    const items = tab.locator('#messages li.event');
    await items.nth(count - 1).waitFor();
    const data = await items.locator('.data').allTextContents();
    return data.reverse();
  }

  async function roles(tabs: Page[]): Promise<string[]> {
    return Promise.all(tabs.map((tab) => tab.getAttribute('#role', 'data-role').then(String)));
  }

  async function send(userId: string, token: string, data: string): Promise<void> {
    const answer = await demo.request('POST', '/messages', { token, json: { to: userId, data } });
    expect(answer.status).toBe(200);
  }

  it('three tabs of one user make one GET /sse, and each gets every event, in order', async () => {
    const tabs = await threeTabs('erin');
    await demo.untilConnections(1);
    expect(streamRequests).toHaveLength(1);
    expect((await roles(tabs)).sort()).toEqual(['holder', 'sharer', 'sharer']);
    await tabs[1].locator('#role').filter({ hasText: "Shares another tab's connection" }).waitFor();

    const { token } = await demo.login('frank');
    const sent = Array.from({ length: 10 }, (_, i) => `to every tab ${i + 1}`);
    for (const data of sent) await send('erin', token, data);
    for (const tab of tabs) expect(await shownData(tab, sent.length)).toEqual(sent);
    expect(streamRequests).toHaveLength(1);
    expect(demo.sse.stats().connections).toBe(1);
  });

  it('the holding tab closes while messages flow: the others miss none, none twice, in order', async () => {
    const tabs = await threeTabs('grace');
    await demo.untilConnections(1);
    const holderIndex = (await roles(tabs)).indexOf('holder');
    const holder = tabs[holderIndex];
    const others = tabs.filter((_, i) => i !== holderIndex);

    const { token } = await demo.login('heidi');
    const sent = Array.from({ length: 40 }, (_, i) => `message ${i + 1}`);
    const flowing = (async () => {
      for (const data of sent) await send('grace', token, data);
    })();
    // Close the holder once some messages have reached it, while the rest are being sent.
    await holder.locator('#messages li.event').nth(9).waitFor();
    await holder.close();
    await flowing;

    for (const tab of others) expect(await shownData(tab, sent.length)).toEqual(sent);
    // One of them took over: a second GET /sse, resuming with Last-Event-ID.
    await others[0].locator('#role[data-role="holder"], #role[data-role="sharer"]').waitFor();
    expect((await roles(others)).sort()).toEqual(['holder', 'sharer']);
    expect(streamRequests).toHaveLength(2);
    expect(streamRequests[1].headers['last-event-id']).toMatch(/\S/);
    await demo.untilConnections(1);
    // Nothing more came later either: exactly the 40, in every remaining tab.
    const { id } = (
      await demo.request('POST', '/messages', { token, json: { to: 'grace', data: 'last' } })
    ).body as { id: string };
    for (const tab of others) {
      expect(await shownData(tab, sent.length + 1)).toEqual([...sent, 'last']);
      await tab.locator(`#messages li.event[data-id="${id}"]`).waitFor();
    }
  });

  it('sse:close closes every tab, and none reconnects', async () => {
    const tabs = await threeTabs('ivan');
    await demo.untilConnections(1);
    await tabs[2].click('#disconnect-all');
    for (const tab of tabs) {
      await tab.locator('#state[data-state="closed"]').waitFor();
      expect(await tab.getAttribute('#state', 'data-ready-state')).toBe('CLOSED');
      await tab.locator('#messages li.system.close').filter({ hasText: 'disconnected' }).waitFor();
    }
    await demo.untilConnections(0);
    // A sign-in of another user and its stream come and go; no tab of ivan's came back.
    const other = await browser.newContext();
    try {
      const tab = await other.newPage();
      await tab.goto(demo.url);
      await tab.fill('#user-id', 'judy');
      await tab.click('#sign-in-button');
      await tab.locator('#state[data-state="open"]').waitFor();
    } finally {
      await other.close();
    }
    expect(streamRequests).toHaveLength(2);
    expect(await demo.sse.isOnline('ivan')).toBe(false);

    // "Reconnect" in one tab opens one stream again, which the others do not join by
    // themselves: they stay closed until asked.
    await tabs[0].click('#reconnect');
    await tabs[0].locator('#state[data-state="open"]').waitFor();
    expect(await tabs[0].getAttribute('#role', 'data-role')).toBe('holder');
    expect(await demo.sse.isOnline('ivan')).toBe(true);
    expect(await tabs[1].getAttribute('#state', 'data-state')).toBe('closed');
  });
});
