import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SseBroker } from '../broker/sse-broker.interface.js';
import { SseService } from '../sse.service.js';

/** What the indicator adds to its key in the health report. */
export interface SseHealthDetails {
  /** Whether the broker answered (`ping()`); a broker without `ping` counts as up. */
  readonly broker: 'up' | 'down';
  /** Open connections on this instance. */
  readonly connections: number;
  /** Users with an open connection on this instance. */
  readonly users: number;
}

/**
 * A `@nestjs/terminus` health indicator: up while the broker answers (the in-memory one
 * always does; `RedisSseBroker` and `NatsSseBroker` ping their server), down otherwise,
 * which makes `HealthCheckService.check` answer 503. Provide it beside `TerminusModule` in
 * a module that can see `SseModule`.
 *
 * @example
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(
 *     private readonly health: HealthCheckService,
 *     private readonly sse: SseHealthIndicator,
 *   ) {}
 *
 *   @Get()
 *   @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.sse.isHealthy('sse')]);
 *   }
 * }
 * ```
 */
@Injectable()
export class SseHealthIndicator {
  constructor(
    @Inject(HealthIndicatorService) private readonly indicator: HealthIndicatorService,
    @Inject(SseBroker) private readonly broker: SseBroker,
    @Inject(SseService) private readonly sse: SseService,
  ) {}

  /**
   * Asks the broker, and reports under `key`: `up` or `down` with `SseHealthDetails`.
   * @param key the name of this check in the report.
   */
  async isHealthy<const Key extends string = 'sse'>(
    key: Key = 'sse' as Key,
  ): Promise<HealthIndicatorResult<Key>> {
    const check = this.indicator.check(key);
    const answers = this.broker.ping === undefined ? true : await this.broker.ping();
    const { connections, users } = this.sse.stats();
    const details: SseHealthDetails = { broker: answers ? 'up' : 'down', connections, users };
    return answers ? check.up({ ...details }) : check.down({ ...details });
  }
}
