/**
 * A Redis Cluster of the benchmark's own: `masters` masters without replicas, each a
 * `redis-server --cluster-enabled yes` on free ports (and their bus ports), joined by
 * `redis-cli --cluster create`, nothing persisted. `stop()` ends every node and removes its
 * files; so does the runner's exit, however it comes (an error, SIGINT, SIGTERM).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every cluster still running, ended at exit. */
const running = new Set();

function endAll() {
  for (const cluster of running) cluster.kill();
}
process.on('exit', endAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    endAll();
    process.exit(130);
  });
}

/** The first of `tools` that cannot be run from PATH (`<tool> --version`), or undefined. */
export function missingTool(tools) {
  return tools.find((tool) => {
    const found = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    return found.error !== undefined || found.status !== 0;
  });
}

/** Why no cluster can be started here (a sentence), or null. */
export function clusterUnavailable() {
  const missing = missingTool(['redis-server', 'redis-cli']);
  if (missing === undefined) return null;
  return (
    `${missing} was not found on PATH: a Redis Cluster of the benchmark's own is started with ` +
    'redis-server and redis-cli (Debian: apt-get install redis-server)'
  );
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Free ports whose bus port (port + 10000) is free too, taken at random in 40000-49999 (the
 * tests' clusters take 20000-29999, their bus ports 30000-39999).
 */
async function freeNodePorts(count) {
  const ports = [];
  while (ports.length < count) {
    const port = 40_000 + Math.floor(Math.random() * 10_000);
    if (ports.includes(port)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

function cli(port, ...command) {
  return spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...command], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

async function until(what, check, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`the benchmark's Redis Cluster: ${what} timed out`);
    await sleep(100);
  }
}

export class BenchRedisCluster {
  constructor(dir, ports) {
    this.dir = dir;
    this.ports = ports;
    this.processes = [];
  }

  /** `host:port,...`, as `REDIS_CLUSTER_NODES` and `BENCH_REDIS_CLUSTER_NODES` take them. */
  get seedList() {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',');
  }

  /** The process ids of the nodes, to read their CPU time from /proc. */
  get pids() {
    return this.processes.map((child) => child.pid);
  }

  static async start(masters = 3) {
    const dir = mkdtempSync(join(tmpdir(), 'sse-bench-cluster-'));
    const cluster = new BenchRedisCluster(dir, await freeNodePorts(masters));
    running.add(cluster);
    try {
      for (const port of cluster.ports) cluster.spawnNode(port);
      for (const port of cluster.ports) {
        await until(
          `redis-server on ${port} answering`,
          () => cli(port, 'PING').stdout === 'PONG\n',
        );
      }
      const created = spawnSync(
        'redis-cli',
        ['--cluster', 'create', ...cluster.seedList.split(','), '--cluster-yes'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (created.status !== 0) {
        throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      }
      await until('every node seeing all slots served', () =>
        cluster.ports.every((port) => {
          const info = cli(port, 'CLUSTER', 'INFO').stdout;
          return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384');
        }),
      );
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  spawnNode(port) {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(this.dir, `nodes-${port}.conf`),
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
    this.processes.push(child);
  }

  /** Ends every node at once and removes their files (synchronous: usable at exit). */
  kill() {
    for (const child of this.processes) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }

  /** Ends every node, waits until they have exited, and removes their files. */
  async stop() {
    const exits = this.processes
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map((child) => new Promise((resolve) => child.once('exit', resolve)));
    this.kill();
    await Promise.all(exits);
  }
}
