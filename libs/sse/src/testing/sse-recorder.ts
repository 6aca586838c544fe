import { Injectable } from '@nestjs/common';
import type { SseEnvelope } from '../broker/sse-broker.interface.js';

/**
 * An event as `SseService` sent it: its id, its name, its data as the browser's
 * `event.data` gets it (a string as given, anything else as JSON text), and its recipients
 * (`to`: user ids, or `null` for a broadcast; `topic` set, with `to` `null`, for a topic event).
 */
export type SseSentEvent = Omit<SseEnvelope, 'seq'>;

/**
 * What an application sent through `SseService`, in order, for its own tests. Provided by
 * `SseTestingModule`; inject it (`moduleRef.get(SseRecorder)`) next to the service under
 * test. Only accepted events are recorded: a send the library refuses records nothing.
 *
 * @example
 * ```ts
 * await orders.ship({ id: '7', userId: 'alice' });
 * expect(recorder.sent).toEqual([
 *   expect.objectContaining({ to: ['alice'], event: 'shipped', data: '{"orderId":"7"}' }),
 * ]);
 * ```
 */
@Injectable()
export class SseRecorder {
  private readonly events: SseSentEvent[] = [];

  /** Every event sent since the module started or since `clear()`, oldest first. */
  get sent(): readonly SseSentEvent[] {
    return this.events;
  }

  /**
   * The events addressed to a user, and broadcasts. Topic events are not among them (who
   * gets them depends on memberships): find them in `sent` by their `topic`.
   */
  sentTo(userId: string): SseSentEvent[] {
    return this.events.filter(
      (event) => event.topic === undefined && (event.to === null || event.to.includes(userId)),
    );
  }

  /** Forgets what was recorded, for a test that starts over (in a `beforeEach`, say). */
  clear(): void {
    this.events.length = 0;
  }

  /**
   * Records one event; called by the recording broker for every message it publishes.
   * @internal
   */
  record(message: SseEnvelope): void {
    const { seq: _seq, ...event } = message;
    this.events.push(Object.freeze(event));
  }
}
