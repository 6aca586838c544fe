/**
 * The browser client of nestjs-sse-hub: `new SseClient(url, options)`. See docs/client.md.
 *
 * @packageDocumentation
 */
export {
  SseClient,
  type SseClientBuiltInEvents,
  type SseEventMap,
  type SseListener,
} from './sse-client.js';
export {
  CLOSED,
  CONNECTING,
  OPEN,
  type SseClientOptions,
  type SseClientRole,
  type SseReadyState,
  type SseTokenSource,
} from './sse-client.options.js';
