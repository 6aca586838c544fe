import type { SseSendOptions } from '../interfaces/sse-service.interface.js';
import type { SseEnvelope } from './sse-envelope.js';
import { sseId } from './sse-id.js';
import { checkEventId, checkEventName, serialiseData } from './sse-validate.js';

/**
 * Validates and serialises an event once, into the envelope every broker carries: the one
 * place where an event's id, name and data are checked and its `seq` taken, for
 * `SseService` and `SsePublisher` alike. Recipients are checked by the caller.
 *
 * @throws SseError when the id, the event name or the data is refused.
 */
export function createEnvelope(
  to: readonly string[] | null,
  topic: string | undefined,
  data: unknown,
  options: SseSendOptions,
  maxMessageBytes: number,
): SseEnvelope {
  const seq = sseId();
  return {
    id: options.id === undefined ? seq : checkEventId(options.id),
    seq,
    event: options.event === undefined ? undefined : checkEventName(options.event),
    data: serialiseData(data, maxMessageBytes),
    to,
    // Always present, so that every envelope has one shape on the hot path.
    topic,
  };
}
