/**
 * A message on its way through a broker: validated, serialised once, addressed to some
 * users, to everyone or to a topic. Brokers carry it as it is; the instance turns it into a frame once.
 */
export interface SseEnvelope {
  /** The event's id, as clients see it. */
  readonly id: string;
  /**
   * Ordering key: a uuid v7 taken when the message was accepted. Equal to `id` unless the
   * caller gave its own id. Replay orders and resumes by it.
   */
  readonly seq: string;
  /** The event's name; absent for a plain `message`. */
  readonly event?: string;
  /** The serialised data: a string as given, anything else as JSON text. */
  readonly data: string;
  /** Recipients' user ids; `null` for everyone (a broadcast) and for a topic event. */
  readonly to: readonly string[] | null;
  /**
   * The topic of a topic event (`to` is then `null`). Test it before `to`: `topic` set is a
   * topic event, else `to === null` is a broadcast, else a message to users.
   */
  readonly topic?: string;
}
