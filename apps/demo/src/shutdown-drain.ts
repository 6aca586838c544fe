import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Keeps the server listening for `drainMs` at shutdown, after every shutdown hook has run
 * (the library's has ended its streams) and before the server closes: what an app behind a
 * load balancer that is slow to notice does. Meanwhile the library answers stream requests
 * with a stream that says retry, and the rest of the API still works.
 *
 * NestJS closes the server right after the `beforeApplicationShutdown` hooks, which it runs
 * from the root module down, so a hook of the demo would run before the library's: the wait
 * goes in front of the HTTP adapter's `close()` instead. Once it is over, keep-alive
 * connections with no request in flight are closed at once, so that the process exits
 * promptly instead of waiting for their clients.
 */
export function drainBeforeClose(app: INestApplication, drainMs: number): void {
  const adapter = app.getHttpAdapter();
  const close = adapter.close.bind(adapter);
  adapter.close = async () => {
    if (drainMs > 0) await delay(drainMs);
    const server = app.getHttpServer() as Server;
    const closed = close();
    server.closeIdleConnections?.();
    await closed;
  };
}
