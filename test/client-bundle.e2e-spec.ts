import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

/**
 * The module browsers load, as built (`npm run build --workspace nestjs-sse-hub`): one file,
 * under 6 KB gzipped, that imports nothing, so it can be served as it is.
 */
describe('nestjs-sse-hub/client as built', () => {
  it('is one ES module under 6 KB gzipped, with no import and no Node built-in', async () => {
    const path = createRequire(import.meta.url).resolve('nestjs-sse-hub/client');
    const code = await readFile(path);
    const text = code.toString('utf8');
    expect(gzipSync(code).length).toBeLessThan(6 * 1024);
    expect(text).not.toMatch(/\bimport\s*[{*"'(]|\brequire\(/);
    expect(text).not.toMatch(/node:/);
    expect(text).toMatch(/export\s*\{[^}]*\bSseClient\b/);
    const module = (await import(path)) as Record<string, unknown>;
    expect(Object.keys(module).sort()).toEqual(['CLOSED', 'CONNECTING', 'OPEN', 'SseClient']);
  });
});
