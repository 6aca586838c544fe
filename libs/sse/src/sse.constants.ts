/**
 * Name of the event a stream sends first when events were lost before it (the client's
 * `Last-Event-ID` is older than what is kept, or unknown). Its data says why. A client
 * that receives it should reload its state.
 */
export const SSE_GAP_EVENT = 'sse:gap';

/**
 * Name of the last event of a connection that the server closed for good: another
 * connection of the same user replaced it, or `SseService.disconnect()` ended it. Its data
 * is `{"reason":"replaced"}` or `{"reason":"disconnected"}`. The client should call
 * `EventSource.close()` and not reconnect.
 */
export const SSE_CLOSE_EVENT = 'sse:close';

/** Event names that start with this prefix belong to the library; `send` refuses them. */
export const SSE_RESERVED_PREFIX = 'sse:';
