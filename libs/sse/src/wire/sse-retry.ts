/**
 * A reconnection delay between 1 s and `min(retry, 15 s)`, different for each client, so
 * that a restart is not followed by every client at once.
 */
export function spreadRetry(retry: number): number {
  const high = Math.max(1000, Math.min(retry, 15_000));
  return 1000 + Math.floor(Math.random() * (high - 1000 + 1));
}
