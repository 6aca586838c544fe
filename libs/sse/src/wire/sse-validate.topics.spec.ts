import { describe, expect, it } from 'vitest';
import { SseInvalidTopicError, SseTooManyTopicsError } from '../sse.errors.js';
import { checkSubscriptions, checkTopic } from './sse-validate.js';

describe('checkTopic', () => {
  it.each([['team:42'], ['order.1001'], ['a_b-c@d'], ['x'.repeat(128)], ['Z']])(
    'accepts %j',
    (topic) => {
      expect(checkTopic(topic)).toBe(topic);
    },
  );
  it.each([[''], ['x'.repeat(129)], ['a b'], ['a/b'], ['é'], ['a\nb'], [7], [null], [undefined]])(
    'refuses %j, saying what is accepted',
    (topic) => {
      expect(() => checkTopic(topic)).toThrow(SseInvalidTopicError);
      expect(() => checkTopic(topic)).toThrow(/Potential solutions: .*A-Za-z0-9/);
    },
  );
  it('names the character at fault', () => {
    expect(() => checkTopic('team 42')).toThrow(/"team 42" contains " "/);
  });
});

describe('checkSubscriptions', () => {
  it('keeps each topic once, in order, up to the limit', () => {
    expect(checkSubscriptions(['b', 'a', 'b'], 2)).toEqual(['b', 'a']);
    expect(checkSubscriptions(undefined, 2)).toEqual([]);
  });
  it('refuses more than the limit and anything but an array of names', () => {
    expect(() => checkSubscriptions(['a', 'b', 'c'], 2)).toThrow(SseTooManyTopicsError);
    expect(() => checkSubscriptions('a', 2)).toThrow(SseInvalidTopicError);
    expect(() => checkSubscriptions(['a', ''], 2)).toThrow(SseInvalidTopicError);
  });
});
