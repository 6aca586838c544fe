import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Inject,
  Post,
  Req,
  Res,
} from '@nestjs/common';
import { isUserId } from './auth.constants.js';
import type { DemoRequest, DemoResponse } from './auth.interfaces.js';
import { AuthService } from './auth.service.js';

/** Answer of `POST /auth/login`. */
export interface LoginResult {
  token: string;
}

function isHttps(request: DemoRequest): boolean {
  const proto = request.headers['x-forwarded-proto'];
  return (
    (request as { socket?: { encrypted?: boolean } }).socket?.encrypted === true ||
    (typeof proto === 'string' && proto.split(',')[0].trim() === 'https')
  );
}

/**
 * Signs in without a password: this is a demo of the stream, not of authentication. Any
 * valid user id gets a token, as JSON for `Authorization: Bearer` and as an HttpOnly
 * cookie for the page's EventSource, which cannot send headers.
 */
@Controller('auth')
export class AuthController {
  constructor(@Inject(AuthService) private readonly auth: AuthService) {}

  /** `POST /auth/login {"userId"}`: a token, also set as the `sse_demo_token` cookie. */
  @Post('login')
  @HttpCode(200)
  login(
    @Body() body: unknown,
    @Req() request: DemoRequest,
    @Res({ passthrough: true }) response: DemoResponse,
  ): LoginResult {
    const userId = (body as { userId?: unknown } | null | undefined)?.userId;
    if (!isUserId(userId)) {
      throw new BadRequestException(
        'userId must be 1 to 64 characters of letters, digits and _ . @ -',
      );
    }
    const { token, cookie } = this.auth.issue(userId, isHttps(request));
    response.header('Set-Cookie', cookie);
    return { token };
  }
}
