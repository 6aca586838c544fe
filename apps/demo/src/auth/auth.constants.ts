/** User ids the demo accepts: 1 to 64 of letters, digits and `_ . @ -`. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;

/** Name of the HttpOnly cookie that carries the token. */
export const TOKEN_COOKIE = 'sse_demo_token';

/** Injection token of the resolved `AuthOptions`. */
export const AUTH_OPTIONS = Symbol('AUTH_OPTIONS');

/** Whether a value is a user id the demo accepts. */
export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID_PATTERN.test(value);
}
