import { SseError } from '../../sse.errors.js';

/** Options of `new RedisSseBroker()` that cannot work; thrown where the broker is made. */
export class RedisSseBrokerOptionsError extends SseError {
  override readonly name = 'RedisSseBrokerOptionsError';

  constructor(
    /** The option at fault, such as `keyPrefix`. */
    readonly option: string,
    reason: string,
  ) {
    super(
      `RedisSseBroker option "${option}" ${reason}. Potential solutions: see the options of ` +
        `RedisSseBroker in nestjs-sse-hub/redis; leave an option out to take its default.`,
    );
  }
}

/** Redis did not answer a request that only Redis can answer (a join, a membership list). */
export class RedisSseUnavailableError extends SseError {
  override readonly name = 'RedisSseUnavailableError';

  constructor(reason: string) {
    super(
      `Redis did not answer (${reason}). Potential solutions: try again once Redis is back ` +
        `(the broker reconnects by itself); check REDIS_URL and that Redis accepts writes.`,
    );
  }
}
