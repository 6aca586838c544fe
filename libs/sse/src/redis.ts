/**
 * The Redis broker of `nestjs-sse-hub`: any number of application instances behind a load
 * balancer act as one. Needs `ioredis` (an optional peer dependency, loaded only by this
 * entry).
 *
 * @example
 * ```ts
 * import { SseModule } from 'nestjs-sse-hub';
 * import { RedisSseBroker } from 'nestjs-sse-hub/redis';
 *
 * @Module({
 *   imports: [
 *     SseModule.forRootAsync({
 *       imports: [ConfigModule],
 *       inject: [ConfigService],
 *       useFactory: (config: ConfigService) => ({
 *         broker: new RedisSseBroker({ url: config.getOrThrow('REDIS_URL') }),
 *       }),
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 *
 * @packageDocumentation
 */
export { RedisSseBroker } from './broker/redis/redis-sse.broker.js';
export { RedisSseBrokerOptionsError } from './broker/redis/redis-sse.errors.js';
export { RedisSseUnavailableError } from './broker/redis/redis-sse.errors.js';
export { REDIS_SSE_BROKER_DEFAULTS } from './broker/redis/redis-sse.options.js';
export type { RedisSseBrokerOptions } from './broker/redis/redis-sse.options.js';
