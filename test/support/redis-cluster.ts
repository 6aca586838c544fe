import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from './eventually.js';

/** One `redis-server` of a test cluster. */
export interface RedisClusterNode {
  readonly port: number;
  process: ChildProcess | undefined;
}

/** A seed node address, as `new Cluster(nodes)` and `RedisSseBroker({ cluster })` take them. */
export interface RedisClusterSeed {
  readonly host: string;
  readonly port: number;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Free ports for cluster nodes: each node also needs its bus port (port + 10000) free.
 * Taken at random in 20000-29999 so that parallel test files rarely meet.
 */
async function freeNodePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (ports.includes(port)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

/**
 * A Redis Cluster of the test's own: `masters` masters with one replica each, every node a
 * `redis-server --cluster-enabled yes` on free ports, joined by `redis-cli --cluster create`.
 * Nothing is persisted; `stop()` kills every node and removes its files.
 */
export class TestRedisCluster {
  private constructor(
    private readonly dir: string,
    readonly nodes: RedisClusterNode[],
    /** Masters the cluster has when healthy. */
    readonly masters: number,
  ) {}

  /** Seed addresses of every node. */
  get seeds(): RedisClusterSeed[] {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  /** `host:port,...`, as the demo's `REDIS_CLUSTER_NODES` takes them. */
  get seedList(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  static async start(masters = 3): Promise<TestRedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'sse-redis-cluster-'));
    const ports = await freeNodePorts(masters * 2);
    const cluster = new TestRedisCluster(
      dir,
      ports.map((port) => ({ port, process: undefined })),
      masters,
    );
    try {
      for (const node of cluster.nodes) cluster.spawnNode(node);
      await Promise.all(cluster.nodes.map((node) => cluster.waitForPing(node.port)));
      const created = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...ports.map((port) => `127.0.0.1:${port}`),
          '--cluster-replicas',
          '1',
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (created.status !== 0) {
        throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      }
      await cluster.waitUntilHealthy();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  private spawnNode(node: RedisClusterNode): void {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(node.port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(this.dir, `nodes-${node.port}.conf`),
        '--cluster-node-timeout',
        '2000',
        // A replica may take over however long its link was down: the tests kill masters.
        '--cluster-replica-validity-factor',
        '0',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
      ],
      { stdio: 'ignore' },
    );
    node.process = child;
    child.once('exit', () => {
      if (node.process === child) node.process = undefined;
    });
  }

  private async waitForPing(port: number): Promise<void> {
    await eventually(async () => {
      const client = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        client.disconnect();
      }
    }, `redis-server on port ${port} answers`);
  }

  private async info(port: number, command: string[]): Promise<string | undefined> {
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return String(await client.call(command[0], ...command.slice(1)));
    } catch {
      return undefined;
    } finally {
      client.disconnect();
    }
  }

  /**
   * Resolves once every running node says the cluster is ok, every slot has a master, and
   * there are as many running masters as at the start (a failed master's replica has taken
   * over).
   */
  async waitUntilHealthy(timeoutMs = 30_000): Promise<void> {
    await eventually(
      async () => {
        if ((await this.masterPorts()).length !== this.masters) return false;
        // Replicas that have not finished their first sync could not take over.
        for (const port of await this.replicaPorts()) {
          const replication = await this.info(port, ['INFO', 'replication']);
          if (!replication?.includes('master_link_status:up')) return false;
        }
        for (const node of this.nodes) {
          if (node.process === undefined) continue;
          const info = await this.info(node.port, ['CLUSTER', 'INFO']);
          if (info === undefined || !info.includes('cluster_state:ok')) return false;
          if (!info.includes('cluster_slots_ok:16384')) return false;
        }
        return true;
      },
      'the Redis Cluster is healthy',
      timeoutMs,
    );
  }

  /** Ports of the nodes that are masters now. */
  async masterPorts(): Promise<number[]> {
    const masters: number[] = [];
    for (const node of this.nodes) {
      if (node.process === undefined) continue;
      const role = await this.info(node.port, ['ROLE']);
      if (role?.startsWith('master')) masters.push(node.port);
    }
    return masters;
  }

  /** Ports of the running nodes that are replicas now. */
  async replicaPorts(): Promise<number[]> {
    const masters = await this.masterPorts();
    return this.nodes
      .filter((node) => node.process !== undefined && !masters.includes(node.port))
      .map((node) => node.port);
  }

  /** The port of the master that holds `key`'s slot. */
  async masterOf(key: string): Promise<number> {
    const running = this.nodes.find((node) => node.process !== undefined)!;
    const client = new Redis({ port: running.port, host: '127.0.0.1' });
    try {
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
      const slots = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const range = slots.find(([start, end]) => slot >= start && slot <= end);
      if (range === undefined) throw new Error(`no master holds slot ${slot}`);
      return Number(range[2][1]);
    } finally {
      client.disconnect();
    }
  }

  /**
   * Kills a node at once (SIGKILL, as a crash would), and, for a master, waits until its
   * replica has taken over and the cluster is healthy again.
   */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((candidate) => candidate.port === port);
    const child = node?.process;
    if (node === undefined || child === undefined) throw new Error(`no running node on ${port}`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await this.waitUntilHealthy();
  }

  /** Kills every node and removes their files. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const child = node.process;
        if (child === undefined) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
