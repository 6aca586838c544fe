import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { connect as connectHttp2 } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub } from '../libs/sse/src/hub/sse-hub.js';
import { eventually } from './support/eventually.js';
import { startApp, type Platform, type TestApp } from './support/app.js';

/** A raw TCP client: what it receives, as text, and when the server closes it. */
class RawSocket {
  text = '';
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (this.text += chunk));
    socket.on('close', () => (this.closed = true));
  }

  static open(url: string): Promise<RawSocket> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port) });
      socket.once('connect', () => resolve(new RawSocket(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async waitFor(what: string, check: () => boolean): Promise<void> {
    await eventually(async () => check(), what, 5000);
  }
}

const get = (method: string, user: string, close = false) =>
  `${method} /sse HTTP/1.1\r\nHost: x\r\nx-user: ${user}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

describe.each<Platform>(['express', 'fastify'])('the direct route on %s', (platform) => {
  let test: TestApp | undefined;
  afterEach(async () => {
    await test?.close();
    test = undefined;
  });

  it('answers HEAD with the head only: the next response on the connection is intact', async () => {
    test = await startApp(platform, { heartbeat: 50 });
    const client = await RawSocket.open(test.url);
    client.send(get('HEAD', 'alice') + get('HEAD', 'alice', true));
    await client.waitFor('both heads and the close', () => client.closed);
    const heads = client.text.split(/(?=HTTP\/1\.1 )/);
    expect(heads).toHaveLength(2);
    for (const head of heads) {
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect(head.toLowerCase()).toContain('content-type: text/event-stream');
      // Nothing after the blank line that ends the head: no first event, no heartbeat.
      expect(head.slice(head.indexOf('\r\n\r\n') + 4)).toBe('');
    }
    expect(test.hub.resourceCounts().connections).toBe(0);
  });

  it('lets go of a pipelined stream once its socket closes', async () => {
    test = await startApp(platform, { heartbeat: 0, timeout: 0 });
    const sockets: RawSocket[] = [];
    for (let i = 0; i < 20; i++) {
      const client = await RawSocket.open(test.url);
      client.send(get('GET', `user-${i}`) + get('GET', `user-${i}`));
      sockets.push(client);
    }
    const hub = test.hub;
    await eventually(async () => hub.resourceCounts().connections === 40, '40 streams open');
    for (const client of sockets) client.socket.destroy();
    await eventually(
      async () => hub.resourceCounts().connections === 0,
      'every stream, pipelined ones included, closed',
    );
    expect(await test.sse.onlineUsers()).toEqual([]);
    expect(hub.resourceCounts()).toEqual({ channels: 0, connections: 0, deadlines: 0, timers: 0 });
  });
});

describe('HTTP/2 (Fastify, direct transport)', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('closes a session that carried a stream once it is idle for its timeout', async () => {
    @Module({
      imports: [SseModule.forRoot({ resolveUser: (request) => request.headers['x-user'] })],
    })
    class Http2Module {}
    app = await NestFactory.create<NestFastifyApplication>(
      Http2Module,
      new FastifyAdapter({ http2: true, http2SessionTimeout: 300 }),
      { logger: false },
    );
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const session = connectHttp2(url);
    const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    const stream = session.request({ ':path': '/sse', 'x-user': 'alice' });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    await eventually(async () => body.includes('retry:'), 'the first event');
    expect(app.get(SseHub).resourceCounts().connections).toBe(1);
    // The stream ends from the server; the session is then idle and must time out.
    await app.get(SseService).disconnect('alice');
    await new Promise<void>((resolve) => stream.once('close', () => resolve()));
    await sessionClosed;
    expect(session.closed || session.destroyed).toBe(true);
    expect(app.get(SseHub).resourceCounts().connections).toBe(0);
  }, 20_000);
});
