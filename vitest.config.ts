import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the library from its sources, as the demo would see it once built.
    alias: [
      { find: /^nestjs-sse-hub\/redis$/, replacement: here('./libs/sse/src/redis.ts') },
      { find: /^nestjs-sse-hub\/nats$/, replacement: here('./libs/sse/src/nats.ts') },
      { find: /^nestjs-sse-hub\/publisher$/, replacement: here('./libs/sse/src/publisher.ts') },
      { find: /^nestjs-sse-hub\/testing$/, replacement: here('./libs/sse/src/testing.ts') },
      { find: /^nestjs-sse-hub\/terminus$/, replacement: here('./libs/sse/src/terminus.ts') },
      { find: /^nestjs-sse-hub$/, replacement: here('./libs/sse/src/index.ts') },
    ],
  },
  oxc: {
    // NestJS resolves constructor parameters from decorator metadata.
    decorator: { legacy: true, emitDecoratorMetadata: true },
  },
  test: {
    include: ['libs/**/*.spec.ts', 'apps/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
