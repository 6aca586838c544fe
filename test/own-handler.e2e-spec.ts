import 'reflect-metadata';
import {
  Controller,
  Headers,
  Module,
  Sse,
  UnauthorizedException,
  type INestApplication,
  type MessageEvent,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { RawSseClient } from './support/sse-client.js';

@Controller('notifications')
class NotificationsController {
  constructor(private readonly sse: SseService) {}

  @Sse('stream')
  stream(
    @Headers('x-user') user: string | undefined,
    @Headers('last-event-id') lastEventId?: string,
  ): Observable<MessageEvent> {
    if (!user) throw new UnauthorizedException();
    return this.sse.stream(user, { lastEventId });
  }
}

@Module({
  imports: [SseModule.forRoot({ path: null, isGlobal: true })],
  controllers: [NotificationsController],
})
class OwnHandlerModule {}

describe.each(['express', 'fastify'] as const)('your own @Sse() handler on %s', (platform) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('streams through SseService.stream with every rule of the ready route', async () => {
    app =
      platform === 'fastify'
        ? await NestFactory.create(OwnHandlerModule, new FastifyAdapter(), { logger: false })
        : await NestFactory.create(OwnHandlerModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const sse = app.get(SseService);

    const none = await RawSseClient.open(`${url}/sse`, { 'x-user': 'alice' });
    expect(none.status).toBe(404);

    const client = await RawSseClient.open(`${url}/notifications/stream`, { 'x-user': 'alice' });
    expect(client.response.headers['content-type']).toMatch(/^text\/event-stream/);
    await client.waitForEvents(1);
    const first = client.events[0];
    expect(first).toMatchObject({ retry: 60_000, data: '' });
    const sent = await sse.send('alice', 'hello', { event: 'note' });
    await client.waitForEvents(2);
    expect(client.events[1]).toMatchObject({ id: sent.id, event: 'note', data: 'hello' });
    client.close();
    await client.waitForEnd();

    await sse.send('alice', 'while away');
    const again = await RawSseClient.open(`${url}/notifications/stream`, {
      'x-user': 'alice',
      'last-event-id': sent.id,
    });
    await again.waitForEvents(2);
    expect(again.events.map((e) => e.data)).toEqual(['', 'while away']);

    const closing = app.close();
    await again.waitForEnd();
    await closing;
    app = undefined;
    expect(again.events.at(-1)!.retry).toBeGreaterThanOrEqual(1000);
  });
});
