import { UnauthorizedException } from '@nestjs/common';
import type { SseRequestLike } from '../interfaces/sse-module-options.interface.js';
import type { SseResolvedOptions } from '../sse.options.js';
import { checkUserId } from '../wire/sse-validate.js';

/**
 * The user of a request, through the `resolveUser` option. No user, or one that is not a
 * valid id, is a 401: the ready route serves signed-in users only.
 */
export async function resolveRequestUser(
  options: SseResolvedOptions,
  request: SseRequestLike,
): Promise<string> {
  const found = await options.resolveUser(request);
  if (found === undefined || found === null || found === '') {
    throw new UnauthorizedException('Sign in first: this stream needs a user.');
  }
  const userId = typeof found === 'number' || typeof found === 'bigint' ? String(found) : found;
  try {
    return checkUserId(userId);
  } catch {
    throw new UnauthorizedException('The signed-in user has no valid id.');
  }
}
