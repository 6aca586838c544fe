import { Controller, Get, Header, Inject } from '@nestjs/common';
import { DemoMetrics } from './demo-metrics.js';

/**
 * `GET /metrics`: the library's `sse.*` metrics for Prometheus (`sse_connections`,
 * `sse_messages_total{kind="..."}`, ...). Public, as a scrape target on a private network
 * is; see docs/operations.md.
 */
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(DemoMetrics) private readonly metrics: DemoMetrics) {}

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('cache-control', 'no-store')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}
