import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { SseService } from 'nestjs-sse-hub';
import { SseRecorder, SseTestingModule } from 'nestjs-sse-hub/testing';
import { describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { RawSseClient } from './support/sse-client.js';

describe('SseTestingModule with a route', () => {
  it('serves real clients on the path given, and records what reached them', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SseTestingModule.forRoot({
          path: 'sse',
          heartbeat: 0,
          resolveUser: (request) => request.headers['x-user'],
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const sse = app.get(SseService);
    const recorder = app.get(SseRecorder);
    try {
      const client = await RawSseClient.open(`http://127.0.0.1:${port}/sse`, { 'x-user': 'alice' });
      await client.waitForEvents(1);
      const result = await sse.send('alice', { n: 1 }, { event: 'tick' });
      expect(result.delivered).toBe(1);
      await client.waitForEvents(2);
      expect(client.events[1]).toMatchObject({ id: result.id, event: 'tick', data: '{"n":1}' });
      expect(recorder.sent).toEqual([
        { id: result.id, event: 'tick', data: '{"n":1}', to: ['alice'] },
      ]);
      client.close();
      await eventually(async () => sse.stats().connections === 0, 'the stream is closed');
    } finally {
      await app.close();
    }
  });
});
