import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { SseClient } from './sse-client.js';

/**
 * The client's dispatch under Node (no Web Locks: each client has its own connection),
 * against a real server that writes the wire by hand.
 */
describe('SseClient dispatch', () => {
  let server: Server;
  let base: string;
  let answer: (request: IncomingMessage, response: ServerResponse) => void;
  const requests: IncomingMessage[] = [];

  beforeEach(async () => {
    requests.length = 0;
    server = createServer((request, response) => {
      requests.push(request);
      answer(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function stream(body: string): void {
    answer = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(body);
    };
  }

  it('dispatches MessageEvents by name, skips the blank first event, then sse:close ends it', async () => {
    stream(
      'id: first\nretry: 60000\ndata:\n\n' +
        ': heartbeat\n\n' +
        'id: 1\ndata: plain\n\n' +
        'id: 2\nevent: shipped\ndata: {"order":7}\n\n' +
        'id: 3\nevent: sse:close\ndata: {"reason":"disconnected"}\n\n',
    );
    const client = new SseClient<{ shipped: MessageEvent<string> }>(`${base}/sse`, {
      topics: ['public:news', 'team:a'],
      headers: { 'x-app': 'demo' },
      lastEventId: 'resume-here',
    });
    expect(client.role).toBe('own');
    expect(client.readyState).toBe(SseClient.CONNECTING);
    const seen: Array<[string, string, string]> = [];
    const record = (event: MessageEvent<string>) =>
      seen.push([event.type, event.data, event.lastEventId]);
    client.onmessage = record;
    client.addEventListener('shipped', record);
    client.addEventListener('sse:close', record);
    const opened = new Promise<number>((resolve) =>
      client.addEventListener('open', () => resolve(client.readyState)),
    );
    const closed = new Promise<number>((resolve) => {
      client.onerror = () => resolve(client.readyState);
    });
    expect(await opened).toBe(SseClient.OPEN);
    expect(await closed).toBe(SseClient.CLOSED);
    expect(seen).toEqual([
      ['message', 'plain', '1'],
      ['shipped', '{"order":7}', '2'],
      ['sse:close', '{"reason":"disconnected"}', '3'],
    ]);
    expect(client.lastEventId).toBe('3');
    expect(requests).toHaveLength(1);
    expect(requests[0].url).toBe('/sse?topic=public%3Anews&topic=team%3Aa');
    expect(requests[0].headers).toMatchObject({
      accept: 'text/event-stream',
      'last-event-id': 'resume-here',
      'x-app': 'demo',
    });
    expect(requests[0].headers.authorization).toBeUndefined();
  });

  it('close() ends the connection without an error event', async () => {
    stream('id: a\ndata:\n\n');
    const client = new SseClient(`${base}/sse`);
    const errors: number[] = [];
    client.addEventListener('error', () => errors.push(client.readyState));
    await new Promise((resolve) => client.addEventListener('open', resolve));
    const gone = new Promise((resolve) => requests[0].socket.once('close', resolve));
    client.close();
    await gone;
    expect(client.readyState).toBe(SseClient.CLOSED);
    expect(errors).toEqual([]);
  });

  it('refuses a URL it cannot resolve, saying what to do', () => {
    expect(() => new SseClient('/sse')).toThrow(SyntaxError);
    expect(() => new SseClient('/sse')).toThrow(/Potential solutions: give an absolute URL/);
  });

  it('types addEventListener by the event map', () => {
    answer = (_request, response) => void response.writeHead(404).end();
    const client = new SseClient<{ shipped: MessageEvent<string> }>(`${base}/sse`);
    client.addEventListener('shipped', (event) =>
      expectTypeOf(event).toEqualTypeOf<MessageEvent<string>>(),
    );
    client.addEventListener('open', (event) => expectTypeOf(event).toEqualTypeOf<Event>());
    // @ts-expect-error: not a name of the map, nor a built-in event.
    client.addEventListener('shiped', () => undefined);
    client.close();
    expect(client.readyState).toBe(SseClient.CLOSED);
  });
});
