import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const committed = join(root, 'docs', 'api');
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

function tree(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
      .map((file) => [relative(dir, file), readFileSync(file, 'utf8')]),
  );
}

describe('the API reference in docs/api', () => {
  const out = mkdtempSync(join(tmpdir(), 'nestjs-sse-hub-api-docs-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('is what the TSDoc of the exports generates (run `npm run docs:api` after a change)', async () => {
    // TypeDoc fails on an export without TSDoc or a broken {@link}: warnings are errors.
    await run(bin('typedoc'), ['--options', 'libs/sse/typedoc.config.mjs', '--out', out], {
      cwd: root,
    }).catch((error: { stdout?: string }) => {
      throw new Error(`typedoc failed:\n${error.stdout ?? String(error)}`);
    });
    await run(bin('prettier'), ['--config', '.prettierrc', '--write', out], { cwd: root });
    const generated = tree(out);
    expect(Object.keys(generated)).toContain('README.md');
    expect(tree(committed)).toEqual(generated);
  }, 60_000);
});
