/** One event as the wire carries it, before it is dispatched. */
export interface ParsedSseEvent {
  /** The event's name; `message` when the event named none. */
  type: string;
  /** Its `data:` lines joined by LF. */
  data: string;
  /** The last `id:` seen on this stream, this event's or an earlier one's. */
  lastEventId: string;
}

/** What a parser hands on. */
export interface SseParserHandlers {
  /** A complete event (a blank line ended it and it had at least one `data:` line). */
  onEvent(event: ParsedSseEvent): void;
  /** A valid `retry:` field, in milliseconds. */
  onRetry(ms: number): void;
}

/** A streaming parser of `text/event-stream`: feed it text as it arrives, in any pieces. */
export interface SseParser {
  /** Parses a piece of the stream; a line cut in two waits for its end. */
  feed(chunk: string): void;
  /** Forgets a partial line and event, as a new connection must; keeps the last event id. */
  reset(lastEventId?: string): void;
}

const DIGITS = /^\d+$/;

/**
 * Creates a parser that follows the HTML standard's event-stream interpretation: CR, LF
 * and CRLF end lines, a leading BOM is skipped, comments are ignored, an `id` with NUL is
 * ignored, `retry` takes only digits, and an event without `data` is not dispatched.
 */
export function createSseParser(handlers: SseParserHandlers, lastEventId = ''): SseParser {
  let pending = '';
  let started = false;
  let data: string[] = [];
  let type = '';
  let id = lastEventId;
  // A CR at the end of one chunk may be the first half of a CRLF cut by the network.
  let afterCr = false;

  const dispatch = (): void => {
    if (data.length > 0) {
      handlers.onEvent({
        type: type === '' ? 'message' : type,
        data: data.join('\n'),
        lastEventId: id,
      });
    }
    data = [];
    type = '';
  };

  const line = (text: string): void => {
    if (text === '') return dispatch();
    if (text.charCodeAt(0) === 0x3a) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'id') {
      if (!value.includes('\0')) id = value;
    } else if (field === 'retry' && DIGITS.test(value)) handlers.onRetry(Number(value));
  };

  return {
    feed(chunk) {
      let text = chunk;
      if (!started && text.length > 0) {
        started = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      if (afterCr && text.charCodeAt(0) === 0x0a) text = text.slice(1);
      afterCr = false;
      pending += text;
      let start = 0;
      for (let i = 0; i < pending.length; i++) {
        const code = pending.charCodeAt(i);
        if (code !== 0x0a && code !== 0x0d) continue;
        line(pending.slice(start, i));
        if (code === 0x0d) {
          if (i + 1 === pending.length) afterCr = true;
          else if (pending.charCodeAt(i + 1) === 0x0a) i++;
        }
        start = i + 1;
      }
      pending = pending.slice(start);
    },
    reset(resumeFrom = id) {
      pending = '';
      started = false;
      afterCr = false;
      data = [];
      type = '';
      id = resumeFrom;
    },
  };
}
