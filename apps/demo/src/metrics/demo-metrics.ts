import type { OnApplicationShutdown } from '@nestjs/common';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * The demo application's own OpenTelemetry pipeline: a `MeterProvider` that the library
 * records to (its `metrics.meterProvider` option) and a Prometheus reader that `GET /metrics`
 * collects from when scraped. One per application, so that several demos in one process
 * (tests) each report their own numbers.
 */
export class DemoMetrics implements OnApplicationShutdown {
  private readonly reader = new PrometheusExporter({ preventServerStart: true });
  private readonly serializer = new PrometheusSerializer();
  /** Where the library's meter `nestjs-sse-hub` lives. */
  readonly provider = new MeterProvider({ readers: [this.reader] });

  /** Every metric now, in the Prometheus text format. */
  async scrape(): Promise<string> {
    const { resourceMetrics } = await this.reader.collect();
    return this.serializer.serialize(resourceMetrics);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}
