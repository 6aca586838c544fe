import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { MeterProvider } from '@opentelemetry/api';
import { SseCounters } from '../hub/sse-counters.js';
import { SseHub } from '../hub/sse-hub.js';
import type { SseModuleOptions } from '../interfaces/sse-module-options.interface.js';
import { SSE_MODULE_OPTIONS } from '../sse.module-definition.js';
import { observeSseMetrics, SSE_METER_NAME } from './sse-otel-metrics.js';

/** Loads `@opentelemetry/api` if it is installed; nothing otherwise. */
async function globalMeterProvider(): Promise<MeterProvider | undefined> {
  try {
    const api = await import('@opentelemetry/api');
    return api.metrics.getMeterProvider();
  } catch {
    return undefined;
  }
}

/**
 * Creates the library's metrics when the module starts, if there is somewhere to send them:
 * the `metrics.meterProvider` option, or else the global provider of `@opentelemetry/api`
 * (loaded only then, and only if installed). Without either, nothing is loaded, nothing
 * recorded. `metrics: false` turns them off. See docs/operations.md.
 */
@Injectable()
export class SseMetrics implements OnModuleInit, OnApplicationShutdown {
  private stop: (() => void) | undefined;

  constructor(
    @Inject(SSE_MODULE_OPTIONS) private readonly options: SseModuleOptions,
    @Inject(SseHub) private readonly hub: SseHub,
    @Inject(SseCounters) private readonly counters: SseCounters,
  ) {}

  /** Creates the instruments on the meter `nestjs-sse-hub`. */
  async onModuleInit(): Promise<void> {
    const option = this.options.metrics;
    if (option === false || this.stop !== undefined) return;
    const provider =
      (option?.meterProvider as MeterProvider | undefined) ?? (await globalMeterProvider());
    if (provider === undefined) return;
    this.stop = observeSseMetrics(
      provider.getMeter(SSE_METER_NAME),
      () => this.hub.stats(),
      this.counters,
    );
  }

  /** Stops observing: a reader collecting later gets nothing from this module. */
  onApplicationShutdown(): void {
    this.stop?.();
    this.stop = undefined;
  }
}
