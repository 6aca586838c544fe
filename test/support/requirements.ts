import { existsSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * Tests that need a real service or program run when it is there; when it is not, they
 * fail under CI=true (CI must provide it) and are skipped elsewhere with a clear message,
 * so that `npm test` passes on a fresh laptop too.
 */
export interface Requirement {
  readonly available: boolean;
  readonly reason: string;
}

function decide(available: boolean, what: string, hint: string): Requirement {
  if (!available && process.env.CI === 'true') {
    throw new Error(`${what} is required under CI=true but is missing: ${hint}`);
  }
  if (!available) console.warn(`[skipped] ${what} is missing (${hint}); its tests are skipped.`);
  return { available, reason: hint };
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The Redis URL tests use: REDIS_URL, else redis://127.0.0.1:6379. */
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether a Redis server answers at TEST_REDIS_URL. */
export async function redisRequirement(): Promise<Requirement> {
  const url = new URL(TEST_REDIS_URL);
  const ok = await canConnect(Number(url.port || 6379), url.hostname);
  return decide(ok, `Redis at ${TEST_REDIS_URL}`, 'start redis-server or set REDIS_URL');
}

/** Path of the Chromium the browser tests drive. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether Chromium is installed at CHROMIUM_PATH. */
export function chromiumRequirement(): Requirement {
  return decide(
    existsSync(CHROMIUM_PATH),
    `Chromium at ${CHROMIUM_PATH}`,
    'apt-get install chromium, or set CHROMIUM_PATH',
  );
}

/** Whether a `redis-server` binary is on the PATH (for tests that start their own). */
export function redisServerBinaryRequirement(): Requirement {
  const found = (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsSync(`${dir}/redis-server`));
  return decide(found, 'the redis-server program', 'apt-get install redis-server');
}

/** The NATS server tests use (JetStream on): NATS_URL, else 127.0.0.1:4222. */
export const TEST_NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Whether a NATS server answers at TEST_NATS_URL. */
export async function natsRequirement(): Promise<Requirement> {
  const url = new URL(TEST_NATS_URL.includes('://') ? TEST_NATS_URL : `nats://${TEST_NATS_URL}`);
  const ok = await canConnect(Number(url.port || 4222), url.hostname);
  return decide(ok, `NATS at ${TEST_NATS_URL}`, 'start nats-server -js or set NATS_URL');
}

/** Whether a `nats-server` binary is on the PATH (for tests that start their own). */
export function natsServerBinaryRequirement(): Requirement {
  const found = (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsSync(`${dir}/nats-server`));
  return decide(found, 'the nats-server program', 'apt-get install nats-server');
}
