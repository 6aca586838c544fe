import { BadRequestException, ForbiddenException } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { SseRequestLike } from '../interfaces/sse-module-options.interface.js';
import { SseError } from '../sse.errors.js';
import type { SseResolvedOptions } from '../sse.options.js';
import { checkSubscriptions } from '../wire/sse-validate.js';

/**
 * The topics a stream request subscribes to: its repeated `topic` query parameters, read
 * from the URL itself so that Express and Fastify (whose query parsers differ) read them
 * alike. A bad name or more than `maxTopicsPerConnection` is a 400; topics the
 * `authorizeTopics` option refuses, or any topic without that option, a 403.
 */
export function resolveRequestTopics(
  options: SseResolvedOptions,
  request: SseRequestLike,
  node: IncomingMessage,
  userId: string,
): readonly string[] | Promise<readonly string[]> {
  const url = node.url ?? '';
  const query = url.indexOf('?');
  // Most streams ask for no topic: they are answered in the same turn.
  if (query === -1) return NO_TOPICS;
  const asked = new URLSearchParams(url.slice(query + 1)).getAll('topic');
  if (asked.length === 0) return NO_TOPICS;
  return authorized(options, request, userId, asked);
}

const NO_TOPICS: readonly string[] = [];

async function authorized(
  options: SseResolvedOptions,
  request: SseRequestLike,
  userId: string,
  asked: string[],
): Promise<readonly string[]> {
  let topics: string[];
  try {
    topics = checkSubscriptions(asked, options.maxTopicsPerConnection);
  } catch (error) {
    if (error instanceof SseError) throw new BadRequestException(error.message);
    throw error;
  }
  const authorize = options.authorizeTopics;
  if (authorize === undefined) {
    throw new ForbiddenException(
      'This stream asked for topics, and no authorizeTopics option allows any.',
    );
  }
  if ((await authorize(request, userId, topics)) !== true) {
    throw new ForbiddenException('This user may not subscribe to these topics.');
  }
  return topics;
}
