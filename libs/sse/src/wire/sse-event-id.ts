import { SSE_MAX_TOKEN_LENGTH } from '../sse.internal-constants.js';

const LINE_BREAK = /[\r\n]/;
const OUTSIDE_PRINTABLE_ASCII = /[^\u0020-\u007e]/u;

function codePoint(character: string): string {
  return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why an id cannot make the round trip from `send` to a client and back as its
 * `Last-Event-ID`, or `undefined` when it can. The one rule for ids: `send` refuses what
 * fails it and a resume point that fails it is not looked up.
 *
 * Every client must be able to send the id back: browsers' `EventSource` send it as UTF-8
 * bytes, which Node reads as latin1 (a non-ASCII id comes back garbled); fetch-based
 * clients refuse a header that is not a ByteString; Node's HTTP parser answers 400 to a
 * control character; HTTP trims spaces around a header value. What passes all of them is
 * printable ASCII without a space at either end.
 */
export function eventIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'it is empty';
  if (id.length > SSE_MAX_TOKEN_LENGTH) return `it has ${id.length} characters`;
  if (LINE_BREAK.test(id)) return 'it contains CR or LF, which would end the id field';
  const outside = OUTSIDE_PRINTABLE_ASCII.exec(id);
  if (outside !== null) {
    const code = outside[0].charCodeAt(0);
    return code < 0x20 || code === 0x7f
      ? `it contains the control character ${codePoint(outside[0])}, which HTTP refuses in a header`
      : `it contains ${codePoint(outside[0])}, which clients cannot send back as Last-Event-ID`;
  }
  if (id.charCodeAt(0) === 0x20 || id.charCodeAt(id.length - 1) === 0x20) {
    return 'it starts or ends with a space, which HTTP trims from Last-Event-ID';
  }
  return undefined;
}
