import { randomFillSync } from 'node:crypto';

/** Random bytes for ids, ten an id, drawn from the system 4 KB at a time. */
const ID_RANDOM_BYTES = 10;
const pool = Buffer.allocUnsafe(400 * ID_RANDOM_BYTES);
let offset = pool.length;
let lastMs = -Infinity;
let counter = 0;
/** The hex of `lastMs`, with its dashes: the first 14 characters of every id of that ms. */
/**
 * The id being made, as text: the millisecond's part and the dashes are written once per
 * millisecond, the rest per id. Made into one flat string at the end: joined with `+`, an
 * id would be a tree of a dozen string pieces, several times its size, for as long as a
 * connection or the history holds it.
 */
const text = Buffer.alloc(36, '-', 'latin1');

/** The two hex digits of each byte, as character codes. */
const HEX_HIGH = new Uint8Array(256);
const HEX_LOW = new Uint8Array(256);
for (let byte = 0; byte < 256; byte++) {
  const hex = byte.toString(16).padStart(2, '0');
  HEX_HIGH[byte] = hex.charCodeAt(0);
  HEX_LOW[byte] = hex.charCodeAt(1);
}

/** Writes a byte's two hex digits at `at`. */
function hex(byte: number, at: number): void {
  text[at] = HEX_HIGH[byte];
  text[at + 1] = HEX_LOW[byte];
}

function writeMs(ms: number): void {
  const digits = ms.toString(16).padStart(12, '0');
  text.write(digits.slice(0, 8), 0, 'latin1');
  text.write(digits.slice(8, 12), 9, 'latin1');
}

/**
 * A uuid v7 greater than every one this function returned before it in this process: the
 * ordering key of messages and the id of first events, which replay compares with each
 * other, so both come from here.
 *
 * The layout and the counter within a millisecond are `uuid`'s own `v7()` (RFC 9562 with a
 * 32-bit counter seeded at random each millisecond); the randomness comes from a pool and
 * the millisecond's part of the text is made once per millisecond: asking the system for
 * 16 bytes per id, and formatting all 16, cost more than the rest of a `send`.
 */
export function sseId(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += ID_RANDOM_BYTES;
  const now = Date.now();
  if (now > lastMs) {
    counter = ((pool[at] & 0x7f) << 24) | (pool[at + 1] << 16) | (pool[at + 2] << 8) | pool[at + 3];
    lastMs = now;
    writeMs(lastMs);
  } else {
    counter = (counter + 1) | 0;
    if (counter === 0) writeMs(++lastMs);
  }
  const seq = counter;
  hex(0x70 | ((seq >>> 28) & 0x0f), 14);
  hex((seq >>> 20) & 0xff, 16);
  hex(0x80 | ((seq >>> 14) & 0x3f), 19);
  hex((seq >>> 6) & 0xff, 21);
  hex(((seq << 2) & 0xff) | (pool[at + 4] & 0x03), 24);
  for (let i = 5; i < 10; i++) hex(pool[at + i], 16 + 2 * i);
  return text.toString('latin1', 0, 36);
}
