/** Injection token of the options after defaults are applied and checked. */
export const SSE_RESOLVED_OPTIONS = Symbol('SSE_RESOLVED_OPTIONS');

/** Logger context of every line the library writes. */
export const SSE_LOGGER_CONTEXT = 'SseModule';

/** Longest user id, event id or event name the library accepts, in characters. */
export const SSE_MAX_TOKEN_LENGTH = 256;

/** The rule for event ids, in words (the code of it is `eventIdProblem`). */
export const SSE_EVENT_ID_RULE =
  `1 to ${SSE_MAX_TOKEN_LENGTH} characters of printable ASCII (U+0020 to U+007E), ` +
  `not starting or ending with a space`;

/** Injection token of the ready route's path and transport. */
export const SSE_ROUTE = Symbol('SSE_ROUTE');
