/**
 * Publishing without a server: `SsePublisher` sends events to users, topics and everyone
 * from any Node process (a queue worker, a cron job, a script) through the broker the
 * application instances share, with no NestJS application and no HTTP server.
 *
 * @example
 * ```ts
 * import { SsePublisher } from 'nestjs-sse-hub/publisher';
 * import { NatsSseBroker } from 'nestjs-sse-hub/nats';
 *
 * const publisher = new SsePublisher({ broker: new NatsSseBroker({ servers: process.env.NATS_URL }) });
 * await publisher.publish('team:42', { text: 'Deploy finished' }, { event: 'deploy' });
 * await publisher.close();
 * ```
 *
 * @packageDocumentation
 */
export { SsePublisher, type SsePublisherOptions } from './publisher/sse-publisher.js';
export type { SseSendOptions, SseSendResult } from './interfaces/sse-service.interface.js';
