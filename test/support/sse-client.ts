import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/** One parsed event of a text/event-stream. */
export interface ParsedEvent {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
  /** Comment lines of the block (heartbeats), without the colon. */
  comments: string[];
}

/**
 * Whether an EventSource dispatches an event for this block: it does for every block with
 * a data field (the blank first event of a connection included), not for comments
 * (heartbeats) nor for a block that only sets `id` and `retry` (the end of a stream at
 * shutdown). Takes parsed blocks and NestJS `MessageEvent`s alike.
 */
export function isDispatched(event: { readonly data?: unknown }): boolean {
  return event.data !== undefined;
}

/** Parses complete blocks out of a buffer; returns them and the unfinished rest. */
export function parseEvents(text: string): { events: ParsedEvent[]; rest: string } {
  const events: ParsedEvent[] = [];
  const blocks = text.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    if (block === '') continue;
    const event: ParsedEvent = { comments: [] };
    const data: string[] = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (line.startsWith(':')) {
        event.comments.push(line.slice(1));
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') event.id = value;
      else if (field === 'event') event.event = value;
      else if (field === 'retry') event.retry = Number(value);
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) event.data = data.join('\n');
    events.push(event);
  }
  return { events, rest };
}

/**
 * A raw SSE client over `node:http`: every block it receives, comments included, in
 * order, with a way to wait for the next ones.
 */
export class RawSseClient {
  readonly events: ParsedEvent[] = [];
  response!: IncomingMessage;
  status = 0;
  body = '';
  ended = false;
  private buffer = '';
  private waiters: Array<() => void> = [];
  private request!: ClientRequest;

  static async open(url: string, headers: Record<string, string> = {}): Promise<RawSseClient> {
    const client = new RawSseClient();
    await client.connect(url, headers);
    return client;
  }

  private connect(url: string, headers: Record<string, string>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.request = request(url, { headers: { accept: 'text/event-stream', ...headers } });
      this.request.on('response', (response) => {
        this.response = response;
        this.status = response.statusCode ?? 0;
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (this.status !== 200) {
            this.body += chunk;
            return;
          }
          this.buffer += chunk;
          const { events, rest } = parseEvents(this.buffer);
          this.buffer = rest;
          if (events.length > 0) {
            this.events.push(...events);
            this.wake();
          }
        });
        response.on('end', () => {
          this.ended = true;
          this.wake();
        });
        response.on('close', () => {
          this.ended = true;
          this.wake();
        });
        if (this.status !== 200) response.on('end', () => resolve());
        else resolve();
      });
      this.request.on('error', (error) => {
        this.ended = true;
        this.wake();
        reject(error);
      });
      this.request.end();
    });
  }

  /** What an EventSource would dispatch (`isDispatched`), the blank first event included. */
  get messages(): ParsedEvent[] {
    return this.events.filter(isDispatched);
  }

  /** Resolves once `predicate` holds, or rejects after `timeoutMs`. */
  waitFor(predicate: (client: this) => boolean, timeoutMs = 5000, what = 'events'): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        reject(
          new Error(
            `Timed out waiting for ${what}; got ${JSON.stringify(this.events)} ended=${this.ended}`,
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  /** Waits until `count` events (comments included) have arrived. */
  waitForEvents(count: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.events.length >= count, timeoutMs, `${count} events`);
  }

  /** Waits until the server ends the response. */
  waitForEnd(timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.ended, timeoutMs, 'the end of the stream');
  }

  close(): void {
    this.request.destroy();
  }

  private wake(): void {
    for (const waiter of this.waiters.slice()) waiter();
  }
}

/**
 * What an EventSource dispatches after the first event of a connection: the events an
 * application listens for (`sse:*` included).
 */
export function received(client: RawSseClient): ParsedEvent[] {
  return client.messages.slice(1);
}

/** Data of the received events that are messages (not `sse:*`). */
export function receivedData(client: RawSseClient): (string | undefined)[] {
  return received(client)
    .filter((event) => !event.event?.startsWith('sse:'))
    .map((event) => event.data);
}
