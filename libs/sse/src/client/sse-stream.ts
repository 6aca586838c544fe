import { backoffDelay, retryDelay } from './sse-backoff.js';
import { DEFAULT_RETRY_MS, type SseClientOptions } from './sse-client.options.js';
import { createSseParser, type ParsedSseEvent } from './sse-parser.js';

/** Where a stream hands what happens on it. */
export interface SseStreamSink {
  /** A connection answered 200 with an event stream. */
  open(): void;
  /** An event; `blank` for the first event of a connection, which carries only its id. */
  event(event: ParsedSseEvent, blank: boolean): void;
  /** The connection is gone: `final` when the client will not reconnect. */
  error(final: boolean): void;
}

/** How one connection attempt ended. */
type Outcome = 'ended' | 'failed' | 'unauthorized' | 'refused' | 'closed' | 'stopped';

/** Statuses after which trying again may help: the server is busy or broken for now. */
function transient(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/**
 * One stream over `fetch`, kept open: it connects, parses, and reconnects with
 * `Last-Event-ID` until it is stopped or the server closes it for good.
 */
export class SseStream {
  private readonly abort = new AbortController();
  private retryMs = DEFAULT_RETRY_MS;
  private closedByServer = false;

  constructor(
    private readonly url: string,
    private readonly options: SseClientOptions,
    private readonly sink: SseStreamSink,
    /** The resume point: the last event id handed on. */
    public lastEventId: string,
  ) {
    void this.run();
  }

  /** Ends the connection; no reconnection, no `error`. */
  close(): void {
    this.abort.abort();
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    let failures = 0;
    let renewed = false;
    while (!this.stopped) {
      const outcome = await this.attempt();
      if (outcome === 'stopped') return;
      if (outcome === 'unauthorized' && !renewed) {
        // The token may have expired between two connects: one more try with a fresh one.
        renewed = true;
        continue;
      }
      if (outcome === 'unauthorized' || outcome === 'refused' || outcome === 'closed') {
        this.abort.abort();
        this.sink.error(true);
        return;
      }
      this.sink.error(false);
      if (outcome === 'ended') {
        failures = 0;
        renewed = false;
      }
      const delay = outcome === 'ended' ? retryDelay(this.retryMs) : backoffDelay(failures++);
      await this.wait(delay);
    }
  }

  private wait(ms: number): Promise<void> {
    const signal = this.abort.signal;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  private async request(): Promise<Response> {
    const headers: Record<string, string> = {
      ...this.options.headers,
      accept: 'text/event-stream',
    };
    if (this.lastEventId !== '') headers['last-event-id'] = this.lastEventId;
    if (this.options.token !== undefined) {
      headers.authorization = `Bearer ${await this.options.token()}`;
    }
    return fetch(this.url, {
      headers,
      cache: 'no-store',
      credentials: this.options.withCredentials === true ? 'include' : 'same-origin',
      signal: this.abort.signal,
    });
  }

  private async attempt(): Promise<Outcome> {
    let response: Response;
    try {
      response = await this.request();
    } catch {
      return this.stopped ? 'stopped' : 'failed';
    }
    if (response.status === 401) return discard(response, 'unauthorized');
    if (transient(response.status)) return discard(response, 'failed');
    const type = response.headers.get('content-type') ?? '';
    if (!response.ok || response.body === null || !type.startsWith('text/event-stream')) {
      return discard(response, 'refused');
    }
    this.sink.open();
    return this.read(response.body);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<Outcome> {
    let first = true;
    const parser = createSseParser(
      {
        onEvent: (event) => {
          this.lastEventId = event.lastEventId;
          const blank = first && event.type === 'message' && event.data === '';
          first = false;
          this.sink.event(event, blank);
          if (event.type === 'sse:close') {
            this.closedByServer = true;
            void reader.cancel().catch(() => undefined);
          }
        },
        onRetry: (ms) => (this.retryMs = ms),
      },
      this.lastEventId,
    );
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.closedByServer) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch {
      if (this.stopped) return 'stopped';
      // Dropped mid-stream, once open: come back as after a clean end, with Last-Event-ID.
      return this.closedByServer ? 'closed' : 'ended';
    }
    if (this.stopped) return 'stopped';
    return this.closedByServer ? 'closed' : 'ended';
  }
}

async function discard(response: Response, outcome: Outcome): Promise<Outcome> {
  await response.body?.cancel().catch(() => undefined);
  return outcome;
}
