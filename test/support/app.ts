import 'reflect-metadata';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  SseModule,
  SseService,
  type SseModuleExtras,
  type SseModuleOptions,
  type SseTransport,
} from 'nestjs-sse-hub';

/** What `startApp` passes to `SseModule.forRoot()`: the options and the extras. */
export type TestAppOptions = SseModuleOptions & SseModuleExtras;
import { SseHub } from '../../libs/sse/src/hub/sse-hub.js';
import { RawSseClient } from './sse-client.js';

export type Platform = 'express' | 'fastify';

/** Every platform and transport: the end-to-end cases run on each. */
export const MATRIX: ReadonlyArray<{ platform: Platform; transport: SseTransport }> = [
  { platform: 'express', transport: 'direct' },
  { platform: 'express', transport: 'observable' },
  { platform: 'fastify', transport: 'direct' },
  { platform: 'fastify', transport: 'observable' },
];

export interface TestApp {
  readonly app: INestApplication;
  readonly url: string;
  readonly sse: SseService;
  /** The instance's internals, for clean-up checks. */
  readonly hub: SseHub;
  close(): Promise<void>;
}

/**
 * A NestJS app with the module's ready route, listening on a free port. The user comes
 * from an `x-user` header, as a real app's guard would set `req.user`.
 */
export async function startApp(platform: Platform, options: TestAppOptions = {}): Promise<TestApp> {
  @Module({
    imports: [
      SseModule.forRoot({
        resolveUser: (request) => request.headers['x-user'],
        ...options,
      }),
    ],
  })
  class TestAppModule {}

  const app =
    platform === 'fastify'
      ? await NestFactory.create(TestAppModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(TestAppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    app,
    url,
    sse: app.get(SseService),
    hub: app.get(SseHub),
    close: () => app.close(),
  };
}

/**
 * Opens a user's stream on an app, resuming from `lastEventId` when given, and waits for its
 * first event.
 */
export async function openStream(
  app: TestApp,
  userId: string,
  lastEventId?: string,
): Promise<RawSseClient> {
  const headers: Record<string, string> = { 'x-user': userId };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const client = await RawSseClient.open(`${app.url}/sse`, headers);
  await client.waitForEvents(1);
  return client;
}

/**
 * The app of one test and the streams it opened, closed together after it: `connect`
 * opens a user's stream and waits for its first event.
 */
export class StreamSession {
  app: TestApp | undefined;
  private readonly clients: RawSseClient[] = [];

  async start(platform: Platform, options: TestAppOptions = {}): Promise<TestApp> {
    this.app = await startApp(platform, options);
    return this.app;
  }

  async connect(user: string, headers: Record<string, string> = {}): Promise<RawSseClient> {
    const client = await RawSseClient.open(`${this.app!.url}/sse`, { 'x-user': user, ...headers });
    this.clients.push(client);
    await client.waitForEvents(1);
    return client;
  }

  /** The streams opened so far, handed over: the session no longer closes them. */
  takeClients(): RawSseClient[] {
    return this.clients.splice(0);
  }

  async close(): Promise<void> {
    for (const client of this.clients.splice(0)) client.close();
    await this.app?.close();
    this.app = undefined;
  }
}
