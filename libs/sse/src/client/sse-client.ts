import {
  CLOSED,
  CONNECTING,
  OPEN,
  streamUrl,
  type SseClientOptions,
  type SseClientRole,
  type SseReadyState,
} from './sse-client.options.js';
import type { ParsedSseEvent } from './sse-parser.js';
import type { SseReceiver } from './sse-receiver.js';
import { canShare, SseSharedConnection } from './sse-shared-connection.js';
import { SseStream } from './sse-stream.js';

/** Events every client dispatches, whatever its event map. */
export interface SseClientBuiltInEvents {
  /** The stream is open (after each reconnection, as EventSource). */
  open: Event;
  /** The stream is gone: `readyState` says whether it reconnects (0) or not (2). */
  error: Event;
  /** Unnamed events. */
  message: MessageEvent<string>;
  /** Events were lost before a replay; data is JSON with a `reason`. */
  'sse:gap': MessageEvent<string>;
  /** The server closed the stream for good; the client will not reconnect. */
  'sse:close': MessageEvent<string>;
  /** This tab's `role` changed (it took over the shared connection). */
  'sse:role': Event;
}

/** An event map: the names of the server's events, each a `MessageEvent` of string data. */
export type SseEventMap = Record<string, MessageEvent<string>>;

/** A listener for the event `K` of a client. */
export type SseListener<E> =
  | ((event: E) => unknown)
  | {
      /** Called with each event, as a DOM `EventListenerObject` is. */
      handleEvent(event: E): unknown;
    };

type AllEvents<Events> = Events & SseClientBuiltInEvents;

/**
 * A Server-Sent Events client that behaves like `EventSource` and adds what it lacks:
 * request headers and Bearer tokens, `Last-Event-ID` on every reconnection, jitter and
 * backoff, `sse:close`, and one connection shared by every tab of the origin.
 *
 * @typeParam Events - the server's event names, each mapped to `MessageEvent<string>`;
 *   `addEventListener` accepts only these and the built-in ones.
 * @example
 * ```ts
 * const client = new SseClient<{ shipped: MessageEvent<string> }>('/sse', { token: getToken });
 * client.addEventListener('shipped', (event) => show(JSON.parse(event.data)));
 * ```
 */
export class SseClient<Events extends SseEventMap = SseEventMap> {
  /** `readyState` while connecting or reconnecting. */
  static readonly CONNECTING = CONNECTING;
  /** `readyState` while the stream is open. */
  static readonly OPEN = OPEN;
  /** `readyState` once closed for good. */
  static readonly CLOSED = CLOSED;

  /** The stream's address, with its `topic` parameters. */
  readonly url: string;
  /** Whether cookies go to other origins too. */
  readonly withCredentials: boolean;
  /** Called for `open`, as EventSource's property. */
  onopen: ((event: Event) => unknown) | null = null;
  /** Called for `error`, as EventSource's property. */
  onerror: ((event: Event) => unknown) | null = null;
  /** Called for unnamed events, as EventSource's property. */
  onmessage: ((event: MessageEvent<string>) => unknown) | null = null;

  private readonly target = new EventTarget();
  private state: SseReadyState = CONNECTING;
  private currentRole: SseClientRole;
  private readonly connection: SseStream | SseSharedConnection;

  /**
   * Opens the stream at once.
   *
   * @param url - the stream's address, relative to the page or absolute.
   * @param options - see {@link SseClientOptions}.
   */
  constructor(url: string | URL, options: SseClientOptions = {}) {
    this.url = streamUrl(url, options.topics);
    this.withCredentials = options.withCredentials === true;
    const receiver: SseReceiver = {
      opened: () => this.opened(),
      received: (event, blank) => this.received(event, blank),
      failed: (final) => this.failed(final),
      role: (role) => this.changeRole(role),
    };
    const lastEventId = options.lastEventId ?? '';
    if (options.shared !== false && canShare()) {
      this.currentRole = 'sharer';
      this.connection = new SseSharedConnection(this.url, options, receiver, lastEventId);
    } else {
      this.currentRole = 'own';
      this.connection = new SseStream(this.url, options, receiverSink(receiver), lastEventId);
    }
  }

  /** `0` connecting, `1` open, `2` closed for good, as EventSource. */
  get readyState(): SseReadyState {
    return this.state;
  }

  /** The id of the last event received: where a reconnection resumes. */
  get lastEventId(): string {
    return this.connection.lastEventId;
  }

  /** `holder`: this tab holds the shared connection; `sharer`: another tab does; `own`. */
  get role(): SseClientRole {
    return this.currentRole;
  }

  /** Listens for the event `type`: one of the event map's names, or a built-in one. */
  addEventListener<K extends keyof AllEvents<Events> & string>(
    type: K,
    listener: SseListener<AllEvents<Events>[K]> | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    this.target.addEventListener(type, listener as EventListenerOrEventListenerObject, options);
  }

  /** Stops listening. */
  removeEventListener<K extends keyof AllEvents<Events> & string>(
    type: K,
    listener: SseListener<AllEvents<Events>[K]> | null,
    options?: boolean | EventListenerOptions,
  ): void {
    this.target.removeEventListener(type, listener as EventListenerOrEventListenerObject, options);
  }

  /** Closes the stream for good (no `error` event); a shared one passes to another tab. */
  close(): void {
    this.state = CLOSED;
    this.connection.close();
  }

  private opened(): void {
    if (this.state === CLOSED) return;
    this.state = OPEN;
    this.emit(new Event('open'), this.onopen);
  }

  private received(event: ParsedSseEvent, blank: boolean): void {
    if (this.state === CLOSED || blank) return;
    const message = new MessageEvent(event.type, {
      data: event.data,
      lastEventId: event.lastEventId,
      origin: new URL(this.url).origin,
    });
    this.emit(message, event.type === 'message' ? this.onmessage : null);
  }

  private failed(final: boolean): void {
    if (this.state === CLOSED) return;
    this.state = final ? CLOSED : CONNECTING;
    this.emit(new Event('error'), this.onerror);
  }

  private changeRole(role: SseClientRole): void {
    this.currentRole = role;
    this.emit(new Event('sse:role'), null);
  }

  private emit<E extends Event>(event: E, handler: ((event: E) => unknown) | null): void {
    handler?.call(this, event);
    this.target.dispatchEvent(event);
  }
}

/** Adapts a receiver to the sink of a stream of this tab's own. */
function receiverSink(receiver: SseReceiver) {
  return {
    open: () => receiver.opened(),
    event: (event: ParsedSseEvent, blank: boolean) => receiver.received(event, blank),
    error: (final: boolean) => receiver.failed(final),
  };
}
