import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import { defaultDemoSecretFile, readOrCreateDemoSecret } from './auth/demo-secret-file.js';
import { createDemoApp } from './demo-app.factory.js';
import { demoConfigFromEnv } from './demo.config.js';
import { drainBeforeClose } from './shutdown-drain.js';

/** Starts the demo from environment variables; see docs/demo.md. */
async function main(): Promise<void> {
  const logger = new Logger('Demo');
  const config = demoConfigFromEnv();
  if (config.secret === undefined) {
    // A key kept on this machine, so that a restart does not sign everybody out.
    const file = defaultDemoSecretFile(dirname(fileURLToPath(import.meta.url)));
    config.secret = readOrCreateDemoSecret(file);
    logger.warn(
      `DEMO_SECRET is not set: tokens are signed with a key kept in ${file}, valid on this ` +
        'machine only. Set DEMO_SECRET in production and for instances on several machines.',
    );
  }
  const app = await createDemoApp(config);
  // SIGTERM and SIGINT close the app, which ends every open stream at once; the server
  // then keeps listening for SHUTDOWN_DRAIN_MS before it closes.
  app.enableShutdownHooks();
  drainBeforeClose(app, config.shutdownDrainMs);
  // Fastify listens on localhost only unless told otherwise; Express on every interface.
  const host = config.host ?? (config.platform === 'fastify' ? '0.0.0.0' : undefined);
  if (host === undefined) await app.listen(config.port);
  else await app.listen(config.port, host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const where = `http://localhost:${port}/`;
  logger.log(
    `Listening on ${where} (${config.platform}, ${config.transport} transport, ` +
      `${config.redisClusterNodes !== undefined ? 'Redis Cluster' : config.natsUrl !== undefined ? 'NATS' : config.redisUrl === undefined ? 'in-memory' : 'Redis'} broker)`,
  );
}

main().catch((error: unknown) => {
  new Logger('Demo').error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
