import { UnauthorizedException } from '@nestjs/common';
import type { SseRequestLike } from '../interfaces/sse-module-options.interface.js';
import type { SseResolvedOptions } from '../sse.options.js';
import { checkUserId } from '../wire/sse-validate.js';
import { isPromiseLike } from '../hub/sse-replayer.js';

/**
 * The user of a request, through the `resolveUser` option: at once when `resolveUser`
 * answers at once, so that a connect takes no extra turn. No user, or one that is not a
 * valid id, is a 401 (thrown, or the promise rejects): the ready route serves signed-in
 * users only.
 */
export function resolveRequestUser(
  options: SseResolvedOptions,
  request: SseRequestLike,
): string | Promise<string> {
  const found = options.resolveUser(request);
  return isPromiseLike(found) ? Promise.resolve(found).then(userOf) : userOf(found);
}

function userOf(found: unknown): string {
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
