import { describe, expect, it } from 'vitest';
import {
  SseInvalidDataError,
  SseInvalidEventIdError,
  SseInvalidEventNameError,
  SseInvalidUserIdError,
  SseMessageTooLargeError,
} from '../sse.errors.js';
import { checkEventId, checkEventName, checkUserId, serialiseData } from './sse-validate.js';

describe('checkUserId', () => {
  it('accepts ids of 1 to 256 characters', () => {
    expect(checkUserId('alice@example.com')).toBe('alice@example.com');
    expect(checkUserId('x'.repeat(256))).toHaveLength(256);
  });
  it.each([[''], ['x'.repeat(257)], ['a\nb'], ['a\u0000b'], [7], [null]])('refuses %j', (id) => {
    expect(() => checkUserId(id)).toThrow(SseInvalidUserIdError);
  });
});

describe('checkEventId', () => {
  it.each([['a\nb'], ['order-ü-1'], ['a '], [''], ['x'.repeat(257)], [12], [null]])(
    'refuses %j, saying what is accepted',
    (id) => {
      expect(() => checkEventId(id)).toThrow(SseInvalidEventIdError);
      expect(() => checkEventId(id)).toThrow(/printable ASCII \(U\+0020 to U\+007E\)/);
    },
  );
  it('accepts what eventIdProblem accepts', () => {
    expect(checkEventId('order:42 a/b')).toBe('order:42 a/b');
  });
});

describe('checkEventName', () => {
  it.each([['sse:gap'], ['sse:close'], ['sse:x'], ['error'], ['a\nb'], ['a\rb'], [''], [1]])(
    'refuses %j',
    (name) => {
      expect(() => checkEventName(name)).toThrow(SseInvalidEventNameError);
    },
  );
  it('accepts names that merely contain sse:', () => {
    expect(checkEventName('my-sse:thing')).toBe('my-sse:thing');
  });
  it('says what to do', () => {
    expect(() => checkEventName('sse:gap')).toThrow(/Potential solutions/);
  });
});

describe('serialiseData', () => {
  it('keeps strings and serialises the rest as JSON', () => {
    expect(serialiseData('a\nb', 100)).toBe('a\nb');
    expect(serialiseData({ a: [1, true, null] }, 100)).toBe('{"a":[1,true,null]}');
    expect(serialiseData(false, 100)).toBe('false');
  });
  it.each([[undefined], [() => 1], [Symbol('x')], [1n]])('refuses %s', (data) => {
    expect(() => serialiseData(data, 100)).toThrow(SseInvalidDataError);
  });
  it('counts bytes, not characters', () => {
    expect(serialiseData('€'.repeat(3), 9)).toBe('€€€');
    expect(() => serialiseData('€'.repeat(4), 9)).toThrow(SseMessageTooLargeError);
    expect(() => serialiseData({ big: 'x'.repeat(20) }, 10)).toThrow(
      /more than maxMessageBytes \(10\)/,
    );
  });
});
