import 'reflect-metadata';
import { Injectable, Module, type BeforeApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { EventSource } from 'eventsource';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SseHub } from '../libs/sse/src/hub/sse-hub.js';
import { MATRIX, startApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSseClient } from './support/sse-client.js';

const STREAMS = 300;

describe.each(MATRIX)(
  'graceful shutdown on $platform, $transport transport',
  ({ platform, transport }) => {
    it(`app.close() ends ${STREAMS} open streams at once, each with its own retry`, async () => {
      const test = await startApp(platform, { transport, retry: 60_000, heartbeat: 0 });
      const clients: RawSseClient[] = [];
      for (let i = 0; i < STREAMS; i++) {
        clients.push(await RawSseClient.open(`${test.url}/sse`, { 'x-user': `user-${i % 50}` }));
      }
      await Promise.all(clients.map((client) => client.waitForEvents(1)));
      const reasons: string[] = [];
      test.sse.events$.subscribe((e) => e.type === 'disconnect' && reasons.push(e.reason));

      await test.close();
      await Promise.all(clients.map((client) => client.waitForEnd()));

      expect(reasons).toHaveLength(STREAMS);
      expect(new Set(reasons)).toEqual(new Set(['shutdown']));
      const retries = clients.map((client) => {
        const last = client.events.at(-1)!;
        // The last frame keeps the client's resume point, carries no data, and spreads retry.
        expect(last.id).toBe(client.events[0].id);
        expect(last.data).toBeUndefined();
        expect(last.retry).toBeGreaterThanOrEqual(1000);
        expect(last.retry).toBeLessThanOrEqual(15_000);
        return last.retry;
      });
      expect(new Set(retries).size).toBeGreaterThan(STREAMS / 3);
      expect(test.hub.resourceCounts()).toEqual({
        channels: 0,
        connections: 0,
        deadlines: 0,
        timers: 0,
      });
    }, 60_000);
  },
);

/** Another provider's shutdown hook that takes its time: it ends when the test says so. */
@Injectable()
class SlowShutdownHook implements BeforeApplicationShutdown {
  private release!: () => void;
  readonly released = new Promise<void>((resolve) => (this.release = resolve));

  beforeApplicationShutdown(): Promise<void> {
    return this.released;
  }

  finish(): void {
    this.release();
  }
}

describe.each(MATRIX)(
  'a shutdown held open by a slow hook, on $platform, $transport transport',
  ({ platform, transport }) => {
    it('answers every reconnect with a stream that says retry, so no EventSource gives up', async () => {
      @Module({ providers: [SlowShutdownHook], exports: [SlowShutdownHook] })
      class SlowHookModule {}
      // A module imported into forRootAsync shuts down after the hub: its hook holds the
      // server open while the hub's streams have already ended.
      @Module({
        imports: [
          SseModule.forRootAsync({
            imports: [SlowHookModule],
            useFactory: () => ({
              resolveUser: (request) => request.headers['x-user'],
              // The shutdown retry is spread between 1 s and min(retry, 15 s): 1 s here.
              retry: 1000,
              heartbeat: 0,
            }),
            transport,
          }),
        ],
      })
      class SlowShutdownModule {}
      const app =
        platform === 'fastify'
          ? await NestFactory.create(SlowShutdownModule, new FastifyAdapter(), { logger: false })
          : await NestFactory.create(SlowShutdownModule, { logger: false });
      await app.listen(0, '127.0.0.1');
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      const hub = app.get(SseHub);
      const sources = Array.from({ length: 10 }, (_, i) => {
        const source = new EventSource(`${url}/sse`, {
          fetch: (input, init) =>
            fetch(input, { ...init, headers: { ...init?.headers, 'x-user': `user-${i}` } }),
        });
        const seen = { opens: 0, gaveUp: false };
        source.addEventListener('open', () => seen.opens++);
        source.addEventListener('error', () => {
          if (source.readyState === EventSource.CLOSED) seen.gaveUp = true;
        });
        return { source, seen };
      });
      try {
        await eventually(
          async () => hub.resourceCounts().connections === sources.length,
          'every EventSource connected',
        );
        const closed = app.close();
        await eventually(async () => hub.isClosing, 'the hub to end its streams');
        const opensAtClose = sources.map(({ seen }) => seen.opens);
        // Each client comes back (after its retry) and is answered with a stream, twice.
        await eventually(
          async () =>
            sources.every(({ seen }, i) => seen.gaveUp || seen.opens >= opensAtClose[i] + 2),
          'every EventSource reconnected twice during the shutdown',
        );
        expect(sources.filter(({ seen }) => seen.gaveUp)).toHaveLength(0);
        expect(sources.every(({ source }) => source.readyState !== EventSource.CLOSED)).toBe(true);
        expect(hub.resourceCounts().connections).toBe(0);
        app.get(SlowShutdownHook).finish();
        await closed;
      } finally {
        for (const { source } of sources) source.close();
        app.get(SlowShutdownHook).finish();
        await app.close().catch(() => undefined);
      }
    }, 30_000);
  },
);

const demoMain = fileURLToPath(new URL('../apps/demo/dist/main.js', import.meta.url));

describe.skipIf(!existsSync(demoMain))('SIGTERM', () => {
  it.each(['express', 'fastify'])(
    'ends every stream of the %s demo at once and exits promptly',
    async (platform) => {
      const child = spawn(process.execPath, [demoMain], {
        env: {
          ...process.env,
          PORT: '0',
          HOST: '127.0.0.1',
          PLATFORM: platform,
          DEMO_SECRET: 's',
          SSE_MAX_CONNECTIONS_PER_USER: '1000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /localhost:(\d+)/.exec(output);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`demo exited (${code}): ${output}`)));
      });
      const base = `http://127.0.0.1:${port}`;
      const login = await fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'alice' }),
      });
      const { token } = (await login.json()) as { token: string };
      const clients = await Promise.all(
        Array.from({ length: 100 }, () =>
          RawSseClient.open(`${base}/sse`, { authorization: `Bearer ${token}` }),
        ),
      );
      await Promise.all(clients.map((client) => client.waitForEvents(1)));

      const exited = new Promise<string>((resolve) =>
        child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)),
      );
      child.kill('SIGTERM');
      await Promise.all(clients.map((client) => client.waitForEnd(10_000)));
      // Exits by itself (NestJS closes the app, then lets the signal end the process): the
      // test fails on its timeout if shutdown hangs on open streams.
      expect(await exited).toBe('SIGTERM');
      for (const client of clients) {
        expect(client.events.at(-1)!.retry).toBeGreaterThanOrEqual(1000);
      }
    },
    30_000,
  );
});
