import { randomFillSync } from 'node:crypto';

/** Random bytes for ids, ten an id, drawn from the system 4 KB at a time. */
const ID_RANDOM_BYTES = 10;
const pool = Buffer.allocUnsafe(400 * ID_RANDOM_BYTES);
let offset = pool.length;
let lastMs = -Infinity;
let counter = 0;
/** The hex of `lastMs`, with its dashes: the first 14 characters of every id of that ms. */
let msPrefix = '';

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

function formatMs(ms: number): string {
  const hex = ms.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-`;
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
    msPrefix = formatMs(lastMs);
  } else {
    counter = (counter + 1) | 0;
    if (counter === 0) msPrefix = formatMs(++lastMs);
  }
  const seq = counter;
  return (
    msPrefix +
    HEX[0x70 | ((seq >>> 28) & 0x0f)] +
    HEX[(seq >>> 20) & 0xff] +
    '-' +
    HEX[0x80 | ((seq >>> 14) & 0x3f)] +
    HEX[(seq >>> 6) & 0xff] +
    '-' +
    HEX[((seq << 2) & 0xff) | (pool[at + 4] & 0x03)] +
    HEX[pool[at + 5]] +
    HEX[pool[at + 6]] +
    HEX[pool[at + 7]] +
    HEX[pool[at + 8]] +
    HEX[pool[at + 9]]
  );
}
