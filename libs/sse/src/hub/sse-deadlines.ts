/**
 * Ends items a fixed time after they were added, with one timer for all of them. As the
 * lifetime is the same for every item, the order of insertion is the order of expiry: the
 * timer only ever waits for the oldest.
 */
export class SseDeadlines<T> {
  private readonly items = new Map<T, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly lifetimeMs: number,
    private readonly onExpire: (item: T) => void,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /** Whether the shared timer is set (for leak checks). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  add(item: T): void {
    this.items.set(item, Date.now() + this.lifetimeMs);
    if (this.timer === undefined) this.arm(this.lifetimeMs);
  }

  delete(item: T): void {
    if (this.items.delete(item) && this.items.size === 0) this.disarm();
  }

  clear(): void {
    this.items.clear();
    this.disarm();
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.fire, Math.max(0, delay));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    for (const [item, at] of this.items) {
      if (at > now) {
        if (this.timer === undefined) this.arm(at - now);
        return;
      }
      this.items.delete(item);
      this.onExpire(item);
    }
  };
}
