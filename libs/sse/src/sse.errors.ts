import { SSE_EVENT_ID_RULE } from './sse.internal-constants.js';

/**
 * Base class of every error the library throws. Catch it to tell the library's refusals
 * from other failures.
 */
export class SseError extends Error {
  override readonly name: string = 'SseError';
}

/** Module options that cannot work; thrown while the application starts. */
export class SseOptionsError extends SseError {
  override readonly name = 'SseOptionsError';

  constructor(
    /** The option at fault, such as `timeout` or `history.size`. */
    readonly option: string,
    reason: string,
  ) {
    super(`SseModule option "${option}" ${reason}`);
  }
}

/** A user id that is not a non-empty string without control characters. */
export class SseInvalidUserIdError extends SseError {
  override readonly name = 'SseInvalidUserIdError';

  constructor(reason: string) {
    super(
      `Invalid user id: ${reason}. Potential solutions: pass the id your resolveUser returns, ` +
        `as a string of 1 to 256 characters without control characters.`,
    );
  }
}

/** An event id that cannot travel on the wire. */
export class SseInvalidEventIdError extends SseError {
  override readonly name = 'SseInvalidEventIdError';

  constructor(reason: string) {
    super(
      `Invalid event id: ${reason}. Potential solutions: leave "id" out to get a generated ` +
        `uuid v7, or pass ${SSE_EVENT_ID_RULE}: ids every client can send back as ` +
        `Last-Event-ID to resume. Encode other text first (encodeURIComponent, say).`,
    );
  }
}

/** An event name that cannot travel on the wire, or that the library reserves. */
export class SseInvalidEventNameError extends SseError {
  override readonly name = 'SseInvalidEventNameError';

  constructor(reason: string) {
    super(
      `Invalid event name: ${reason}. Potential solutions: leave "event" out to send a plain ` +
        `"message", or pass a name of 1 to 256 characters without CR or LF that does not ` +
        `start with "sse:" and is not "error".`,
    );
  }
}

/** Data that cannot be serialised (undefined, a function, a BigInt, a circular object). */
export class SseInvalidDataError extends SseError {
  override readonly name = 'SseInvalidDataError';

  constructor(reason: string) {
    super(
      `Invalid event data: ${reason}. Potential solutions: send a string, or a value that ` +
        `JSON.stringify turns into text (plain objects, arrays, numbers, booleans, null).`,
    );
  }
}

/** Data whose serialised form is larger than the `maxMessageBytes` option allows. */
export class SseMessageTooLargeError extends SseError {
  override readonly name = 'SseMessageTooLargeError';

  constructor(
    /** Size of the serialised data in bytes (UTF-8). */
    readonly bytes: number,
    /** The `maxMessageBytes` option in force. */
    readonly limit: number,
  ) {
    super(
      `Event data is ${bytes} bytes, more than maxMessageBytes (${limit}). Potential ` +
        `solutions: send a smaller payload (an id the client fetches, say), or raise ` +
        `maxMessageBytes in SseModule.forRoot().`,
    );
  }
}

/** A topic name that is not 1 to 128 characters of `A-Za-z0-9_.:@-`. */
export class SseInvalidTopicError extends SseError {
  override readonly name = 'SseInvalidTopicError';

  constructor(reason: string) {
    super(
      `Invalid topic: ${reason}. Potential solutions: name topics with 1 to 128 characters ` +
        `of A-Za-z0-9 and _ . : @ - (such as "team:42" or "order.1001"); encode other text ` +
        `first, or hash it.`,
    );
  }
}

/** More topics than `maxTopicsPerUser` (memberships) or `maxTopicsPerConnection` (subscriptions) allow. */
export class SseTooManyTopicsError extends SseError {
  override readonly name = 'SseTooManyTopicsError';

  constructor(
    /** The option whose limit was reached. */
    readonly option: 'maxTopicsPerUser' | 'maxTopicsPerConnection',
    /** The limit in force. */
    readonly limit: number,
    what: string,
  ) {
    super(
      `${what}: more than ${option} (${limit}) topics. Potential solutions: ` +
        (option === 'maxTopicsPerUser'
          ? `leave topics the user no longer needs, or raise maxTopicsPerUser in SseModule.forRoot().`
          : `subscribe to fewer topics per stream (join the user to them instead), or raise ` +
            `maxTopicsPerConnection in SseModule.forRoot().`),
    );
  }
}
