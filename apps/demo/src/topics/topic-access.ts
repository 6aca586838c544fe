import type { SseBroker } from 'nestjs-sse-hub';

/** Topics anyone signed in may subscribe to and post to, member or not. */
export const PUBLIC_TOPIC_PREFIX = 'public:';

/** Whether anyone signed in may subscribe to and post to `topic`. */
export function isPublicTopic(topic: string): boolean {
  return topic.startsWith(PUBLIC_TOPIC_PREFIX);
}

/**
 * The demo's `authorizeTopics`: a stream may subscribe to `public:` topics and to the
 * topics its user is a member of. It asks the broker, which holds the memberships on
 * every instance, rather than the `SseService`, which the module factory that needs this
 * function creates only afterwards. Bad names are refused by the library (400) before this
 * runs.
 */
export function topicAuthorizer(
  broker: SseBroker,
): (request: unknown, userId: string, topics: readonly string[]) => Promise<boolean> {
  return async (_request, userId, topics) => {
    if (topics.every(isPublicTopic)) return true;
    const memberships = new Set(await broker.topicsOf(userId));
    return topics.every((topic) => isPublicTopic(topic) || memberships.has(topic));
  };
}
