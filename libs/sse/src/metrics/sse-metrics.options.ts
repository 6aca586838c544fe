/**
 * Where the `sse.*` metrics go: an OpenTelemetry `MeterProvider`. Typed by the one method
 * used, so that the main entry does not need `@opentelemetry/api`'s types.
 */
export interface SseMeterProvider {
  /** `MeterProvider.getMeter` of `@opentelemetry/api`. */
  getMeter(name: string): unknown;
}

/** The `metrics` option of `SseModule`. */
export interface SseMetricsOptions {
  /**
   * The provider to create the meter `nestjs-sse-hub` on.
   * @default the global one of `@opentelemetry/api`, when that package is installed
   */
  meterProvider?: SseMeterProvider;
}
