import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** Random bytes for ids, drawn from the system 4 KiB at a time. */
const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;
let lastMs = -Infinity;
let counter = 0;

/**
 * A uuid v7 greater than every one this function returned before it in this process: the
 * ordering key of messages and the id of first events, which replay compares with each
 * other, so both come from here.
 *
 * The layout and the counter within a millisecond are `uuid`'s own `v7()`; only the
 * randomness differs, taken from a pool: asking the system for 16 bytes per id cost more
 * than the rest of a `send`.
 */
export function sseId(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.subarray(offset, (offset += 16));
  const now = Date.now();
  if (now > lastMs) {
    counter = ((random[6] & 0x7f) << 24) | (random[7] << 16) | (random[8] << 8) | random[9];
    lastMs = now;
  } else {
    counter = (counter + 1) | 0;
    if (counter === 0) lastMs++;
  }
  return uuidv7({ random, msecs: lastMs, seq: counter });
}
