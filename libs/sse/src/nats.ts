/**
 * The NATS broker of `nestjs-sse-hub`: any number of application instances act as one
 * over NATS with JetStream. Needs `@nats-io/transport-node`, `@nats-io/jetstream` and
 * `@nats-io/kv` (optional peer dependencies, loaded only by this entry).
 *
 * @example
 * ```ts
 * import { SseModule } from 'nestjs-sse-hub';
 * import { NatsSseBroker } from 'nestjs-sse-hub/nats';
 *
 * @Module({
 *   imports: [
 *     SseModule.forRootAsync({
 *       imports: [ConfigModule],
 *       inject: [ConfigService],
 *       useFactory: (config: ConfigService) => ({
 *         broker: new NatsSseBroker({ servers: config.getOrThrow('NATS_URL') }),
 *       }),
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 *
 * @packageDocumentation
 */
export { NatsSseBroker } from './broker/nats/nats-sse.broker.js';
export { NatsSseBrokerOptionsError } from './broker/nats/nats-sse.errors.js';
export { NATS_SSE_BROKER_DEFAULTS } from './broker/nats/nats-sse.options.js';
export type {
  NatsSseBrokerOptions,
  NatsSseConnectOptions,
} from './broker/nats/nats-sse.options.js';
