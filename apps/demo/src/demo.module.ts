import { randomBytes } from 'node:crypto';
import { Module, type DynamicModule } from '@nestjs/common';
import { SseModule, type SseBroker, type SseModuleOptions } from 'nestjs-sse-hub';
import { AuthModule } from './auth/auth.module.js';
import { AuthService } from './auth/auth.service.js';
import type { DemoConfig } from './demo.config.js';
import { MessagesController } from './messages/messages.controller.js';
import { PageController } from './page/page.controller.js';
import { StreamsController } from './streams/streams.controller.js';

/**
 * The Redis broker, loaded only when asked for, so that an in-memory demo never loads
 * ioredis.
 */
async function redisBroker(url: string, keyPrefix: string | undefined): Promise<SseBroker> {
  const { RedisSseBroker } = await import('nestjs-sse-hub/redis');
  return new RedisSseBroker({ url, keyPrefix });
}

/** The Redis broker on a Redis Cluster, loaded only when asked for too. */
async function redisClusterBroker(
  nodes: string[],
  keyPrefix: string | undefined,
): Promise<SseBroker> {
  const { RedisSseBroker } = await import('nestjs-sse-hub/redis');
  return new RedisSseBroker({ cluster: { nodes }, keyPrefix });
}

/** The NATS broker, loaded only when asked for, as the Redis one. */
async function natsBroker(servers: string, prefix: string | undefined): Promise<SseBroker> {
  const { NatsSseBroker } = await import('nestjs-sse-hub/nats');
  return new NatsSseBroker({ servers, prefix });
}

/** The key of `DEMO_SECRET`, or a random one that no other instance shares. */
function signingKey(secret: string | undefined): Buffer {
  return secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
}

/** The demo application: sign-in, the page, the message routes and the `SseModule`. */
@Module({})
export class DemoModule {
  /** The application for one configuration. */
  static forRoot(config: DemoConfig): DynamicModule {
    const auth = AuthModule.register({
      secret: signingKey(config.secret),
      tokenTtlSeconds: config.tokenTtlSeconds,
    });
    return {
      module: DemoModule,
      imports: [
        auth,
        SseModule.forRootAsync({
          imports: [auth],
          inject: [AuthService],
          transport: config.transport,
          useFactory: async (authService: AuthService): Promise<SseModuleOptions> => ({
            retry: config.retry,
            timeout: config.timeout,
            heartbeat: config.heartbeat,
            maxConnectionsPerUser: config.maxConnectionsPerUser,
            history: config.historySize === undefined ? undefined : { size: config.historySize },
            // The library's route asks who the request is from: the token's user, or no one
            // (401).
            resolveUser: (request) => authService.userOf(request),
            broker:
              config.redisClusterNodes !== undefined
                ? await redisClusterBroker(config.redisClusterNodes, config.redisKeyPrefix)
                : config.natsUrl !== undefined
                  ? await natsBroker(config.natsUrl, config.natsPrefix)
                  : config.redisUrl === undefined
                    ? undefined
                    : await redisBroker(config.redisUrl, config.redisKeyPrefix),
          }),
        }),
      ],
      controllers: [PageController, MessagesController, StreamsController],
    };
  }
}
