/**
 * Polls `check` until it holds, for what only time brings about (an expiry, a reconnect,
 * a write another process makes); fails after `timeoutMs` naming `what` was awaited.
 */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
