import { describe, expect, it } from 'vitest';
import { DEMO_DEFAULTS, DemoConfigError, demoConfigFromEnv } from './demo.config.js';

describe('demoConfigFromEnv', () => {
  it('keeps the defaults for unset and empty variables', () => {
    expect(demoConfigFromEnv({ PORT: '', REDIS_URL: ' ', DEMO_SECRET: '' })).toEqual(DEMO_DEFAULTS);
  });

  it('reads every variable', () => {
    expect(
      demoConfigFromEnv({
        PORT: '8080',
        HOST: '127.0.0.1',
        PLATFORM: 'Fastify',
        SSE_TRANSPORT: 'observable',
        SSE_RETRY_MS: '1000',
        SSE_TIMEOUT_MS: '0',
        SSE_HEARTBEAT_MS: '15000',
        SSE_HISTORY_SIZE: '50',
        SSE_MAX_CONNECTIONS_PER_USER: '1',
        REDIS_URL: 'redis://localhost:6379',
        DEMO_SECRET: ' a secret ',
        SHUTDOWN_DRAIN_MS: '5000',
      }),
    ).toEqual({
      port: 8080,
      host: '127.0.0.1',
      platform: 'fastify',
      transport: 'observable',
      retry: 1000,
      timeout: 0,
      heartbeat: 15000,
      historySize: 50,
      maxConnectionsPerUser: 1,
      redisUrl: 'redis://localhost:6379',
      secret: ' a secret ',
      tokenTtlSeconds: DEMO_DEFAULTS.tokenTtlSeconds,
      shutdownDrainMs: 5000,
    });
  });

  it('reads REDIS_CLUSTER_NODES, and refuses it malformed or next to another broker', () => {
    expect(
      demoConfigFromEnv({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001' }).redisClusterNodes,
    ).toEqual(['10.0.0.1:7000', '10.0.0.2:7001']);
    expect(() => demoConfigFromEnv({ REDIS_CLUSTER_NODES: '10.0.0.1' })).toThrow(/host:port/);
    expect(() =>
      demoConfigFromEnv({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'redis://b' }),
    ).toThrow(DemoConfigError);
  });

  it('reads NATS_URL, and refuses it next to REDIS_URL', () => {
    expect(demoConfigFromEnv({ NATS_URL: 'nats://127.0.0.1:4222' }).natsUrl).toBe(
      'nats://127.0.0.1:4222',
    );
    expect(() => demoConfigFromEnv({ NATS_URL: 'a:4222', REDIS_URL: 'redis://b' })).toThrow(
      DemoConfigError,
    );
  });

  it.each([
    ['PORT', '80a', /PORT must be a whole number/],
    ['PORT', '70000', /PORT must be between 0 and 65535/],
    ['SSE_RETRY_MS', '-1', /SSE_RETRY_MS must be a whole number/],
    ['SSE_TIMEOUT_MS', '1.5', /SSE_TIMEOUT_MS must be a whole number/],
    ['SSE_HEARTBEAT_MS', 'soon', /SSE_HEARTBEAT_MS/],
    ['SSE_HISTORY_SIZE', '1e3', /SSE_HISTORY_SIZE/],
    ['SSE_MAX_CONNECTIONS_PER_USER', 'many', /SSE_MAX_CONNECTIONS_PER_USER/],
    ['PLATFORM', 'koa', /PLATFORM must be one of express, fastify/],
    ['SSE_TRANSPORT', 'ws', /SSE_TRANSPORT must be one of direct, observable/],
  ])('refuses %s=%s, naming it', (name, value, message) => {
    expect(() => demoConfigFromEnv({ [name]: value })).toThrow(DemoConfigError);
    expect(() => demoConfigFromEnv({ [name]: value })).toThrow(message);
  });
});
