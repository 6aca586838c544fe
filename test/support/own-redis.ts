import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';
import { Redis } from 'ioredis';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';

/**
 * A redis-server of a test's own, on a free port, keeping nothing on disk: a test may push
 * it into failure (out of memory, read-only, frozen) without touching the shared one.
 * {@link OwnRedis.onDisk} makes one that keeps its data across a stop and a start instead.
 */
export class OwnRedis {
  private child: ChildProcess | undefined;
  /** A connection for the test to drive the server with (a new one on each start). */
  admin!: Redis;

  private constructor(
    readonly port: number,
    private readonly dir: string | undefined,
  ) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), undefined);
    await redis.run();
    return redis;
  }

  /**
   * A server not started yet, on a free port, that saves its data in `dir` when stopped
   * and loads it when run again: Redis going away and coming back, data intact.
   */
  static async onDisk(dir: string): Promise<OwnRedis> {
    return new OwnRedis(await freePort(), dir);
  }

  /** Starts the server (again, after {@link OwnRedis.stop}) and waits until it takes connections. */
  async run(): Promise<void> {
    const storage =
      this.dir === undefined ? ['--save', ''] : ['--dir', this.dir, '--save', '3600 1'];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', ...storage, '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const read = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
    });
    this.admin = new Redis(this.url);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Freezes the server (SIGSTOP): sockets stay up, nothing is answered. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Ends the connections of clients whose name starts with `name` (CLIENT KILL has no such filter). */
  async killClients(name: string): Promise<number> {
    const list = (await this.admin.call('CLIENT', 'LIST')) as string;
    let killed = 0;
    for (const line of list.split('\n')) {
      const id = /\bid=(\d+)/.exec(line)?.[1];
      const named = /\bname=(\S*)/.exec(line)?.[1] ?? '';
      if (id !== undefined && named.startsWith(name)) {
        killed += Number(await this.admin.call('CLIENT', 'KILL', 'ID', id));
      }
    }
    return killed;
  }

  /**
   * A broker on this server, quick to notice a fault: presence for 3 s beaten every 500 ms,
   * commands given up after 1 s. `url`: reach the server another way (as another user, say).
   */
  broker(keyPrefix: string, url = this.url): RedisSseBroker {
    return new RedisSseBroker({
      url,
      keyPrefix,
      presenceTtlMs: 3000,
      presenceHeartbeatMs: 500,
      commandTimeoutMs: 1000,
    });
  }

  /**
   * Stops the server and waits until it is gone: killed outright, or, on disk, told to end
   * (it saves its data first).
   */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.admin?.disconnect();
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill(this.dir === undefined ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }
}
