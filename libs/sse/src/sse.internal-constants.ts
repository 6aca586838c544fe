/** Injection token of the options after defaults are applied and checked. */
export const SSE_RESOLVED_OPTIONS = Symbol('SSE_RESOLVED_OPTIONS');

/** Logger context of every line the library writes. */
export const SSE_LOGGER_CONTEXT = 'SseModule';

/** Longest user id, event id or event name the library accepts, in characters. */
export const SSE_MAX_TOKEN_LENGTH = 256;

/** Injection token of the ready route's path and transport. */
export const SSE_ROUTE = Symbol('SSE_ROUTE');
