/** The longest a client waits before it tries again after failures. */
export const MAX_BACKOFF_MS = 30_000;

/** The first wait after a failure; each further failure doubles it. */
export const FIRST_BACKOFF_MS = 1_000;

/** The most a reconnection after a clean end waits beyond the server's `retry`. */
export const MAX_JITTER_MS = 1_000;

/** A source of numbers in [0, 1), `Math.random` unless a test gives its own. */
export type RandomSource = () => number;

/**
 * The wait before reconnecting after the server ended a stream cleanly (a timeout, a
 * shutdown): its `retry`, plus a random share of up to a quarter of it (at most a second),
 * so that the clients of one server do not come back in the same instant.
 */
export function retryDelay(retryMs: number, random: RandomSource = Math.random): number {
  return retryMs + Math.floor(random() * Math.min(MAX_JITTER_MS, retryMs / 4));
}

/**
 * The wait before attempt `failures + 1` after `failures` network errors or 5xx answers in a
 * row: an exponential backoff from a second, with half of it random, never over 30 s.
 */
export function backoffDelay(failures: number, random: RandomSource = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(failures, 16));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}
