import { describe, expect, it } from 'vitest';
import { signDemoToken, verifyDemoToken } from './demo-token.js';

const secret = Buffer.from('unit-test-secret');
const now = Date.UTC(2030, 0, 1);

describe('demo tokens', () => {
  it('verify to their user until they expire', () => {
    const token = signDemoToken(secret, 'alice@example.org', 60, now);
    expect(verifyDemoToken(secret, token, now)).toBe('alice@example.org');
    expect(verifyDemoToken(secret, token, now + 59_999)).toBe('alice@example.org');
    expect(verifyDemoToken(secret, token, now + 60_000)).toBeUndefined();
  });

  it('do not verify under another secret', () => {
    const token = signDemoToken(secret, 'alice', 60, now);
    expect(verifyDemoToken(Buffer.from('other'), token, now)).toBeUndefined();
  });

  it('do not verify once any character is changed', () => {
    const token = signDemoToken(secret, 'alice', 60, now);
    for (let i = 0; i < token.length; i++) {
      if (token[i] === '.') continue;
      const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      expect({ i, user: verifyDemoToken(secret, changed, now) }).toEqual({ i, user: undefined });
    }
  });

  it('refuse what is not shaped like a token', () => {
    const token = signDemoToken(secret, 'alice', 60, now);
    const bad = ['', '.', token + '.', token + 'A', token.replace('.', ''), `${token} `];
    expect(bad.map((candidate) => verifyDemoToken(secret, candidate, now))).toEqual(
      bad.map(() => undefined),
    );
  });

  it('refuse a signed payload whose user id the demo would not accept', () => {
    const token = signDemoToken(secret, 'not a user id', 60, now);
    expect(verifyDemoToken(secret, token, now)).toBeUndefined();
  });
});
