import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { format, resolveConfig } from 'prettier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerBinaryRequirement } from './support/requirements.js';

/** The parts of the benchmark's JavaScript modules these tests drive. */
interface BenchChild {
  ready: Promise<unknown>;
  failed: Promise<never>;
  call(command: string, args?: object, timeoutMs?: number): Promise<unknown>;
  stop(): Promise<void>;
}
type ChildClass = new (name: string, script: string, options?: object) => BenchChild;
interface Spread {
  median: number | null;
  min: number | null;
  max: number | null;
  values: number[];
}

const benchFile = (path: string) => new URL(`../bench/${path}`, import.meta.url);
const load = (path: string): Promise<Record<string, unknown>> => import(benchFile(path).href);

describe('the benchmark harness', () => {
  describe('the HTTP publisher', () => {
    let server: Server;
    let publisher: BenchChild;
    const received: { channel: string; n: number }[] = [];

    beforeAll(async () => {
      server = createServer((request: IncomingMessage, response) => {
        let body = '';
        request.setEncoding('utf8');
        request.on('data', (chunk: string) => (body += chunk));
        request.on('end', () => {
          const channel = request.url?.replace('/pub/', '') ?? '';
          received.push({ channel, n: (JSON.parse(body) as { n: number }).n });
          response.writeHead(202, { 'Content-Length': '0' }).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { Child } = (await load('lib/proc.js')) as { Child: ChildClass };
      publisher = new Child('publisher', benchFile('publisher.js').pathname);
      await Promise.race([publisher.ready, publisher.failed]);
      const { port } = server.address() as AddressInfo;
      await publisher.call('target', { port, prefix: '/pub/' });
    });

    afterAll(async () => {
      await publisher.stop();
      await new Promise((resolve) => server.close(resolve));
    });

    it('sends every message to each user, round after round, in the order it was sent', async () => {
      received.length = 0;
      await publisher.call('unicast', { rounds: 3, users: 40 });
      expect(received).toHaveLength(120);
      for (let u = 0; u < 40; u++) {
        const own = received.filter(({ channel }) => channel === `u${u}`).map(({ n }) => n);
        expect(own).toEqual([0, 1, 2]);
      }
    });

    it('sends broadcasts to the shared channel in order, several in flight', async () => {
      received.length = 0;
      await publisher.call('broadcast', { count: 25, burst: 10 });
      expect(received.map(({ channel }) => channel)).toEqual(Array(25).fill('all'));
      expect(received.map(({ n }) => n)).toEqual(Array.from({ length: 25 }, (_, n) => n));
    });
  });

  describe('the Redis Cluster row', () => {
    interface Row {
      name: string;
      redisCluster?: number;
      instances?: number;
      unavailable?: () => Promise<string | null>;
    }
    interface Cluster {
      ports: number[];
      pids: number[];
      seedList: string;
      stop(): Promise<void>;
    }
    const binary = redisServerBinaryRequirement();

    it('is among the rows: two instances on a cluster of three masters of its own', async () => {
      const { SERVERS } = (await load('lib/servers.js')) as { SERVERS: Row[] };
      const row = SERVERS.find(({ name }) => name === 'nestjs-sse-hub+redis-cluster');
      expect(row).toMatchObject({ redisCluster: 3, instances: 2 });
    });

    it('is skipped with what to install where redis-server and redis-cli are not found', async () => {
      const { SERVERS } = (await load('lib/servers.js')) as { SERVERS: Row[] };
      const row = SERVERS.find(({ name }) => name === 'nestjs-sse-hub+redis-cluster')!;
      const path = process.env.PATH;
      process.env.PATH = await mkdtemp(join(tmpdir(), 'sse-bench-empty-path-'));
      try {
        expect(await row.unavailable!()).toMatch(
          /^redis-server was not found on PATH: .*apt-get install redis-server/,
        );
      } finally {
        await rm(process.env.PATH, { recursive: true, force: true });
        process.env.PATH = path;
      }
    });

    it.skipIf(!binary.available)(
      'starts a cluster serving every slot on free ports, and stop() ends every node',
      async () => {
        const { BenchRedisCluster } = (await load('lib/redis-cluster.js')) as {
          BenchRedisCluster: { start(masters: number): Promise<Cluster> };
        };
        const cluster = await BenchRedisCluster.start(3);
        let stopped = false;
        try {
          expect(cluster.seedList.split(',')).toHaveLength(3);
          for (const port of cluster.ports) {
            const node = new Redis({ port, host: '127.0.0.1' });
            try {
              const info = String(await node.call('CLUSTER', 'INFO'));
              expect(info).toContain('cluster_state:ok');
              expect(info).toContain('cluster_slots_ok:16384');
              expect(info).toContain('cluster_size:3');
            } finally {
              node.disconnect();
            }
          }
          await cluster.stop();
          stopped = true;
          for (const pid of cluster.pids) expect(() => process.kill(pid, 0)).toThrow('ESRCH');
        } finally {
          if (!stopped) await cluster.stop();
        }
      },
      60_000,
    );
  });

  describe('the figures', () => {
    it('gives the median, the lowest and the highest of the repeats', async () => {
      const { spread } = (await load('lib/stats.js')) as {
        spread: (values: (number | null)[], digits?: number) => Spread;
      };
      expect(spread([3.14159, 1, 2, 10, null], 2)).toEqual({
        median: 2.57,
        min: 1,
        max: 10,
        values: [3.14, 1, 2, 10],
      });
      expect(spread([null]).median).toBeNull();
    });
  });

  describe('the report', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sse-bench-report-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    const cpu = (median: number): Spread => ({
      median,
      min: median * 0.9,
      max: median * 1.1,
      values: [median * 0.9, median, median * 1.1],
    });
    const run = (server: string, base: number, heap: number | null) => ({
      server,
      connections: 1000,
      memoryPerConnectionBytes: 12_000,
      rssPerConnectionBytes: 12_000,
      heapPerConnectionBytes: heap,
      broadcastDeliveriesPerSec: 100_000,
      burstDeliveriesPerSec: 500_000,
      unicastSendsPerSec: 60_000,
      connectionsPerSec: 4000,
      cpuPerDeliveryUs: base,
      cpuPerBurstDeliveryUs: base / 4,
      cpuPerUnicastSendUs: base * 1.5,
      cpuPerConnectUs: base * 20,
      latencyMs: { p50: 5, p99: 11, max: 20 },
      spread: {
        cpuPerDeliveryUs: cpu(base),
        cpuPerBurstDeliveryUs: cpu(base / 4),
        cpuPerUnicastSendUs: cpu(base * 1.5),
        cpuPerConnectUs: cpu(base * 20),
      },
      vsRawNode: { cpuPerDelivery: base / 8, cpuPerUnicastSend: base / 8 },
      messages: { repeats: 3 },
    });

    it('writes the CPU table with its spread for every server, as prettier would lay it out', async () => {
      const { writeReport } = (await load('lib/report.js')) as {
        writeReport: (results: object, dir: string) => Promise<void>;
      };
      await writeReport(
        {
          generatedAt: '2026-12-01T22:00:00.000Z',
          mode: 'full',
          durationSec: 1000,
          machine: {
            cpu: 'test CPU',
            cores: 2,
            memoryGiB: 4,
            os: 'Linux',
            node: 'v20',
            pinned: true,
            loadAverage: [0.5, 0.4, 0.3],
          },
          plan: { repeats: 3, connectRepeats: 3 },
          runs: [run('raw-node', 8, 5000), run('nestjs-sse-hub', 6, 9000), run('nchan', 9, null)],
          ratios: null,
          skipped: [{ server: 'better-sse', reason: 'not installed' }],
          failures: [],
        },
        `${dir}/`,
      );
      const markdown = await readFile(join(dir, 'benchmarks.md'), 'utf8');
      expect(markdown).toMatch(
        /\| `nestjs-sse-hub` +\| +6\.00 \(5\.40-6\.60\) \| +1\.50 \(1\.35-1\.65\) \|/,
      );
      expect(markdown).toMatch(/\| `nchan` +\|.*\| +n\/a \|\n/);
      expect(markdown).toContain('Skipped `better-sse`: not installed.');
      expect(markdown).toContain('## Where the time goes');
      // The repository's own prettier options, as `npm run lint` checks docs/ with them.
      const options = await resolveConfig(new URL('../docs/benchmarks.md', import.meta.url));
      expect(await format(markdown, { ...options, parser: 'markdown' })).toBe(markdown);
      expect(await readFile(join(dir, 'benchmarks.svg'), 'utf8')).toContain('<svg');
    });

    it('writes the topic row beside broadcast for the servers with topics only', async () => {
      const { writeReport } = (await load('lib/report.js')) as {
        writeReport: (results: object, dir: string) => Promise<void>;
      };
      const hub = run('nestjs-sse-hub', 6, 9000);
      const withTopic = {
        ...hub,
        topicDeliveriesPerSec: 95_000,
        cpuPerTopicDeliveryUs: 6.3,
        spread: { ...hub.spread, cpuPerTopicDeliveryUs: cpu(6.3) },
      };
      const withoutTopic = { ...run('raw-node', 8, 5000), topicDeliveriesPerSec: null };
      await writeReport(
        {
          generatedAt: '2026-12-01T22:00:00.000Z',
          mode: 'full',
          durationSec: 1000,
          machine: { cpu: 'test CPU', cores: 2, memoryGiB: 4, os: 'Linux', node: 'v20' },
          plan: { repeats: 3, connectRepeats: 3 },
          runs: [withoutTopic, withTopic],
          ratios: null,
          skipped: [],
          failures: [],
        },
        `${dir}/`,
      );
      const markdown = await readFile(join(dir, 'benchmarks.md'), 'utf8');
      const start = markdown.indexOf('One topic with every connection in it');
      expect(start).toBeGreaterThan(0);
      const topicTable = markdown.slice(start).split('\n\n')[1];
      expect(topicTable).toMatch(
        /\| `nestjs-sse-hub` +\| +6\.30 \(5\.67-6\.93\) \| +6\.00 \(5\.40-6\.60\) \| +95,000 \| +100,000 \| +0\.95x \|/,
      );
      expect(topicTable).not.toContain('raw-node');
      const options = await resolveConfig(new URL('../docs/benchmarks.md', import.meta.url));
      expect(await format(markdown, { ...options, parser: 'markdown' })).toBe(markdown);
    });
  });
});
