import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultDemoSecretFile, readOrCreateDemoSecret } from './demo-secret-file.js';

describe('the demo secret file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'demo-secret-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is made once, readable by its owner only, and read back on every later start', () => {
    const file = join(dir, 'cache', 'secret');
    const first = readOrCreateDemoSecret(file);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readOrCreateDemoSecret(file)).toBe(first);
    expect(readFileSync(file, 'utf8').trim()).toBe(first);
  });

  it('is replaced by a new key when it holds something else', () => {
    const file = join(dir, 'secret');
    writeFileSync(file, 'not a key');
    const key = readOrCreateDemoSecret(file);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(readOrCreateDemoSecret(file)).toBe(key);
  });

  it('lives under the nearest node_modules/.cache, else under the temporary directory', () => {
    mkdirSync(join(dir, 'node_modules'));
    mkdirSync(join(dir, 'apps', 'demo', 'dist'), { recursive: true });
    expect(defaultDemoSecretFile(join(dir, 'apps', 'demo', 'dist'))).toBe(
      join(dir, 'node_modules', '.cache', 'nestjs-sse-hub-demo', 'secret'),
    );
    const outside = defaultDemoSecretFile('/');
    expect(outside.startsWith(tmpdir())).toBe(true);
  });
});
