import { Controller, Get, Header, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { SseHealthIndicator } from 'nestjs-sse-hub/terminus';

/**
 * `GET /health` for a load balancer: 200 `{"status":"ok",...}` while the broker answers,
 * 503 `{"status":"error",...}` while its Redis or NATS does not.
 */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(SseHealthIndicator) private readonly sse: SseHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  @Header('cache-control', 'no-store')
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.sse.isHealthy('sse')]);
  }
}
