import { Module, type DynamicModule } from '@nestjs/common';
import { InMemorySseBroker } from './broker/in-memory-sse.broker.js';
import { SseBroker } from './broker/sse-broker.interface.js';
import { SseCounters } from './hub/sse-counters.js';
import { SseHub } from './hub/sse-hub.js';
import { SseMetrics } from './metrics/sse-metrics.js';
import type { SseModuleOptions } from './interfaces/sse-module-options.interface.js';
import {
  SSE_MODULE_OPTIONS,
  SSE_OPTIONS_TYPE,
  SseConfigurableModule,
  type SseModuleAsyncOptions,
} from './sse.module-definition.js';
import { SSE_RESOLVED_OPTIONS, SSE_ROUTE } from './sse.internal-constants.js';
import { resolveSseOptions, type SseResolvedOptions, type SseRouteOptions } from './sse.options.js';
import { SseService } from './sse.service.js';

/**
 * Per-user Server-Sent Events. Import it once, with `forRoot` or `forRootAsync`; inject
 * `SseService` to send; clients connect to the ready route (`GET /sse` by default).
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [SseModule.forRoot({ resolveUser: (req) => req.user?.id })],
 * })
 * export class AppModule {}
 * ```
 */
@Module({
  providers: [
    {
      provide: SSE_RESOLVED_OPTIONS,
      useFactory: (options: SseModuleOptions, route: SseRouteOptions) =>
        resolveSseOptions(options, route),
      inject: [SSE_MODULE_OPTIONS, SSE_ROUTE],
    },
    {
      provide: SseBroker,
      useFactory: (options: SseResolvedOptions) => options.broker ?? new InMemorySseBroker(),
      inject: [SSE_RESOLVED_OPTIONS],
    },
    SseCounters,
    SseHub,
    SseMetrics,
    SseService,
  ],
  exports: [SseService, SseBroker],
})
export class SseModule extends SseConfigurableModule {
  /**
   * Configures the module with options known up front. Every option is optional.
   * @throws SseOptionsError at start-up when an option cannot work.
   */
  static forRoot(options: typeof SSE_OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * Configures the module with options from a factory (a `ConfigService`, say), or from
   * an `SseOptionsFactory` class (`useClass`, `useExisting`). The extras (`path`,
   * `transport`, `guards`, `interceptors`, `isGlobal`) go beside `useFactory`: routes exist
   * before it runs. Numbers read from the environment are strings: convert them.
   *
   * @example
   * ```ts
   * SseModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({
   *     heartbeat: Number(config.get('SSE_HEARTBEAT_MS', 20000)),
   *   }),
   * })
   * ```
   */
  static forRootAsync(options: SseModuleAsyncOptions): DynamicModule {
    return super.forRootAsync(options);
  }
}
