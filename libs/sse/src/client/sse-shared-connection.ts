import type { SseClientOptions, SseReadyState } from './sse-client.options.js';
import { CLOSED, CONNECTING, OPEN } from './sse-client.options.js';
import type { SseReceiver } from './sse-receiver.js';
import type { ParsedSseEvent } from './sse-parser.js';
import { SseStream } from './sse-stream.js';

/** What the tabs of one connection tell each other over their BroadcastChannel. */
type TabMessage =
  | { kind: 'hello' }
  | { kind: 'state'; state: SseReadyState; lastEventId: string }
  | { kind: 'open' }
  | { kind: 'event'; event: ParsedSseEvent; blank: boolean }
  | { kind: 'error'; final: boolean };

/** How many recent events a tab remembers, to drop one that a hand-over brings twice. */
const REMEMBERED_IDS = 512;

/** Whether this browser has what sharing needs: Web Locks and BroadcastChannel. */
export function canShare(): boolean {
  return (
    typeof BroadcastChannel === 'function' &&
    typeof navigator !== 'undefined' &&
    typeof navigator.locks?.request === 'function'
  );
}

/** The name of the lock and channel: the URL, its topics sorted, so that their order does not matter. */
function sharingName(url: string): string {
  const key = new URL(url);
  const topics = key.searchParams.getAll('topic').sort();
  key.searchParams.delete('topic');
  for (const topic of topics) key.searchParams.append('topic', topic);
  return `nestjs-sse-hub:${key.href}`;
}

/**
 * One connection for every tab of this origin that opens the same URL: the tab that holds
 * the Web Lock named after the URL holds the stream and posts each event to the others on a
 * BroadcastChannel of the same name. When it goes, the lock passes to the next tab, which
 * resumes from the last event handed on. See docs/client.md.
 */
export class SseSharedConnection {
  private readonly channel: BroadcastChannel;
  private readonly abandon = new AbortController();
  private readonly seen = new Set<string>();
  private stream: SseStream | undefined;
  private release: (() => void) | undefined;
  private state: SseReadyState = CONNECTING;
  private ended = false;
  private channelOpen = true;

  constructor(
    private readonly url: string,
    private readonly options: SseClientOptions,
    private readonly receiver: SseReceiver,
    /** The last event id this tab has dispatched or been handed. */
    public lastEventId: string,
  ) {
    const name = sharingName(url);
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (message: MessageEvent<TabMessage>) => this.heard(message.data);
    navigator.locks
      .request(name, { signal: this.abandon.signal }, () => this.hold())
      .catch(() => undefined);
    this.post({ kind: 'hello' });
  }

  /** Whether this tab holds the connection. */
  get holding(): boolean {
    return this.release !== undefined;
  }

  /** Leaves: a holder ends its stream and lets the next tab take over. */
  close(): void {
    this.ended = true;
    this.abandon.abort();
    this.stream?.close();
    this.release?.();
    this.release = undefined;
    this.channelOpen = false;
    this.channel.close();
  }

  /** Runs while this tab holds the lock; the lock is released when the promise settles. */
  private hold(): Promise<void> {
    if (this.ended) return Promise.resolve();
    const held = new Promise<void>((resolve) => (this.release = resolve));
    this.receiver.role('holder');
    this.stream = new SseStream(
      this.url,
      this.options,
      {
        open: () => {
          this.post({ kind: 'open' });
          this.opened();
        },
        event: (event, blank) => {
          this.post({ kind: 'event', event, blank });
          this.received(event, blank);
        },
        error: (final) => {
          this.post({ kind: 'error', final });
          this.failed(final);
        },
      },
      this.lastEventId,
    );
    return held;
  }

  private heard(message: TabMessage): void {
    if (this.ended && message.kind !== 'hello') return;
    switch (message.kind) {
      case 'hello':
        if (this.holding) this.greet();
        break;
      case 'state':
        if (this.holding) break;
        if (message.lastEventId !== '') this.lastEventId = message.lastEventId;
        if (message.state === OPEN) this.opened();
        break;
      case 'open':
        this.opened();
        break;
      case 'event':
        this.received(message.event, message.blank);
        break;
      case 'error':
        this.failed(message.final);
        break;
    }
  }

  /** A tab has come: tell it where the stream stands, or make way if it has ended. */
  private greet(): void {
    if (this.ended) {
      this.release?.();
      this.release = undefined;
      return;
    }
    this.post({ kind: 'state', state: this.state, lastEventId: this.lastEventId });
  }

  private opened(): void {
    if (this.state === OPEN) return;
    this.state = OPEN;
    this.receiver.opened();
  }

  private received(event: ParsedSseEvent, blank: boolean): void {
    // By name and id: a connection's first event and its `sse:gap` reuse the resume id.
    const key = `${event.type}\n${event.lastEventId}`;
    if (event.lastEventId !== '' && this.seen.has(key)) return;
    this.remember(key);
    this.lastEventId = event.lastEventId;
    this.receiver.received(event, blank);
  }

  private failed(final: boolean): void {
    this.state = final ? CLOSED : CONNECTING;
    if (final) {
      // Closed for good in every tab: nobody queues for the lock any more. A holder keeps it
      // until a new tab asks, so that no tab that is still closing takes it and reconnects.
      this.ended = true;
      this.abandon.abort();
      this.stream = undefined;
    }
    this.receiver.failed(final);
  }

  private remember(key: string): void {
    this.seen.add(key);
    if (this.seen.size > REMEMBERED_IDS) {
      const oldest = this.seen.values().next();
      if (oldest.done !== true) this.seen.delete(oldest.value);
    }
  }

  private post(message: TabMessage): void {
    if (this.channelOpen) this.channel.postMessage(message);
  }
}
