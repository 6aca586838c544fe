import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { backoffDelay, MAX_BACKOFF_MS, retryDelay } from './sse-backoff.js';
import { SseClient } from './sse-client.js';

describe('retryDelay and backoffDelay', () => {
  it("waits the server's retry plus a jitter of at most a quarter of it, at most a second", () => {
    expect(retryDelay(200, () => 0)).toBe(200);
    expect(retryDelay(200, () => 0.999)).toBe(249);
    expect(retryDelay(60_000, () => 0.999)).toBe(60_999);
  });

  it('doubles from a second after each failure, half of it random, capped at 30 s', () => {
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(n, () => 0))).toEqual([
      500, 1000, 2000, 4000, 8000,
    ]);
    expect(backoffDelay(2, () => 0.999)).toBe(3998);
    for (const failures of [5, 6, 20, 1000]) {
      expect(backoffDelay(failures, () => 0.999)).toBeLessThanOrEqual(MAX_BACKOFF_MS);
      expect(backoffDelay(failures, () => 0)).toBe(MAX_BACKOFF_MS / 2);
    }
  });
});

/**
 * The client's schedule against a real server, with fake timers for its waits: what it does
 * after 503s, a 403, a 401 and a clean end. `fetch` is observed (not replaced) to count the
 * attempts the moment they are made.
 */
describe('SseClient reconnection schedule (Node, fake timers)', () => {
  let server: Server;
  let url: string;
  let answer: (request: IncomingMessage, response: ServerResponse) => void;
  const requests: IncomingMessage[] = [];
  let attempts: MockInstance<typeof fetch>;

  beforeEach(async () => {
    requests.length = 0;
    server = createServer((request, response) => {
      requests.push(request);
      answer(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`;
    attempts = vi.spyOn(globalThis, 'fetch');
    vi.spyOn(Math, 'random').mockReturnValue(0);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });

  afterEach(async () => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function next(client: SseClient, type: 'open' | 'error'): Promise<number> {
    return new Promise((resolve) =>
      client.addEventListener(type, () => resolve(client.readyState), { once: true }),
    );
  }

  it('backs off 0.5 s, 1 s, 2 s after 503s, then resumes with Last-Event-ID after retry', async () => {
    let failing = 3;
    answer = (_request, response) => {
      if (failing-- > 0) return void response.writeHead(503).end();
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end('id: first\nretry: 250\ndata:\n\nid: m1\ndata: hello\n\n');
    };
    const client = new SseClient(url, { shared: false });
    const messages: string[] = [];
    client.addEventListener('message', (event) => messages.push(event.data));

    for (const [wait, count] of [
      [500, 1],
      [1000, 2],
      [2000, 3],
    ]) {
      expect(await next(client, 'error')).toBe(SseClient.CONNECTING);
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(attempts).toHaveBeenCalledTimes(count);
      await vi.advanceTimersByTimeAsync(1);
      expect(attempts).toHaveBeenCalledTimes(count + 1);
    }
    // Open, one message (the blank first event is not dispatched), then the clean end.
    expect(await next(client, 'open')).toBe(SseClient.OPEN);
    expect(await next(client, 'error')).toBe(SseClient.CONNECTING);
    expect(messages).toEqual(['hello']);
    expect(client.lastEventId).toBe('m1');
    await vi.advanceTimersByTimeAsync(249);
    expect(attempts).toHaveBeenCalledTimes(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toHaveBeenCalledTimes(5);
    await next(client, 'open');
    expect(requests[4].headers['last-event-id']).toBe('m1');
    client.close();
  });

  it('closes for good on 403: one error event, readyState 2, no attempt after', async () => {
    answer = (_request, response) => void response.writeHead(403).end();
    const client = new SseClient(url, { shared: false });
    const errors: number[] = [];
    client.addEventListener('error', () => errors.push(client.readyState));
    expect(await next(client, 'error')).toBe(SseClient.CLOSED);
    await vi.advanceTimersByTimeAsync(MAX_BACKOFF_MS * 4);
    expect(attempts).toHaveBeenCalledTimes(1);
    expect(errors).toEqual([SseClient.CLOSED]);
  });

  it('asks for a fresh token once on 401, then gives up', async () => {
    answer = (_request, response) => void response.writeHead(401).end();
    let issued = 0;
    const client = new SseClient(url, { shared: false, token: () => `t${++issued}` });
    expect(await next(client, 'error')).toBe(SseClient.CLOSED);
    await vi.advanceTimersByTimeAsync(MAX_BACKOFF_MS * 4);
    expect(attempts).toHaveBeenCalledTimes(2);
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer t1', 'Bearer t2']);
  });
});
