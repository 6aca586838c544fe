import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const demoMain = fileURLToPath(new URL('../apps/demo/dist/main.js', import.meta.url));

interface RunningDemo {
  readonly child: ChildProcess;
  readonly base: string;
  readonly output: () => string;
}

/** Starts the built demo as `npm start` does, without DEMO_SECRET, on a free port. */
async function startDemo(): Promise<RunningDemo> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1' };
  delete env.DEMO_SECRET;
  const child = spawn(process.execPath, [demoMain], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening on http:\/\/localhost:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`demo exited (${code}): ${output}`)));
  });
  return { child, base: `http://127.0.0.1:${port}`, output: () => output };
}

async function stop(demo: RunningDemo): Promise<void> {
  const exited = new Promise((resolve) => demo.child.once('exit', resolve));
  demo.child.kill('SIGTERM');
  await exited;
}

describe.skipIf(!existsSync(demoMain))('the demo without DEMO_SECRET', () => {
  it('keeps users signed in across a restart, and warns that the key is for this machine', async () => {
    const first = await startDemo();
    let token: string;
    try {
      expect(first.output()).toMatch(/DEMO_SECRET is not set: .*Set DEMO_SECRET in production/);
      const login = await fetch(`${first.base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'restart-alice' }),
      });
      expect(login.status).toBe(200);
      ({ token } = (await login.json()) as { token: string });
    } finally {
      await stop(first);
    }

    const second = await startDemo();
    try {
      const online = await fetch(`${second.base}/sse/online`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(online.status).toBe(200);
      const forged = await fetch(`${second.base}/sse/online`, {
        headers: {
          authorization: `Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
        },
      });
      expect(forged.status).toBe(401);
    } finally {
      await stop(second);
    }
  }, 60_000);
});
