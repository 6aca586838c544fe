import 'reflect-metadata';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  Module,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type MiddlewareConsumer,
  type NestInterceptor,
  type NestModule,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { finalize, type Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub } from '../libs/sse/src/hub/sse-hub.js';
import { MATRIX, type Platform } from './support/app.js';
import { eventually } from './support/eventually.js';
import { RawSseClient } from './support/sse-client.js';

const API_KEYS = Symbol('API_KEYS');

/** A guard of the ready route only, made by NestJS with a dependency of another module. */
@Injectable()
class ApiKeyGuard implements CanActivate {
  constructor(@Inject(API_KEYS) private readonly keys: Map<string, string>) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{
      headers: Record<string, string | undefined>;
      user?: unknown;
    }>();
    const user = this.keys.get(request.headers['x-api-key'] ?? '');
    if (user === undefined) return false;
    request.user = { id: user };
    return true;
  }
}

@Module({
  providers: [{ provide: API_KEYS, useValue: new Map([['key-a', 'alice']]) }],
  exports: [API_KEYS],
})
class ApiKeysModule {}

/** A route of the app beside the stream: the guard is not global, so it stays open. */
@Controller()
class OpenController {
  @Get('open')
  open(): { open: true } {
    return { open: true };
  }
}

async function create(platform: Platform, module: object): Promise<INestApplication> {
  const app =
    platform === 'fastify'
      ? await NestFactory.create(module as never, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(module as never, { logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

const urlOf = async (app: INestApplication) => (await app.getUrl()).replace('[::1]', '127.0.0.1');

describe.each(MATRIX)(
  'route guards on $platform, $transport transport',
  ({ platform, transport }) => {
    let app: INestApplication | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    it('runs a guard class given in the extras, with its dependencies, on the ready route only', async () => {
      @Module({
        imports: [
          SseModule.forRootAsync({
            imports: [ApiKeysModule],
            useFactory: () => ({ heartbeat: 0 }),
            transport,
            guards: [ApiKeyGuard],
          }),
        ],
        controllers: [OpenController],
      })
      class GuardedModule {}
      app = await create(platform, GuardedModule);
      const url = await urlOf(app);

      const refused = await fetch(`${url}/sse`);
      expect(refused.status).toBe(403);
      await refused.body?.cancel();
      const wrongKey = await fetch(`${url}/sse`, { headers: { 'x-api-key': 'nope' } });
      expect(wrongKey.status).toBe(403);
      await wrongKey.body?.cancel();
      expect((await fetch(`${url}/open`)).status).toBe(200);

      const client = await RawSseClient.open(`${url}/sse`, { 'x-api-key': 'key-a' });
      await client.waitForEvents(1);
      expect(client.status).toBe(200);
      const hub = app.get(SseHub);
      expect(await app.get(SseService).onlineUsers()).toEqual(['alice']);
      client.close();
      await eventually(async () => hub.resourceCounts().connections === 0, 'the stream to close');
    });

    it('runs a guard instance given to forRoot', async () => {
      const guard: CanActivate = {
        canActivate: (context) =>
          context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers[
            'x-user'
          ] === 'bob',
      };
      @Module({
        imports: [
          SseModule.forRoot({
            resolveUser: (request) => request.headers['x-user'],
            transport,
            guards: [guard],
          }),
        ],
      })
      class InstanceGuardModule {}
      app = await create(platform, InstanceGuardModule);
      const url = await urlOf(app);
      const refused = await fetch(`${url}/sse`, { headers: { 'x-user': 'alice' } });
      expect(refused.status).toBe(403);
      await refused.body?.cancel();
      const client = await RawSseClient.open(`${url}/sse`, { 'x-user': 'bob' });
      await client.waitForEvents(1);
      expect(client.status).toBe(200);
      client.close();
    });
  },
);

/** What an interceptor of the ready route and a logging middleware read of the request. */
interface Seen {
  interceptor?: { params: unknown; query: unknown };
  middleware?: { params: unknown; query: unknown; url: string | undefined };
}

describe.each(MATRIX)(
  'interceptors and loggers on $platform, $transport transport',
  ({ platform, transport }) => {
    let app: INestApplication | undefined;
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    it('see the request as it came, after the stream has opened and when it ends', async () => {
      const seen: Seen = {};
      @Injectable()
      class RecordingInterceptor implements NestInterceptor {
        intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
          const request = context
            .switchToHttp()
            .getRequest<{ params: Record<string, string>; query: Record<string, string> }>();
          // Read once the handler is done: after the stream has opened (direct) or ended.
          return next.handle().pipe(
            finalize(() => {
              seen.interceptor = { params: { ...request.params }, query: { ...request.query } };
            }),
          );
        }
      }
      @Module({
        imports: [
          SseModule.forRoot({
            resolveUser: (request) => request.headers['x-user'],
            path: 'rooms/:room/sse',
            transport,
            interceptors: [RecordingInterceptor],
          }),
        ],
      })
      class LoggedModule implements NestModule {
        configure(consumer: MiddlewareConsumer): void {
          consumer
            .apply(
              (
                request: IncomingMessage & { params?: unknown; query?: unknown },
                response: ServerResponse,
                next: () => void,
              ) => {
                // An access log writes its line when the response is over.
                response.once('close', () => {
                  seen.middleware = {
                    params: { ...(request.params as object) },
                    query: { ...(request.query as object) },
                    url: request.url,
                  };
                });
                next();
              },
            )
            .forRoutes('*');
        }
      }
      app = await create(platform, LoggedModule);
      const url = await urlOf(app);
      const client = await RawSseClient.open(`${url}/rooms/blue/sse?since=today`, {
        'x-user': 'alice',
      });
      await client.waitForEvents(1);
      await app.get(SseService).disconnect('alice');
      await client.waitForEnd();
      await eventually(
        async () => seen.interceptor !== undefined && seen.middleware !== undefined,
        'the interceptor and the middleware to record the request',
      );
      expect(seen.interceptor).toEqual({ params: { room: 'blue' }, query: { since: 'today' } });
      expect(seen.middleware!.url).toContain('/rooms/blue/sse');
      expect(seen.middleware!.query).toEqual({ since: 'today' });
    });
  },
);
