import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';
import { Redis } from 'ioredis';

/**
 * A redis-server of a test's own, on a free port, keeping nothing on disk: a test may push
 * it into failure (out of memory, read-only, frozen) without touching the shared one.
 */
export class OwnRedis {
  private child: ChildProcess | undefined;
  /** A connection for the test to drive the server with. */
  admin!: Redis;

  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort());
    const child = spawn(
      'redis-server',
      ['--port', String(redis.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    redis.child = child;
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
    redis.admin = new Redis(redis.url);
    return redis;
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

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.admin?.disconnect();
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }
}
