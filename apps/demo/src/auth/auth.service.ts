import { Inject, Injectable } from '@nestjs/common';
import { AUTH_OPTIONS, TOKEN_COOKIE } from './auth.constants.js';
import type { AuthOptions, DemoRequest } from './auth.interfaces.js';
import { readCookie, serializeCookie } from './cookie-header.js';
import { signDemoToken, verifyDemoToken } from './demo-token.js';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** Issues and checks the demo's tokens. */
@Injectable()
export class AuthService {
  constructor(@Inject(AUTH_OPTIONS) private readonly options: AuthOptions) {}

  /** A new token for `userId`, and the `Set-Cookie` value that carries it. */
  issue(userId: string, secure: boolean): { token: string; cookie: string } {
    const token = signDemoToken(this.options.secret, userId, this.options.tokenTtlSeconds);
    const cookie = serializeCookie(TOKEN_COOKIE, token, {
      maxAge: this.options.tokenTtlSeconds,
      secure,
    });
    return { token, cookie };
  }

  /**
   * The user a request is signed in as: from `Authorization: Bearer <token>` when that
   * header is present (a bad one is not made good by a cookie), else from the cookie.
   */
  userOf(request: Pick<DemoRequest, 'headers'>): string | undefined {
    const token = this.tokenOf(request);
    return token === undefined ? undefined : verifyDemoToken(this.options.secret, token);
  }

  private tokenOf(request: Pick<DemoRequest, 'headers'>): string | undefined {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) return BEARER.exec(authorization)?.[1];
    return readCookie(request.headers.cookie, TOKEN_COOKIE);
  }
}
