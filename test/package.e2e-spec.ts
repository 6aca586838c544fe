import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSseClient } from './support/sse-client.js';

/*
 * What a new user does first, on every run: the library is packed as npm would publish it,
 * installed into a fresh NestJS app outside this workspace (no workspace links, no path
 * aliases), compiled with strict TypeScript and run against a real client.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const library = join(root, 'libs', 'sse');
const fixture = join(root, 'test', 'fixtures', 'packed-app');

/** The exact version of a package this workspace has installed. */
function installedVersion(name: string): string {
  const manifest = JSON.parse(
    readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'),
  ) as { version: string };
  return manifest.version;
}

/** The environment of a child npm: none of the workspace's npm_* settings but the cache's. */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('npm_') || keep.has(key)),
  );
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

const STRICT_TSCONFIG = {
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'ES2023',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noImplicitAny: true,
    noImplicitOverride: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: false,
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
};

describe('the packed library in a fresh NestJS app', () => {
  let work: string;
  let app: string;
  let tarball: string;
  let install: { stdout: string; stderr: string };
  let installed: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'nestjs-sse-hub-package-'));
    app = join(work, 'app');
    // Up to date after `npm test`'s build: then this only checks timestamps.
    await run('npm', ['run', 'build'], { cwd: library, env: npmEnv() });
    const packed = await run(
      'npm',
      ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
      { cwd: library, env: npmEnv() },
    );
    const [{ filename }] = JSON.parse(packed.stdout) as Array<{ filename: string }>;
    tarball = join(work, filename);

    // The same sources twice: as an ES module app, and in commonjs/ as a CommonJS one that
    // shares its node_modules.
    for (const project of [app, join(app, 'commonjs')]) {
      mkdirSync(join(project, 'src'), { recursive: true });
      for (const file of readdirSync(fixture)) {
        copyFileSync(join(fixture, file), join(project, 'src', file));
      }
      // The library's declaration files are type-checked once, in the ES module app; the
      // CommonJS app shows that they resolve and load from require().
      const skipLibCheck = project !== app;
      const tsconfig = {
        ...STRICT_TSCONFIG,
        compilerOptions: { ...STRICT_TSCONFIG.compilerOptions, skipLibCheck },
      };
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    }
    writeFileSync(join(app, 'commonjs', 'package.json'), JSON.stringify({ type: 'commonjs' }));
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true, type: 'module' }),
    );
    const peers = [
      '@nestjs/common',
      '@nestjs/core',
      '@nestjs/platform-express',
      'reflect-metadata',
      'rxjs',
      'typescript',
      '@types/node',
    ].map((name) => `${name}@${installedVersion(name)}`);
    install = await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--save-exact', tarball, ...peers],
      { cwd: app, env: npmEnv() },
    );
    installed = join(app, 'node_modules', 'nestjs-sse-hub');
  }, 120_000);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('installs without a peer dependency warning', () => {
    expect(install.stderr).not.toMatch(/peer|ERESOLVE/i);
    expect(existsSync(join(installed, 'package.json'))).toBe(true);
  });

  it('ships its LICENSE, README and CHANGELOG, and no tests', () => {
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toBe(
      readFileSync(join(root, 'LICENSE'), 'utf8'),
    );
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toContain('MIT License');
    expect(existsSync(join(installed, 'README.md'))).toBe(true);
    expect(existsSync(join(installed, 'CHANGELOG.md'))).toBe(true);
    const tests = filesUnder(installed).filter((file) => /\.(spec|test-suite)\.ts$/.test(file));
    expect(tests).toEqual([]);
  });

  it('ships the source of every source map', () => {
    const maps = filesUnder(join(installed, 'dist')).filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot = '' } = JSON.parse(readFileSync(map, 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      for (const source of sources) {
        const path = resolve(dirname(map), sourceRoot, source);
        if (!existsSync(path)) missing.push(`${relative(installed, map)} -> ${source}`);
      }
    }
    // A source deleted since the last build leaves its outputs behind: `tsc -b` does not
    // remove them. Remove libs/sse/dist and build again.
    expect(missing, 'maps without their source (a stale build?)').toEqual([]);
  });

  it('passes publint, suggestions included', async () => {
    const { messages, pkg } = await publint({
      pack: { tarball: new Uint8Array(readFileSync(tarball)).buffer },
      level: 'suggestion',
      strict: true,
    });
    expect(messages.map((message) => formatMessage(message, pkg) ?? message.code)).toEqual([]);
  });

  it.each([
    { kind: 'an ES module app', dir: '.' },
    // A CommonJS app loads the ESM-only package through require(esm): what `engines` is for.
    { kind: 'a CommonJS app', dir: 'commonjs' },
  ])(
    'compiles under strict TypeScript as $kind, runs, and streams to a client',
    async ({ dir }) => {
      const project = join(app, dir);
      const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
      await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).catch(
        (error: { stdout?: string }) => {
          throw new Error(`tsc failed in the fresh app:\n${error.stdout ?? String(error)}`);
        },
      );
      const main = join(project, 'dist', 'main.js');
      expect(readFileSync(main, 'utf8').includes('require("nestjs-sse-hub")')).toBe(dir !== '.');

      const child: ChildProcess = spawn(process.execPath, [main], {
        cwd: project,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((done) => child.once('exit', done));
      try {
        type Started = { port: number; refusal: string; testing: string };
        const started = await new Promise<Started>((done, fail) => {
          child.stdout!.on('data', (chunk: Buffer) => {
            output += chunk.toString();
            const line = /^\{.*\}$/m.exec(output);
            if (line) done(JSON.parse(line[0]) as Started);
          });
          child.once('exit', (code) => fail(new Error(`the app exited (${code}): ${output}`)));
        });
        // The error classes a user catches are the ones the library throws.
        expect(started.refusal).toBe('SseInvalidUserIdError');
        // The testing entry resolves and loads from the tarball too.
        expect(started.testing).toBe('SseTestingModule');

        const base = `http://127.0.0.1:${started.port}`;
        const client = await RawSseClient.open(`${base}/sse`, { 'x-user': 'alice' });
        expect(client.status).toBe(200);
        await client.waitForEvents(1);
        const sent = await fetch(`${base}/notify/alice`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'hello from the tarball' }),
        });
        expect(await sent.json()).toMatchObject({ delivered: 1, stored: true });
        await client.waitForEvents(2);
        expect(client.events[1]).toMatchObject({
          event: 'notice',
          data: '{"text":"hello from the tarball"}',
        });
        client.close();
        expect(await fetch(`${base}/sse`).then((response) => response.status)).toBe(401);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
      // Node says so on stderr when it loads ESM through require() as an experiment.
      expect(output).not.toMatch(/ERROR|ExperimentalWarning/);
    },
    60_000,
  );
});

describe("the package's README", () => {
  const readme = readFileSync(join(library, 'README.md'), 'utf8');
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]);
  const repository = 'https://github.com/nestjs-sse-hub/nestjs-sse-hub/blob/main/';

  it('links by absolute URL only, since npm shows it without the repository', () => {
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((link) => !link.startsWith('https://'))).toEqual([]);
  });

  it('links to files of this repository that exist', () => {
    const files = links
      .filter((link) => link.startsWith(repository))
      .map((link) => link.slice(repository.length).split('#')[0]);
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((file) => !existsSync(join(root, file)))).toEqual([]);
  });
});
