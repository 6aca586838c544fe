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
