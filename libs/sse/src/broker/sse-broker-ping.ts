/**
 * Whether `answer` resolves truthy within `timeoutMs`: a broker's `ping()` resolves
 * `false` for a backend that fails or is too slow to answer, and never rejects.
 */
export function answersWithin(answer: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
    answer().then(
      (value) => {
        clearTimeout(timer);
        resolve(Boolean(value));
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}
