/**
 * The value of one cookie in a `Cookie` request header, URI-decoded; `undefined` when it is
 * absent or malformed. Written here so that Express and Fastify need no cookie plugin.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Attributes of a `Set-Cookie` header the demo writes. */
export interface CookieAttributes {
  /** Seconds until the browser drops it. */
  maxAge: number;
  /** Sent only over HTTPS. */
  secure?: boolean;
}

/** A `Set-Cookie` value for an HttpOnly, same-site cookie on the whole site. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let cookie = `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=${attributes.maxAge}`;
  cookie += '; HttpOnly; SameSite=Strict';
  if (attributes.secure === true) cookie += '; Secure';
  return cookie;
}
