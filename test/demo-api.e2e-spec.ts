import { SseOptionsError } from 'nestjs-sse-hub';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signDemoToken } from '../apps/demo/src/auth/demo-token.js';
import { createDemoApp } from '../apps/demo/src/demo-app.factory.js';
import type { DemoPlatform } from '../apps/demo/src/demo.config.js';
import { DemoServer } from './support/demo-server.js';
import { RawSseClient } from './support/sse-client.js';

/**
 * Every row of the demo's HTTP contract (SPEC §5), against the demo listening on a real
 * port, with `fetch` and a raw SSE client, on both platforms and both transports.
 */

const SECRET = 'demo-api-test-secret';
const RETRY = 4321;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MAX_MESSAGE_BYTES = 65_536;

const setups: Array<[DemoPlatform, 'direct' | 'observable']> = [
  ['express', 'direct'],
  ['express', 'observable'],
  ['fastify', 'direct'],
  ['fastify', 'observable'],
];

/** Routes that need a signed-in user, with a body each would otherwise accept. */
const PROTECTED: Array<[string, string, unknown]> = [
  ['GET', '/sse', undefined],
  ['POST', '/messages', { to: 'bob', data: 'hi' }],
  ['POST', '/messages/broadcast', { data: 'hi' }],
  ['DELETE', '/sse', undefined],
  ['GET', '/sse/online', undefined],
];

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Credentials that must not sign anyone in, each with what is wrong with it. */
function badCredentials(): Array<[string, { token?: string; cookie?: string }]> {
  const secret = Buffer.from(SECRET);
  const valid = signDemoToken(secret, 'alice', 3600);
  const [, signature] = valid.split('.');
  const now = Math.floor(Date.now() / 1000);
  return [
    ['nothing', {}],
    ['a token that is not one', { token: 'not-a-token' }],
    ['an empty bearer', { token: '' }],
    [
      'a payload swapped under a valid signature',
      { token: `${base64url({ sub: 'mallory', iat: now, exp: now + 3600 })}.${signature}` },
    ],
    ['an expired token', { token: signDemoToken(secret, 'alice', 60, Date.now() - 3_600_000) }],
    ['a token of another secret', { token: signDemoToken(Buffer.from('other'), 'alice', 3600) }],
    ['a cookie that is not a token', { cookie: 'sse_demo_token=forged' }],
    ['a valid token under another cookie name', { cookie: `token=${valid}` }],
  ];
}

describe.each(setups)('demo on %s with the %s transport', (platform, transport) => {
  let demo: DemoServer;
  const clients: RawSseClient[] = [];

  beforeAll(async () => {
    demo = await DemoServer.start({ platform, transport, secret: SECRET, retry: RETRY });
  });

  it('runs on the platform it says', () => {
    expect(demo.app.getHttpAdapter().getType()).toBe(platform);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    // Every stream of the test is gone on the server too before the next one starts.
    await demo.untilConnections(0);
  });

  afterAll(async () => {
    await demo?.close();
  });

  /** Opens a stream and waits for its first event. */
  async function open(headers: Record<string, string>): Promise<RawSseClient> {
    const client = await RawSseClient.open(`${demo.url}/sse`, headers);
    clients.push(client);
    expect({ status: client.status, body: client.body }).toEqual({ status: 200, body: '' });
    await client.waitForEvents(1);
    return client;
  }

  async function streamOf(userId: string): Promise<RawSseClient> {
    const { token } = await demo.login(userId);
    return open({ authorization: `Bearer ${token}` });
  }

  /** Waits for the next event with data or a name after the first `count` ones. */
  async function nextMessage(client: RawSseClient, count: number) {
    await client.waitFor((c) => c.messages.length > count, 5000, `message ${count + 1}`);
    return client.messages[count];
  }

  describe('GET /', () => {
    it('serves the page and its assets without signing in', async () => {
      const page = await demo.request('GET', '/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.text).toContain('<title>nestjs-sse-hub demo</title>');
      expect(page.text).toContain('/assets/app.js');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");

      const script = await demo.request('GET', '/assets/app.js');
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(script.text).toContain("import { SseClient } from '/sse-client.js'");

      const client = await demo.request('GET', '/sse-client.js');
      expect(client.status).toBe(200);
      expect(client.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(client.text).toContain('SseClient');

      const style = await demo.request('GET', '/assets/style.css');
      expect(style.status).toBe(200);
      expect(style.headers.get('content-type')).toMatch(/^text\/css/);
    });
  });

  describe('POST /auth/login', () => {
    it('answers a token and sets it as an HttpOnly cookie', async () => {
      const answer = await demo.request('POST', '/auth/login', { json: { userId: 'alice' } });
      expect(answer.status).toBe(200);
      const { token } = answer.body as { token: string };
      expect(typeof token).toBe('string');
      const cookie = answer.headers.get('set-cookie') ?? '';
      const [pair, ...attributes] = cookie.split(';').map((part) => part.trim());
      expect(pair).toBe(`sse_demo_token=${token}`);
      expect(attributes).toContain('HttpOnly');
      expect(attributes).toContain('Path=/');
      expect(attributes).toContain('SameSite=Strict');
      expect(attributes.some((a) => /^Max-Age=\d+$/.test(a))).toBe(true);
    });

    it.each(['a', 'x'.repeat(64), 'Alice_B.c@d-9', '0'])('accepts the user id %j', async (id) => {
      const answer = await demo.request('POST', '/auth/login', { json: { userId: id } });
      expect(answer.status).toBe(200);
    });

    it.each<[string, { json?: unknown; raw?: string }]>([
      ['no userId', { json: {} }],
      ['an empty userId', { json: { userId: '' } }],
      ['65 characters', { json: { userId: 'x'.repeat(65) } }],
      ['a space', { json: { userId: 'al ice' } }],
      ['a slash', { json: { userId: 'a/b' } }],
      ['a colon', { json: { userId: 'a:b' } }],
      ['a non-ASCII letter', { json: { userId: 'élodie' } }],
      ['a line feed', { json: { userId: 'a\nb' } }],
      ['a number', { json: { userId: 42 } }],
      ['null', { json: { userId: null } }],
      ['an array body', { json: ['alice'] }],
      ['malformed JSON', { raw: '{"userId":' }],
    ])('answers 400 for %s', async (_, init) => {
      const answer = await demo.request('POST', '/auth/login', init);
      expect(answer.status).toBe(400);
      expect(answer.headers.get('set-cookie')).toBeNull();
    });
  });

  describe('signing in', () => {
    it.each(PROTECTED)('%s %s answers 401 without a valid token', async (method, path, json) => {
      for (const [what, credentials] of badCredentials()) {
        const answer = await demo.request(method, path, { ...credentials, json });
        expect({ what, status: answer.status }).toEqual({ what, status: 401 });
      }
    });

    it('takes the token from the cookie or from a Bearer header', async () => {
      const { token, cookie } = await demo.login('alice');
      expect((await demo.request('GET', '/sse/online', { token })).status).toBe(200);
      expect((await demo.request('GET', '/sse/online', { cookie })).status).toBe(200);
      const withCookie = await open({ cookie });
      const withBearer = await open({ authorization: `Bearer ${token}` });
      expect(withCookie.status).toBe(200);
      expect(withBearer.status).toBe(200);
    });

    it('does not let a cookie make up for a bad Bearer header', async () => {
      const { cookie } = await demo.login('alice');
      const answer = await demo.request('GET', '/sse/online', { cookie, token: 'bad' });
      expect(answer.status).toBe(401);
    });
  });

  describe('GET /sse', () => {
    it('streams at once: headers, then an id, the retry and empty data', async () => {
      const client = await streamOf('alice');
      expect(client.response.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(client.response.headers['cache-control']).toContain('no-cache');
      const [first] = client.events;
      expect(first.id).toMatch(UUID_V7);
      expect(first.retry).toBe(RETRY);
      expect(first.data).toBe('');
      expect(first.event).toBeUndefined();
    });
  });

  describe('POST /messages', () => {
    it.each<[string, unknown, string]>([
      ['a string', 'hello', 'hello'],
      ['a multi-line string', 'line 1\nline 2\n\nline 4\n', 'line 1\nline 2\n\nline 4\n'],
      ['an empty string', '', ''],
      ['a string that looks like JSON', '{"a":1}', '{"a":1}'],
      [
        'an object',
        { text: 'é ✓ "quoted"', n: 1.5, list: [true, null] },
        '{"text":"é ✓ \\"quoted\\"","n":1.5,"list":[true,null]}',
      ],
      ['an array', [1, 'two'], '[1,"two"]'],
      ['a number', 42, '42'],
      ['false', false, 'false'],
      ['null', null, 'null'],
    ])('delivers %s unchanged', async (_, data, expected) => {
      const bob = await streamOf('bob');
      const { token } = await demo.login('alice');
      const answer = await demo.request('POST', '/messages', { token, json: { to: 'bob', data } });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ id: expect.stringMatching(UUID_V7), delivered: 1 });
      const { id } = answer.body as { id: string };
      const event = await nextMessage(bob, 1);
      expect(event).toMatchObject({ id, data: expected });
      expect(event.event).toBeUndefined();
    });

    it('sends with the caller’s own id and event name', async () => {
      const bob = await streamOf('bob');
      const { token } = await demo.login('alice');
      const json = { to: 'bob', data: { n: 1 }, event: 'chat', id: 'order-42' };
      const answer = await demo.request('POST', '/messages', { token, json });
      expect(answer.body).toEqual({ id: 'order-42', delivered: 1 });
      expect(await nextMessage(bob, 1)).toMatchObject({
        id: 'order-42',
        event: 'chat',
        data: '{"n":1}',
      });
    });

    it('reports delivered 0 for a user who is not connected', async () => {
      const { token } = await demo.login('alice');
      const answer = await demo.request('POST', '/messages', {
        token,
        json: { to: 'nobody-here', data: 'hello' },
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ id: expect.stringMatching(UUID_V7), delivered: 0 });
    });

    it.each<[string, { json?: unknown; raw?: string }, RegExp]>([
      ['an array body', { json: [{ to: 'bob', data: 1 }] }, /JSON object/],
      ['malformed JSON', { raw: '{"to":"bob","data":' }, /./],
      ['no recipient', { json: { data: 'hi' } }, /to must be a user id/],
      ['a recipient that is not a user id', { json: { to: 'b o b', data: 'hi' } }, /to must/],
      ['a recipient of 65 characters', { json: { to: 'b'.repeat(65), data: 'hi' } }, /to must/],
      ['a number as recipient', { json: { to: 7, data: 'hi' } }, /to must/],
      ['no data', { json: { to: 'bob' } }, /data is required/],
      [
        'the reserved event sse:close',
        { json: { to: 'bob', data: 1, event: 'sse:close' } },
        /sse:/,
      ],
      ['the reserved event sse:gap', { json: { to: 'bob', data: 1, event: 'sse:gap' } }, /sse:/],
      ['an event named sse:other', { json: { to: 'bob', data: 1, event: 'sse:other' } }, /sse:/],
      ['an event named error', { json: { to: 'bob', data: 1, event: 'error' } }, /error/],
      ['an event name with LF', { json: { to: 'bob', data: 1, event: 'a\nb' } }, /CR or LF/],
      ['an empty event name', { json: { to: 'bob', data: 1, event: '' } }, /empty/],
      ['an event name that is a number', { json: { to: 'bob', data: 1, event: 5 } }, /event/],
      ['an id with CR LF', { json: { to: 'bob', data: 1, id: 'a\r\nb' } }, /CR or LF/],
      ['an id with CR', { json: { to: 'bob', data: 1, id: 'a\rb' } }, /CR or LF/],
      ['an id with LF', { json: { to: 'bob', data: 1, id: 'a\nb' } }, /CR or LF/],
      ['an empty id', { json: { to: 'bob', data: 1, id: '' } }, /empty/],
      ['an id of 257 characters', { json: { to: 'bob', data: 1, id: 'i'.repeat(257) } }, /id/],
      ['an id that is a number', { json: { to: 'bob', data: 1, id: 5 } }, /id/],
    ])('answers 400 for %s, and sends nothing', async (_, init, message) => {
      const bob = await streamOf('bob');
      const { token } = await demo.login('alice');
      const answer = await demo.request('POST', '/messages', { token, ...init });
      expect({ status: answer.status, body: answer.body }).toMatchObject({ status: 400 });
      expect((answer.body as { message: string }).message).toMatch(message);
      // A message sent afterwards is the next thing bob gets.
      await demo.request('POST', '/messages', { token, json: { to: 'bob', data: 'after' } });
      expect((await nextMessage(bob, 1)).data).toBe('after');
    });

    it('answers 413 for data over maxMessageBytes, and accepts data at the limit', async () => {
      const { token } = await demo.login('alice');
      const over = await demo.request('POST', '/messages', {
        token,
        json: { to: 'bob', data: 'x'.repeat(MAX_MESSAGE_BYTES + 1) },
      });
      expect(over.status).toBe(413);
      expect((over.body as { message: string }).message).toMatch(/maxMessageBytes/);
      // Counted in UTF-8 bytes, as it goes on the wire: 'é' is two.
      const overInBytes = await demo.request('POST', '/messages', {
        token,
        json: { to: 'bob', data: 'é'.repeat(MAX_MESSAGE_BYTES / 2 + 1) },
      });
      expect(overInBytes.status).toBe(413);
      const atLimit = await demo.request('POST', '/messages', {
        token,
        json: { to: 'bob', data: 'x'.repeat(MAX_MESSAGE_BYTES) },
      });
      expect(atLimit.status).toBe(200);
    });
  });

  describe('POST /messages/broadcast', () => {
    it('reaches every connected user', async () => {
      const alice = await streamOf('alice');
      const bob = await streamOf('bob');
      const { token } = await demo.login('carol');
      const answer = await demo.request('POST', '/messages/broadcast', {
        token,
        json: { data: { hello: 'all' }, event: 'notice' },
      });
      expect(answer.status).toBe(200);
      const { id } = answer.body as { id: string };
      expect(answer.body).toEqual({ id: expect.stringMatching(UUID_V7), delivered: 2 });
      for (const client of [alice, bob]) {
        expect(await nextMessage(client, 1)).toMatchObject({
          id,
          event: 'notice',
          data: '{"hello":"all"}',
        });
      }
    });

    it.each<[string, unknown, number]>([
      ['no data', {}, 400],
      ['a reserved event name', { data: 1, event: 'sse:close' }, 400],
      ['an id with CR LF', { data: 1, id: 'a\r\nb' }, 400],
      ['data over maxMessageBytes', { data: 'x'.repeat(MAX_MESSAGE_BYTES + 1) }, 413],
    ])('answers an error for %s', async (_, json, status) => {
      const { token } = await demo.login('alice');
      const answer = await demo.request('POST', '/messages/broadcast', { token, json });
      expect(answer.status).toBe(status);
    });
  });

  describe('DELETE /sse', () => {
    it('ends the caller’s streams with sse:close, and no one else’s', async () => {
      const { token } = await demo.login('alice');
      const tabs = [await streamOf('alice'), await streamOf('alice')];
      const bob = await streamOf('bob');

      const answer = await demo.request('DELETE', '/sse', { token });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ disconnected: true });
      for (const tab of tabs) {
        await tab.waitForEnd();
        const last = tab.messages.at(-1);
        expect(last?.event).toBe('sse:close');
        expect(JSON.parse(last?.data ?? '')).toEqual({ reason: 'disconnected' });
      }
      await demo.untilConnections(1);

      expect(bob.ended).toBe(false);
      await demo.request('POST', '/messages', { token, json: { to: 'bob', data: 'still here' } });
      expect((await nextMessage(bob, 1)).data).toBe('still here');

      const again = await demo.request('DELETE', '/sse', { token });
      expect(again.body).toEqual({ disconnected: false });
    });
  });

  describe('GET /sse/online', () => {
    it('lists the users with an open stream', async () => {
      const { token } = await demo.login('carol');
      expect((await demo.request('GET', '/sse/online', { token })).body).toEqual({ users: [] });

      await streamOf('bob');
      const aliceTabs = [await streamOf('alice'), await streamOf('alice')];
      const answer = await demo.request('GET', '/sse/online', { token });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ users: ['alice', 'bob'] });

      aliceTabs[0].close();
      await demo.untilConnections(2);
      expect((await demo.request('GET', '/sse/online', { token })).body).toEqual({
        users: ['alice', 'bob'],
      });
      aliceTabs[1].close();
      await demo.untilConnections(1);
      expect((await demo.request('GET', '/sse/online', { token })).body).toEqual({
        users: ['bob'],
      });
    });
  });

  describe('several tabs of one user', () => {
    it('delivers each message to every tab, once, in order', async () => {
      const { token, cookie } = await demo.login('alice');
      const tabs = [await open({ cookie }), await open({ authorization: `Bearer ${token}` })];
      const ids: string[] = [];
      for (const data of ['one', 'two', 'three']) {
        const answer = await demo.request('POST', '/messages', {
          token,
          json: { to: 'alice', data },
        });
        expect((answer.body as { delivered: number }).delivered).toBe(2);
        ids.push((answer.body as { id: string }).id);
      }
      for (const tab of tabs) {
        await tab.waitFor((c) => c.messages.length >= 4, 5000, 'three messages');
        expect(tab.messages.slice(1).map((m) => [m.id, m.data])).toEqual([
          [ids[0], 'one'],
          [ids[1], 'two'],
          [ids[2], 'three'],
        ]);
      }
    });
  });
});

describe('demo start-up', () => {
  it.each<[string, Parameters<typeof createDemoApp>[0], string]>([
    ['a timeout below 0', { timeout: -1 }, 'timeout'],
    ['no connection per user', { maxConnectionsPerUser: 0 }, 'maxConnectionsPerUser'],
    ['a retry that is not whole', { retry: 1.5, platform: 'fastify' }, 'retry'],
  ])('refuses %s, naming the option, without ending the process', async (_, config, option) => {
    const creating = createDemoApp({ ...config, logger: false });
    await expect(creating).rejects.toBeInstanceOf(SseOptionsError);
    await expect(creating).rejects.toMatchObject({ option });
  });
});
