import { Test, type TestingModule } from '@nestjs/testing';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { SseCounters } from '../hub/sse-counters.js';
import { SseHub } from '../hub/sse-hub.js';
import type { SseSink } from '../hub/sse-sink.interface.js';
import type { SseModuleOptions } from '../interfaces/sse-module-options.interface.js';
import { SseModule } from '../sse.module.js';
import { SseService } from '../sse.service.js';
import { SSE_METER_NAME } from './sse-otel-metrics.js';

/** A reader that collects when asked, as a Prometheus scrape does. */
class OnDemandReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Every data point of the library's meter, by instrument name. */
  async points(): Promise<Map<string, DataPoint<unknown>[]>> {
    const { resourceMetrics } = await this.collect();
    const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === SSE_METER_NAME);
    return new Map(
      (scope?.metrics ?? []).map((m) => [m.descriptor.name, m.dataPoints as DataPoint<unknown>[]]),
    );
  }
}

const sink: SseSink = {
  write: () => undefined,
  heartbeat: () => undefined,
  end: () => undefined,
  destroy: () => undefined,
};

let moduleRef: TestingModule | undefined;
afterEach(async () => {
  await moduleRef?.close();
  moduleRef = undefined;
});

async function start(metrics: SseModuleOptions['metrics']) {
  moduleRef = await Test.createTestingModule({
    imports: [SseModule.forRoot({ path: null, heartbeat: 0, timeout: 0, metrics })],
  }).compile();
  await moduleRef.init();
  return {
    sse: moduleRef.get(SseService),
    hub: moduleRef.get(SseHub),
    counters: moduleRef.get(SseCounters),
  };
}

describe('SseMetrics', () => {
  it('counts a broadcast to 10,000 connections with one call, and reads the totals on collect', async () => {
    const reader = new OnDemandReader();
    const { sse, hub, counters } = await start({
      meterProvider: new MeterProvider({ readers: [reader] }),
    });
    const open = Array.from({ length: 10_000 }, (_, i) => hub.open(`u${i}`, undefined, () => sink));

    let calls = 0;
    const delivered = counters.delivered.bind(counters);
    counters.delivered = (connections) => {
      calls++;
      delivered(connections);
    };
    expect(await sse.broadcast('all')).toMatchObject({ delivered: 10_000 });
    expect(calls).toBe(1);
    await sse.sendToUsers(['u1', 'u2'], 'two');

    const points = await reader.points();
    const value = (name: string, attributes: Record<string, string> = {}) =>
      points
        .get(name)
        ?.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))?.value;
    expect(value('sse.connections')).toBe(10_000);
    expect(value('sse.users')).toBe(10_000);
    expect(value('sse.deliveries')).toBe(10_002);
    expect(value('sse.messages', { kind: 'broadcast' })).toBe(1);
    expect(value('sse.messages', { kind: 'users' })).toBe(1);
    expect(value('sse.messages', { kind: 'user' })).toBe(0);
    expect(value('sse.publish.duration')).toMatchObject({ count: 2 });

    for (const connection of open) hub.close(connection, 'client');
    const after = await reader.points();
    expect(after.get('sse.connections')?.[0]?.value).toBe(0);
    expect(after.get('sse.disconnects')?.find((p) => p.attributes.reason === 'client')?.value).toBe(
      10_000,
    );
    expect(hub.resourceCounts()).toMatchObject({ connections: 0, channels: 0 });
  });

  it('records nothing with metrics: false, and does not time publishes', async () => {
    const { sse, counters } = await start(false);
    await sse.broadcast('all');
    expect(counters.publishDuration).toBeUndefined();
    expect(counters.counts().messagesSent).toBe(1);
  });
});
