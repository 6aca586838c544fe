import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { SseEnvelope } from './sse-broker.interface.js';
import {
  decodeEntry,
  decodeSignal,
  encodeDisconnect,
  encodeEntry,
  encodeLost,
  messageHead,
} from './sse-broker.codec.js';

describe('the Redis entry codec', () => {
  const seq = uuidv7();
  const cases: SseEnvelope[] = [
    { id: seq, seq, data: 'plain', to: ['alice'] },
    { id: 'order-1', seq, event: 'chat', data: '{"a":1}', to: ['alice'] },
    { id: seq, seq, data: 'line one\nline two\n\n\nline five\n', to: ['alice'] },
    { id: seq, seq, event: 'empty', data: '', to: ['alice'] },
    { id: 'x y', seq, data: 'é€😀\r\n', to: null },
  ];

  it('reads back what it wrote, for the given recipients', () => {
    for (const message of cases) {
      expect(decodeEntry(encodeEntry(message), message.to)).toEqual(message);
    }
  });

  it('writes the id only when the caller gave one', () => {
    expect(encodeEntry(cases[0])).toBe(`${seq}\n\n\nplain`);
    expect(encodeEntry(cases[1])).toBe(`${seq}\norder-1\nchat\n{"a":1}`);
  });

  it('reads pub/sub messages: a message after its head, or a disconnect', () => {
    const origin = uuidv7();
    const payload = messageHead(origin) + encodeEntry(cases[2]);
    const signal = decodeSignal(payload);
    expect(signal).toEqual({ kind: 'message', origin, entry: origin.length + 2 });
    expect(decodeEntry(payload, ['alice'], signal?.kind === 'message' ? signal.entry : 0)).toEqual(
      cases[2],
    );
    expect(decodeSignal(encodeDisconnect(origin))).toEqual({ kind: 'disconnect', origin });
    expect(decodeSignal('?what')).toBeUndefined();
    expect(decodeEntry('not an entry', null)).toBeUndefined();
  });

  it('reads back news of lost events, for everyone and per user', () => {
    const origin = uuidv7();
    const lost = {
      all: uuidv7(),
      users: [['alice', uuidv7()] as const, ['b ob', uuidv7()] as const],
    };
    expect(decodeSignal(encodeLost(origin, lost))).toEqual({ kind: 'lost', origin, lost });
    const usersOnly = { users: [['alice', uuidv7()] as const] };
    expect(decodeSignal(encodeLost(origin, usersOnly))).toEqual({
      kind: 'lost',
      origin,
      lost: usersOnly,
    });
    expect(decodeSignal(`l${origin}`)).toBeUndefined();
  });
});
