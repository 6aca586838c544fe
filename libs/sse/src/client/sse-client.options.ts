/** A token for `Authorization: Bearer`, or a function that gives one, sync or async. */
export type SseTokenSource = () => string | Promise<string>;

/** Options of `new SseClient(url, options)`. */
export interface SseClientOptions {
  /**
   * Asked at every connect and reconnect; sent as `Authorization: Bearer <token>`. On a 401
   * it is asked once more before the client gives up.
   */
  token?: SseTokenSource;
  /**
   * Sends cookies to another origin too (`credentials: 'include'`), as EventSource's option.
   * @default false
   */
  withCredentials?: boolean;
  /** More request headers, sent on every connect. */
  headers?: Record<string, string>;
  /** Topics to subscribe to, sent as repeated `?topic=` parameters. */
  topics?: readonly string[];
  /** The resume point of the first connection, sent as `Last-Event-ID`. */
  lastEventId?: string;
  /**
   * One connection for every tab of this origin that opens the same URL and topics (Web
   * Locks and BroadcastChannel); each tab its own where those are missing or with `false`.
   * @default true
   */
  shared?: boolean;
}

/** The wait before the first reconnection when the server has sent no `retry`. */
export const DEFAULT_RETRY_MS = 3_000;

/** `readyState` values, as EventSource's. */
export const CONNECTING = 0;
/** The stream is open. */
export const OPEN = 1;
/** Closed for good: the client will not reconnect. */
export const CLOSED = 2;

/** One of `CONNECTING`, `OPEN`, `CLOSED`. */
export type SseReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSED;

/**
 * Which part this client plays: `holder` holds the connection (and hands events to the other
 * tabs), `sharer` receives them from the tab that holds it, `own` has a connection of its own.
 */
export type SseClientRole = 'holder' | 'sharer' | 'own';

/**
 * The request URL with its `topic` parameters, resolved against the page's address. Throws a
 * `SyntaxError`, as EventSource does, for a URL that cannot be resolved.
 */
export function streamUrl(url: string | URL, topics: readonly string[] = []): string {
  const base = typeof location === 'undefined' ? undefined : location.href;
  let resolved: URL;
  try {
    resolved = new URL(url, base);
  } catch {
    throw new SyntaxError(
      `SseClient cannot resolve the URL ${JSON.stringify(String(url))}. Potential solutions: ` +
        'give an absolute URL (outside a page there is no address to resolve against); ' +
        'check its spelling.',
    );
  }
  for (const topic of topics) resolved.searchParams.append('topic', topic);
  return resolved.href;
}
