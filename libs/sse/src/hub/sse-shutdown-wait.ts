import * as nodeTimers from 'node:timers';

/** Longest wait, at shutdown, for ended streams' responses to be over. */
const SHUTDOWN_WAIT_MS = 1000;

/**
 * Waits, a second at most, for the responses of ended streams to be over, so that the HTTP
 * server then finds their connections idle and closes them at once instead of waiting for
 * their keep-alive timeout.
 *
 * Node's own timers, not the global ones that test suites fake: shutdown must not wait for
 * a fake clock to be advanced.
 */
export async function waitForResponsesToEnd(closing: readonly Promise<void>[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(closing),
    new Promise((resolve) => (timer = nodeTimers.setTimeout(resolve, SHUTDOWN_WAIT_MS))),
  ]);
  nodeTimers.clearTimeout(timer);
  // Streams of `stream()` in an app's own handler end through NestJS's pipeline, which
  // finishes the response a few ticks later.
  await new Promise((resolve) => nodeTimers.setImmediate(resolve));
}
