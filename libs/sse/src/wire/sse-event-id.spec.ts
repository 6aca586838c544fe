import { describe, expect, it } from 'vitest';
import { sseId } from './sse-id.js';
import { eventIdProblem } from './sse-event-id.js';

describe('eventIdProblem: the ids every client can send back as Last-Event-ID', () => {
  it.each([
    ['order-42'],
    ['a b'],
    ['x'],
    ['x'.repeat(256)],
    [' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'.trim()],
    [sseId()],
  ])('accepts %j', (id) => {
    expect(eventIdProblem(id)).toBeUndefined();
  });

  it('accepts every printable ASCII character inside an id', () => {
    for (let code = 0x20; code <= 0x7e; code++) {
      expect(eventIdProblem(`a${String.fromCharCode(code)}b`)).toBeUndefined();
    }
  });

  it.each([
    ['', /empty/],
    ['x'.repeat(257), /257 characters/],
    ['order-ü-1', /U\+00FC, which clients cannot send back/],
    ['注文-1', /U\+6CE8/],
    ['smile-😀', /U\+1F600/],
    ['a\tb', /control character U\+0009/],
    ['a\nb', /CR or LF/],
    ['a\rb', /CR or LF/],
    ['a\r\nb', /CR or LF/],
    ['a\u0000b', /control character U\+0000/],
    ['a\u007fb', /control character U\+007F/],
    ['trailing ', /starts or ends with a space/],
    [' leading', /starts or ends with a space/],
    [' ', /starts or ends with a space/],
  ])('refuses %j', (id, reason) => {
    expect(eventIdProblem(id)).toMatch(reason);
  });
});
