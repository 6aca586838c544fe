export { SseModule } from './sse.module.js';
export type { SseModuleAsyncOptions, SseModuleExtras } from './sse.module-definition.js';
export { SseService } from './sse.service.js';
export { SSE_DEFAULTS } from './sse.options.js';
export { SSE_CLOSE_EVENT, SSE_GAP_EVENT, SSE_RESERVED_PREFIX } from './sse.constants.js';
export {
  SseError,
  SseInvalidDataError,
  SseInvalidEventIdError,
  SseInvalidEventNameError,
  SseInvalidTopicError,
  SseInvalidUserIdError,
  SseMessageTooLargeError,
  SseOptionsError,
  SseTooManyTopicsError,
} from './sse.errors.js';
export { SseBroker } from './broker/sse-broker.interface.js';
export type {
  SseBrokerHost,
  SseEnvelope,
  SseGapReason,
  SseMembershipWindow,
  SsePublishReceipt,
  SseReplay,
} from './broker/sse-broker.interface.js';
export { InMemorySseBroker } from './broker/in-memory-sse.broker.js';
export type {
  SseHistoryOptions,
  SseModuleOptions,
  SseOptionsFactory,
  SseRequestLike,
  SseTransport,
} from './interfaces/sse-module-options.interface.js';
export type {
  SseConnectionEvent,
  SseDisconnectReason,
  SseSendOptions,
  SseSendResult,
  SseStats,
  SseStreamOptions,
} from './interfaces/sse-service.interface.js';
