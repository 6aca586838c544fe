/** A heartbeat: a comment line, which clients ignore and which moves no event id. */
export const HEARTBEAT_TEXT = ': \n\n';

function dataLines(data: string): string {
  if (data.indexOf('\n') === -1 && data.indexOf('\r') === -1) return `data: ${data}\n`;
  let out = '';
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out;
}

/**
 * One event in the text/event-stream format, in the field order NestJS's own `@Sse()`
 * writes, so that both transports put the same bytes on the wire. Fields are assumed
 * valid: ids and names without CR or LF (checked by `send`).
 */
export function formatEvent(
  id: string | undefined,
  event: string | undefined,
  data: string | undefined,
  retry?: number,
): string {
  let out = event === undefined ? '' : `event: ${event}\n`;
  if (id !== undefined) out += `id: ${id}\n`;
  if (retry !== undefined) out += `retry: ${retry}\n`;
  if (data !== undefined) out += dataLines(data);
  return out + '\n';
}

/**
 * Frames a payload as one HTTP/1.1 chunk, so that it can go to the socket as it is. Text is
 * encoded (UTF-8) straight into the chunk, without a buffer of its own first.
 */
export function toChunk(payload: Buffer | string): Buffer {
  const text = typeof payload === 'string';
  const length = text ? Buffer.byteLength(payload, 'utf8') : payload.length;
  const head = `${length.toString(16)}\r\n`;
  const chunk = Buffer.allocUnsafe(head.length + length + 2);
  chunk.write(head, 0, 'latin1');
  if (text) chunk.write(payload, head.length, length, 'utf8');
  else payload.copy(chunk, head.length);
  chunk.write('\r\n', head.length + length, 'latin1');
  return chunk;
}
