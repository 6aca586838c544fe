import { describe, expect, it } from 'vitest';
import { readCookie, serializeCookie } from './cookie-header.js';

describe('readCookie', () => {
  it('finds a cookie among others, by its exact name', () => {
    const header = 'a=1; sse_demo_token_old=x; sse_demo_token=abc.def; b=2';
    expect(readCookie(header, 'sse_demo_token')).toBe('abc.def');
    expect(readCookie(header, 'b')).toBe('2');
    expect(readCookie(header, 'c')).toBeUndefined();
    expect(readCookie(undefined, 'a')).toBeUndefined();
  });

  it('decodes values, and ignores quotes and malformed ones', () => {
    expect(readCookie('a=%20x%3B', 'a')).toBe(' x;');
    expect(readCookie('a="quoted"', 'a')).toBe('quoted');
    expect(readCookie('a=%E0%A4%A', 'a')).toBeUndefined();
    expect(readCookie('novalue; a=1', 'a')).toBe('1');
  });

  it('reads back what serializeCookie writes', () => {
    const set = serializeCookie('t', 'v.w-x_y', { maxAge: 60 });
    expect(set).toBe('t=v.w-x_y; Path=/; Max-Age=60; HttpOnly; SameSite=Strict');
    expect(readCookie(set.split(';')[0], 't')).toBe('v.w-x_y');
    expect(serializeCookie('t', 'v', { maxAge: 1, secure: true })).toMatch(/; Secure$/);
  });
});
