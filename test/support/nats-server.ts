import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A nats-server of a test's own, JetStream on, on its own port, keeping JetStream's data
 * in `dir` across a stop and a start: NATS going away and coming back, data intact.
 */
export class OwnNatsServer {
  private process: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'nats-server',
      ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const read = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Server is ready')) resolve();
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${output}`)));
    });
  }

  /** Stops the server (SIGTERM: JetStream writes its data out first) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
