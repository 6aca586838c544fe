import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  SseModule,
  SseOptionsError,
  type SseModuleAsyncOptions,
  type SseModuleOptions,
} from 'nestjs-sse-hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSE_RESOLVED_OPTIONS } from '../libs/sse/src/sse.internal-constants.js';
import { resolveSseOptions, type SseResolvedOptions } from '../libs/sse/src/sse.options.js';

const root = new URL('..', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
/** Every fenced TypeScript block of the README that configures the module asynchronously. */
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
  .map((match) => match[1])
  .filter((code) => code.includes('SseModule.forRootAsync('));

/**
 * What the snippets use without importing it, as the README leaves imports out. `SseModule`
 * is one that records what `forRootAsync` is given, so that the test can run its factory.
 */
const PRELUDE = `
import { Injectable } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import type { SseModuleAsyncOptions, SseModuleOptions, SseOptionsFactory } from 'nestjs-sse-hub';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';
export const given: SseModuleAsyncOptions[] = [];
const SseModule = { forRootAsync: (options: SseModuleAsyncOptions) => given.push(options) };
void ConfigModule;
`;

const ENV = {
  SSE_HEARTBEAT_MS: '15000',
  SSE_TIMEOUT_MS: '120000',
  SSE_RETRY_MS: '3000',
  REDIS_URL: 'redis://127.0.0.1:6379',
};
const ROUTE = { path: 'sse', transport: 'direct' } as const;
const FROM_ENV: Array<[keyof typeof ENV, 'heartbeat' | 'timeout' | 'retry']> = [
  ['SSE_HEARTBEAT_MS', 'heartbeat'],
  ['SSE_TIMEOUT_MS', 'timeout'],
  ['SSE_RETRY_MS', 'retry'],
];

/** Writes an example out with the prelude, imports it, and returns what it gave the module. */
async function load(index: number, code: string): Promise<SseModuleAsyncOptions[]> {
  const dir = fileURLToPath(new URL('test-output/readme-snippets/', root));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}snippet-${index}.ts`;
  writeFileSync(file, `${PRELUDE}\n${code}`);
  return ((await import(pathToFileURL(file).href)) as { given: SseModuleAsyncOptions[] }).given;
}

/** Runs a snippet's factory, or its options class, with a ConfigService over the env. */
async function runFactory(options: {
  useFactory?: (...args: unknown[]) => unknown;
  useClass?: new (config: ConfigService) => { createSseOptions(): unknown };
}): Promise<SseModuleOptions> {
  const config = new ConfigService();
  if (options.useFactory !== undefined) {
    return (await options.useFactory(config)) as SseModuleOptions;
  }
  return (await new options.useClass!(config).createSseOptions()) as SseModuleOptions;
}

describe('the README configuration examples, run as written', () => {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [name, value] of Object.entries(ENV)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('finds the examples', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(2);
  });

  it.each(snippets.map((code, index) => ({ index, code, name: `#${index + 1}` })))(
    'example $name: the factory gives options the module accepts, numbers from the env',
    async ({ index, code }) => {
      const given = (await load(index, code)) as Array<Parameters<typeof runFactory>[0]>;
      expect(given.length).toBeGreaterThan(0);
      for (const options of given) {
        const made = await runFactory(options);
        const resolved = resolveSseOptions(made, ROUTE);
        // Each variable the example reads arrives as the number it holds.
        const read = FROM_ENV.filter(([variable]) => code.includes(variable));
        expect(read.length).toBeGreaterThan(0);
        expect(read.map(([, option]) => resolved[option])).toEqual(
          read.map(([variable]) => Number(ENV[variable])),
        );
        const broker = resolved.broker as { detach?: () => Promise<void> } | undefined;
        await broker?.detach?.();
      }
    },
  );

  it.each(
    snippets
      .map((code, index) => ({ index, code, name: `#${index + 1}` }))
      // An example with a Redis broker would attach to the shared Redis with its default
      // keys: its factory runs above, and the Redis suites cover the broker.
      .filter(({ code }) => !code.includes('RedisSseBroker')),
  )('example $name: the module starts with it in a real app', async ({ index }) => {
    const given = await load(index, snippets[index]);
    for (const options of given) {
      const moduleRef = await Test.createTestingModule({
        imports: [
          ConfigModule.forRoot({ ignoreEnvFile: true, isGlobal: true }),
          SseModule.forRootAsync({ ...options, path: null }),
        ],
      }).compile();
      await moduleRef.init();
      const resolved = moduleRef.get<SseResolvedOptions>(SSE_RESOLVED_OPTIONS);
      const code = snippets[index];
      const read = FROM_ENV.filter(([variable]) => code.includes(variable));
      expect(read.map(([, option]) => resolved[option])).toEqual(
        read.map(([variable]) => Number(ENV[variable])),
      );
      await moduleRef.close();
    }
  });

  it('says what it got, and how to convert it, for a number read as a string', () => {
    const config = new ConfigService();
    let error: unknown;
    try {
      resolveSseOptions({ heartbeat: config.get('SSE_HEARTBEAT_MS') }, ROUTE);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(SseOptionsError);
    expect((error as Error).message).toContain('got the string "15000"');
    expect((error as Error).message).toContain('Number(config.get(');
  });
});
