import { describe, expect, it } from 'vitest';
import type { SseEnvelope } from '../wire/sse-envelope.js';
import { SseEventRing } from './sse-event-ring.js';

function envelope(n: number): SseEnvelope {
  const seq = n.toString().padStart(8, '0');
  return { id: seq, seq, data: String(n), to: ['u'] };
}

describe('SseEventRing', () => {
  it('keeps the last `size` events in order, through wrap-arounds and prunes, as a plain list would', () => {
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff;
    for (const size of [1, 2, 3, 5, 8]) {
      const ring = new SseEventRing(size);
      let model: { envelope: SseEnvelope; at: number }[] = [];
      let droppedSeq: string | undefined;
      let now = 0;
      for (let n = 0; n < 400; n++) {
        now += Math.floor(random() * 3);
        if (random() < 0.8) {
          const sent = envelope(n);
          ring.push(sent, now);
          model.push({ envelope: sent, at: now });
          if (model.length > size) droppedSeq = model.shift()!.envelope.seq;
        } else {
          const cutoff = now - Math.floor(random() * 4);
          const gone = model.filter((entry) => entry.at < cutoff);
          if (gone.length > 0) droppedSeq = gone[gone.length - 1].envelope.seq;
          model = model.filter((entry) => entry.at >= cutoff);
          ring.prune(cutoff);
        }
        expect(ring.entries).toEqual(model);
        expect(ring.count).toBe(model.length);
        expect(ring.droppedSeq).toBe(droppedSeq);
      }
    }
  });

  it('lets go of its buffer once age has emptied it, and keeps what it dropped', () => {
    const ring = new SseEventRing(4);
    for (let n = 0; n < 6; n++) ring.push(envelope(n), n);
    ring.prune(100);
    expect(ring.entries).toEqual([]);
    expect(ring.droppedSeq).toBe(envelope(5).seq);
    expect(ring.droppedAt).toBe(5);
    ring.push(envelope(6), 200);
    expect(ring.entries).toEqual([{ envelope: envelope(6), at: 200 }]);
  });
});
