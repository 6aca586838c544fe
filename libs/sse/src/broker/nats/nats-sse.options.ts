import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { NatsSseBrokerOptionsError } from './nats-sse.errors.js';

/**
 * Settings of the broker's NATS connection (credentials, TLS, timeouts), less those the
 * broker sets itself: the servers, reconnecting for ever, `noEcho` and the connection name.
 */
export type NatsSseConnectOptions = Omit<
  NodeConnectionOptions,
  'servers' | 'reconnect' | 'maxReconnectAttempts' | 'waitOnFirstConnect' | 'noEcho' | 'name'
>;

/** Options of `new NatsSseBroker(options)`. Every option is optional. */
export interface NatsSseBrokerOptions {
  /**
   * The NATS server(s) to connect to: `host:port` or `nats://host:port`, one or several
   * of one cluster.
   * @default '127.0.0.1:4222'
   */
  servers?: string | readonly string[];
  /**
   * Connection settings passed on to `connect()` of `@nats-io/transport-node`: user and
   * password, token, TLS, authenticator. The broker reconnects for ever by itself.
   */
  connectOptions?: NatsSseConnectOptions;
  /**
   * First token of every subject, and start of the stream's and the bucket's names
   * (`<prefix>-history`, `<prefix>-presence`). Applications (or tests) that share a NATS
   * server and must not see each other's users take different prefixes.
   * @default 'sse'
   */
  prefix?: string;
  /**
   * Where JetStream keeps the history: `file` survives a restart of the server, `memory`
   * does not (resuming clients then get `sse:gap`).
   * @default 'file'
   */
  storage?: 'file' | 'memory';
  /**
   * Copies of the history stream and the presence bucket in a JetStream cluster.
   * @default 1
   */
  replicas?: number;
  /**
   * Milliseconds after its last heartbeat that an instance stops counting in presence
   * (`isOnline`, `onlineUsers`, `delivered`): the presence bucket's TTL.
   * @default 15000
   */
  presenceTtlMs?: number;
  /**
   * Milliseconds between an instance's heartbeats, which write its presence again. Less
   * than `presenceTtlMs`.
   * @default 5000
   */
  presenceHeartbeatMs?: number;
  /**
   * Milliseconds a JetStream request may take before it counts as failed (the message is
   * then delivered on this instance only). Start-up waits as long for NATS.
   * @default 2000
   */
  requestTimeoutMs?: number;
}

/** Default of every `NatsSseBrokerOptions` option: the one place they are declared. */
export const NATS_SSE_BROKER_DEFAULTS = {
  servers: '127.0.0.1:4222',
  prefix: 'sse',
  storage: 'file',
  replicas: 1,
  presenceTtlMs: 15_000,
  presenceHeartbeatMs: 5_000,
  requestTimeoutMs: 2_000,
} as const;

/** The options in force, defaults applied and checked. */
export interface NatsSseResolvedOptions {
  readonly servers: string[];
  readonly connectOptions: NatsSseConnectOptions;
  readonly prefix: string;
  readonly storage: 'file' | 'memory';
  readonly replicas: number;
  readonly presenceTtlMs: number;
  readonly presenceHeartbeatMs: number;
  readonly requestTimeoutMs: number;
}

function whole(option: string, value: unknown, min: number, max = 2_147_483_647): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new NatsSseBrokerOptionsError(
      option,
      `must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Applies the defaults and checks the options once, so that a mistake stops the
 * application where the broker is made, with the option's name.
 */
export function resolveNatsSseOptions(options: NatsSseBrokerOptions): NatsSseResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new NatsSseBrokerOptionsError('options', 'must be an object such as { servers }');
  }
  const given = options.servers ?? NATS_SSE_BROKER_DEFAULTS.servers;
  const servers = typeof given === 'string' ? given.split(',').map((s) => s.trim()) : [...given];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || !/^\S+$/.test(s))) {
    throw new NatsSseBrokerOptionsError(
      'servers',
      `must be host:port addresses such as '127.0.0.1:4222', got ${JSON.stringify(given)}`,
    );
  }
  const prefix = options.prefix ?? NATS_SSE_BROKER_DEFAULTS.prefix;
  // One subject token, and part of stream and bucket names: the narrowest of the three sets.
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) {
    throw new NatsSseBrokerOptionsError(
      'prefix',
      `must be 1 to 64 of A-Za-z0-9_- (it names a stream, a bucket and subjects), got ${String(prefix)}`,
    );
  }
  const storage = options.storage ?? NATS_SSE_BROKER_DEFAULTS.storage;
  if (storage !== 'file' && storage !== 'memory') {
    throw new NatsSseBrokerOptionsError(
      'storage',
      `must be 'file' or 'memory', got ${String(storage)}`,
    );
  }
  const presenceTtlMs = whole(
    'presenceTtlMs',
    options.presenceTtlMs ?? NATS_SSE_BROKER_DEFAULTS.presenceTtlMs,
    100,
  );
  const presenceHeartbeatMs = whole(
    'presenceHeartbeatMs',
    options.presenceHeartbeatMs ??
      Math.min(NATS_SSE_BROKER_DEFAULTS.presenceHeartbeatMs, Math.floor(presenceTtlMs / 3)),
    1,
  );
  if (presenceHeartbeatMs >= presenceTtlMs) {
    throw new NatsSseBrokerOptionsError(
      'presenceHeartbeatMs',
      `must be less than presenceTtlMs (${presenceTtlMs}), got ${presenceHeartbeatMs}; ` +
        `a third of it leaves room for a late heartbeat`,
    );
  }
  const connectOptions = options.connectOptions ?? {};
  if (typeof connectOptions !== 'object' || connectOptions === null) {
    throw new NatsSseBrokerOptionsError(
      'connectOptions',
      'must be an object of connect() settings',
    );
  }
  return {
    servers,
    connectOptions,
    prefix,
    storage,
    replicas: whole('replicas', options.replicas ?? NATS_SSE_BROKER_DEFAULTS.replicas, 1, 5),
    presenceTtlMs,
    presenceHeartbeatMs,
    requestTimeoutMs: whole(
      'requestTimeoutMs',
      options.requestTimeoutMs ?? NATS_SSE_BROKER_DEFAULTS.requestTimeoutMs,
      1,
    ),
  };
}
