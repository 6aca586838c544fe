import { InMemorySseBroker } from '../broker/in-memory-sse.broker.js';
import type { SsePublishReceipt } from '../broker/sse-broker.interface.js';
import type { SseRecorder } from './sse-recorder.js';

/**
 * The in-memory broker, which also hands every message it publishes to an `SseRecorder`:
 * the service above it is the real one, with its validation, ids and results, and
 * connections opened in the test still get the events.
 */
export class RecordingSseBroker extends InMemorySseBroker {
  constructor(private readonly recorder: SseRecorder) {
    super();
  }

  // Whatever `publish` is given goes on to the in-memory broker as it is.
  override publish(...args: Parameters<InMemorySseBroker['publish']>): Promise<SsePublishReceipt> {
    this.recorder.record(args[0]);
    return super.publish(...args);
  }
}
