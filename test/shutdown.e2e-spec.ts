import 'reflect-metadata';
import { Injectable, Module, type BeforeApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { EventSource } from 'eventsource';
import { SseModule } from 'nestjs-sse-hub';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SseHub } from '../libs/sse/src/hub/sse-hub.js';
import { MATRIX, startApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { CHROMIUM_PATH, chromiumRequirement } from './support/requirements.js';
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

/** Starts the built demo in a child process; resolves with its port once it listens. */
async function spawnDemo(env: Record<string, string>) {
  const child = spawn(process.execPath, [demoMain], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DEMO_SECRET: 's', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)),
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /localhost:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`demo exited (${code}): ${output}`)));
  });
  return { child, exited, base: `http://127.0.0.1:${port}`, output: () => output };
}

async function signIn(base: string, userId: string): Promise<string> {
  const login = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  return ((await login.json()) as { token: string }).token;
}

const chromiumFound = chromiumRequirement();

describe.skipIf(!existsSync(demoMain))('SIGTERM with SHUTDOWN_DRAIN_MS', () => {
  it.each(['express', 'fastify'])(
    'the %s demo keeps listening after its streams end; EventSource clients keep reconnecting',
    async (platform) => {
      const demo = await spawnDemo({
        PLATFORM: platform,
        // Long enough for every client to come back twice during the drain.
        SHUTDOWN_DRAIN_MS: '8000',
        SSE_RETRY_MS: '1000',
      });
      const token = await signIn(demo.base, 'alice');
      const sources = Array.from({ length: 10 }, () => {
        const source = new EventSource(`${demo.base}/sse`, {
          fetch: (input, init) =>
            fetch(input, {
              ...init,
              headers: { ...init?.headers, authorization: `Bearer ${token}` },
            }),
        });
        const seen = { opens: 0, gaveUp: false };
        source.addEventListener('open', () => seen.opens++);
        source.addEventListener('error', () => {
          if (source.readyState === EventSource.CLOSED) seen.gaveUp = true;
        });
        return { source, seen };
      });
      try {
        await eventually(async () => sources.every(({ seen }) => seen.opens === 1), 'opens');
        demo.child.kill('SIGTERM');
        // Every client is ended, comes back, gets a stream that says retry, comes back again.
        await eventually(
          async () => sources.every(({ seen }) => seen.gaveUp || seen.opens >= 3),
          'every EventSource reconnected twice during the drain',
        );
        expect(sources.filter(({ seen }) => seen.gaveUp)).toHaveLength(0);
        // The rest of the API still answers while the instance drains.
        const during = await fetch(`${demo.base}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ userId: 'bob' }),
        });
        expect(during.status).toBe(200);
        // A stream request during the drain: 200, one retry frame, the end.
        const late = await RawSseClient.open(`${demo.base}/sse`, {
          authorization: `Bearer ${token}`,
        });
        await late.waitForEnd(10_000);
        expect(late.status).toBe(200);
        expect(late.events).toHaveLength(1);
        expect(late.events[0].retry).toBeGreaterThanOrEqual(1000);
        expect(late.events[0].id).toBeUndefined();
      } finally {
        for (const { source } of sources) source.close();
      }
      // Exits by itself once the drain is over: keep-alive sockets do not hold it.
      expect(await demo.exited).toBe('SIGTERM');
    },
    40_000,
  );

  it.skipIf(!chromiumFound.available)(
    'a Chromium page keeps its EventSource through the drain',
    async () => {
      const demo = await spawnDemo({
        PLATFORM: 'express',
        SHUTDOWN_DRAIN_MS: '8000',
        SSE_RETRY_MS: '1000',
      });
      const browser = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${demo.base}/`);
        // Text, not a function: the page's own EventSource, untouched by the test's imports.
        await page.evaluate(`(async () => {
          await fetch('/auth/login', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ userId: 'carol' }),
          });
          const state = { opens: 0, closedForGood: false };
          globalThis.sseState = state;
          const source = new EventSource('/sse');
          source.addEventListener('open', () => state.opens++);
          source.addEventListener('error', () => {
            if (source.readyState === EventSource.CLOSED) state.closedForGood = true;
          });
        })()`);
        const state = () =>
          page.evaluate<{ opens: number; closedForGood: boolean }>('globalThis.sseState');
        await eventually(async () => (await state()).opens === 1, 'the page to connect');
        demo.child.kill('SIGTERM');
        await eventually(async () => {
          const now = await state();
          return now.closedForGood || now.opens >= 3;
        }, 'the page to reconnect twice during the drain');
        expect((await state()).closedForGood).toBe(false);
        expect(await demo.exited).toBe('SIGTERM');
      } finally {
        await browser.close();
      }
    },
    40_000,
  );
});
