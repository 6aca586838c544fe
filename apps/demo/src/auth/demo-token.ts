import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUserId } from './auth.constants.js';

/** What a token says: who, and until when (seconds since the epoch). */
export interface DemoTokenClaims {
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
}

// A token is `<payload>.<signature>`, both base64url; anything longer is not one of ours.
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{1,512}\.[A-Za-z0-9_-]{43}$/;

function signature(secret: Buffer, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

/**
 * Signs a token for `userId` with HMAC-SHA256, valid for `ttlSeconds` from `now`.
 * The payload is readable by anyone; only its integrity and expiry are guaranteed.
 */
export function signDemoToken(
  secret: Buffer,
  userId: string,
  ttlSeconds: number,
  now: number = Date.now(),
): string {
  const iat = Math.floor(now / 1000);
  const claims: DemoTokenClaims = { sub: userId, iat, exp: iat + ttlSeconds };
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${payload}.${signature(secret, payload)}`;
}

/**
 * The user id of a token that `secret` signed and that has not expired at `now`;
 * `undefined` for anything else. The signature is compared in constant time.
 */
export function verifyDemoToken(
  secret: Buffer,
  token: string,
  now: number = Date.now(),
): string | undefined {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const dot = token.indexOf('.');
  const payload = token.slice(0, dot);
  // Compared as text, so that no other spelling of the same bytes passes; both are 43
  // characters long (the shape says so), as timingSafeEqual needs.
  const given = Buffer.from(token.slice(dot + 1), 'latin1');
  const expected = Buffer.from(signature(secret, payload), 'latin1');
  if (!timingSafeEqual(given, expected)) return undefined;
  let claims: Partial<DemoTokenClaims>;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as object;
  } catch {
    return undefined;
  }
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now) return undefined;
  return isUserId(claims.sub) ? claims.sub : undefined;
}
