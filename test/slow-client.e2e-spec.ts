import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MATRIX, startApp, type TestApp } from './support/app.js';

/** Reads a stream and keeps only the sequence numbers of its events: cheap on memory. */
function countingClient(url: string, user: string) {
  const numbers: number[] = [];
  let buffer = '';
  let wake: () => void = () => undefined;
  const req = request(url, { headers: { 'x-user': user } }, (response) => {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const match = /^data: (\d+):/m.exec(block);
        if (match) numbers.push(Number(match[1]));
      }
      wake();
    });
  });
  req.end();
  return {
    numbers,
    until: (count: number) =>
      new Promise<void>((resolve) => {
        wake = () => numbers.length >= count && resolve();
        wake();
      }),
    close: () => req.destroy(),
  };
}

/** A client that asks for its stream, then never reads a byte of it. */
function neverReading(port: number, user: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user: ${user}\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => undefined);
  });
}

describe.each(MATRIX)(
  'a client that does not read, on $platform, $transport transport',
  ({ platform, transport }) => {
    let test: TestApp | undefined;
    afterEach(async () => {
      await test?.close();
      test = undefined;
    });

    it('is dropped as slow once its queue passes maxPendingBytes, and nobody waits for it', async () => {
      const maxPendingBytes = 1024 * 1024;
      test = await startApp(platform, {
        transport,
        maxPendingBytes,
        maxMessageBytes: 65_536,
        heartbeat: 0,
      });
      const reasons = new Map<string, string>();
      let sent = 0;
      let sentWhenDropped = -1;
      test.sse.events$.subscribe((e) => {
        if (e.type !== 'disconnect') return;
        reasons.set(e.userId, e.reason);
        if (e.userId === 'slow') sentWhenDropped = sent;
      });
      const connected = new Promise<void>((resolve) => {
        let n = 0;
        test!.sse.events$.subscribe((e) => e.type === 'connect' && ++n === 2 && resolve());
      });
      const port = Number(new URL(test.url).port);
      const slow = await neverReading(port, 'slow');
      const reader = countingClient(`${test.url}/sse`, 'reader');
      await connected;

      // 800 events of 60 KB each: 48 MB for every connection, far more than the socket
      // buffers of the slow one can hold.
      const filler = 'x'.repeat(60_000);
      const total = 800;
      for (let i = 0; i < total; i++) {
        await test.sse.broadcast(`${i}:${filler}`);
        sent++;
        // Lets the reading client, in this same process, read as a real peer would meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await reader.until(total);
      expect(reader.numbers).toEqual([...Array(total).keys()]);
      expect(reasons.get('slow')).toBe('slow');
      expect(reasons.has('reader')).toBe(false);
      expect(test.sse.stats().slowDisconnects).toBe(1);
      // It was dropped once the kernel's socket buffers and maxPendingBytes were full, long
      // before the 48 MB were sent: what the server holds for it is bounded.
      expect(sentWhenDropped).toBeGreaterThan(0);
      expect(sentWhenDropped).toBeLessThan(total / 2);
      reader.close();
      slow.destroy();
    }, 60_000);
  },
);
