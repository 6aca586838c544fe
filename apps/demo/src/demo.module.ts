import { randomBytes } from 'node:crypto';
import { Module, type DynamicModule } from '@nestjs/common';
import {
  InMemorySseBroker,
  SseModule,
  type SseBroker,
  type SseModuleOptions,
} from 'nestjs-sse-hub';
import { AuthModule } from './auth/auth.module.js';
import { AuthService } from './auth/auth.service.js';
import type { DemoConfig } from './demo.config.js';
import { MessagesController } from './messages/messages.controller.js';
import { PageController } from './page/page.controller.js';
import { StreamsController } from './streams/streams.controller.js';
import { topicAuthorizer } from './topics/topic-access.js';
import { TopicsController } from './topics/topics.controller.js';

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

/** The broker of the configuration: NATS, Redis, or one in this process. */
async function brokerOf(config: DemoConfig): Promise<SseBroker> {
  if (config.redisClusterNodes !== undefined) {
    return redisClusterBroker(config.redisClusterNodes, config.redisKeyPrefix);
  }
  if (config.natsUrl !== undefined) return natsBroker(config.natsUrl, config.natsPrefix);
  if (config.redisUrl !== undefined) return redisBroker(config.redisUrl, config.redisKeyPrefix);
  // Made here rather than left to the module, so that authorizeTopics can ask it.
  return new InMemorySseBroker();
}

/** The key of `DEMO_SECRET`, or a random one that no other instance shares. */
function signingKey(secret: string | undefined): Buffer {
  return secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
}

/** The demo application: sign-in, the page, the message and topic routes and the `SseModule`. */
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
          useFactory: async (authService: AuthService): Promise<SseModuleOptions> => {
            const broker = await brokerOf(config);
            return {
              retry: config.retry,
              timeout: config.timeout,
              heartbeat: config.heartbeat,
              maxConnectionsPerUser: config.maxConnectionsPerUser,
              history: config.historySize === undefined ? undefined : { size: config.historySize },
              // The library's route asks who the request is from: the token's user, or no one
              // (401).
              resolveUser: (request) => authService.userOf(request),
              // `GET /sse?topic=`: public: topics, and the topics the user is a member of
              // (the broker holds the memberships on every instance).
              authorizeTopics: topicAuthorizer(broker),
              broker,
            };
          },
        }),
      ],
      controllers: [PageController, MessagesController, StreamsController, TopicsController],
    };
  }
}
