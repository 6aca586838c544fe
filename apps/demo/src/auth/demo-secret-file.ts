import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// 32 random bytes as hex: what this module writes, and all it accepts back.
const KEY_SHAPE = /^[0-9a-f]{64}$/;

/**
 * Where the demo keeps its signing key when `DEMO_SECRET` is unset: under the nearest
 * `node_modules/.cache` above `from` (never committed, gone with `npm ci`), else under the
 * OS temporary directory.
 */
export function defaultDemoSecretFile(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) {
      return join(dir, 'node_modules', '.cache', 'nestjs-sse-hub-demo', 'secret');
    }
    if (dirname(dir) === dir) break;
  }
  return join(tmpdir(), `nestjs-sse-hub-demo-${process.getuid?.() ?? 'user'}`, 'secret');
}

function readKey(file: string): string | undefined {
  try {
    const key = readFileSync(file, 'utf8').trim();
    return KEY_SHAPE.test(key) ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The signing key kept in `file`, made (32 random bytes, readable by its owner only) the
 * first time, so that a restart on the same machine keeps users signed in. Two processes
 * that start at once agree on the first key written. A file that holds anything else than
 * a key this function wrote is replaced, which signs every user out once.
 */
export function readOrCreateDemoSecret(file: string): string {
  const existing = readKey(file);
  if (existing !== undefined) return existing;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('hex');
  try {
    writeFileSync(file, `${key}\n`, { flag: 'wx', mode: 0o600 });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Another process wrote the file first: use its key, unless the file is not a key at all.
  const theirs = readKey(file);
  if (theirs !== undefined) return theirs;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
