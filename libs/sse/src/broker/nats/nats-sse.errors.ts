import { SseError } from '../../sse.errors.js';

/** Options of `new NatsSseBroker()` that cannot work; thrown where the broker is made. */
export class NatsSseBrokerOptionsError extends SseError {
  override readonly name = 'NatsSseBrokerOptionsError';

  constructor(
    /** The option at fault, such as `prefix`. */
    readonly option: string,
    reason: string,
  ) {
    super(
      `NatsSseBroker option "${option}" ${reason}. Potential solutions: see the options of ` +
        `NatsSseBroker in nestjs-sse-hub/nats; leave an option out to take its default.`,
    );
  }
}
