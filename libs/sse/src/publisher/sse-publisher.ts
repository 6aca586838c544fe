import { Logger, type LoggerService } from '@nestjs/common';
import type { SseBroker, SseEnvelope } from '../broker/sse-broker.interface.js';
import type { SseSendOptions, SseSendResult } from '../interfaces/sse-service.interface.js';
import { SseError, SseInvalidUserIdError, SseOptionsError } from '../sse.errors.js';
import { SSE_LOGGER_CONTEXT } from '../sse.internal-constants.js';
import { resolveSseOptions, resolveSseRoute } from '../sse.options.js';
import { createEnvelope } from '../wire/sse-envelope.factory.js';
import { checkTopic, checkUserId } from '../wire/sse-validate.js';
import { publisherHost } from './sse-publisher.host.js';

/** Options of `new SsePublisher(options)`. */
export interface SsePublisherOptions {
  /**
   * The broker the application instances use (`RedisSseBroker`, `NatsSseBroker`), made
   * for this publisher: with the same connection settings and prefix as theirs.
   */
  broker: SseBroker;
  /**
   * The applications' `history` option: events are kept for replay as they keep them.
   * @default { size: 100, ttlMs: 300000 }
   */
  history?: { size?: number; ttlMs?: number };
  /**
   * The applications' `maxMessageBytes`: larger data is refused here as it would be there.
   * @default 65536
   */
  maxMessageBytes?: number;
  /** Where the broker reports trouble with its connections. @default Nest's `Logger` */
  logger?: LoggerService;
}

/**
 * Sends events from a process that serves no connections (a queue worker, a cron job, a
 * script), with no NestJS application and no HTTP server: the events reach every
 * instance's connections and their history as if an instance had sent them. The same
 * validation and results as `SseService`: `delivered` counts the connections on every
 * instance.
 *
 * @example
 * ```ts
 * import { SsePublisher } from 'nestjs-sse-hub/publisher';
 * import { RedisSseBroker } from 'nestjs-sse-hub/redis';
 *
 * const publisher = new SsePublisher({ broker: new RedisSseBroker({ url: process.env.REDIS_URL }) });
 * await publisher.send('alice', { text: 'Your export is ready' }, { event: 'export' });
 * await publisher.close();
 * ```
 */
export class SsePublisher {
  private readonly broker: SseBroker;
  private readonly maxMessageBytes: number;
  private readonly attached: Promise<void>;
  private closing: Promise<void> | undefined;

  /**
   * Checks the options and starts connecting the broker; the first send waits for it.
   * @throws SseOptionsError when an option cannot work.
   */
  constructor(options: SsePublisherOptions) {
    if (typeof options !== 'object' || options === null || !isBroker(options.broker)) {
      throw new SseOptionsError('broker', 'must be a broker such as new RedisSseBroker()');
    }
    const resolved = resolveSseOptions(
      { history: options.history, maxMessageBytes: options.maxMessageBytes },
      resolveSseRoute(undefined, undefined),
    );
    this.broker = options.broker;
    this.maxMessageBytes = resolved.maxMessageBytes;
    const host = publisherHost(
      resolved.history,
      resolved.maxTopicsPerUser,
      options.logger ?? new Logger(SSE_LOGGER_CONTEXT),
    );
    this.attached = Promise.resolve(this.broker.attach(host));
    // A failed attach is reported by the first send, not as an unhandled rejection.
    this.attached.catch(() => undefined);
  }

  /**
   * Resolves once the broker is attached (connected, or going on without its server as it
   * would in an application). Sends wait for it themselves.
   */
  ready(): Promise<void> {
    return this.attached;
  }

  /** Sends an event to every connection of one user, on every instance, and keeps it. */
  async send(userId: string, data: unknown, options: SseSendOptions = {}): Promise<SseSendResult> {
    return this.publishEnvelope({ to: [checkUserId(userId)] }, data, options);
  }

  /** Sends one event (one id) to several users; `delivered` counts all their connections. */
  async sendToUsers(
    userIds: readonly string[],
    data: unknown,
    options: SseSendOptions = {},
  ): Promise<SseSendResult> {
    if (!Array.isArray(userIds)) throw new SseInvalidUserIdError('userIds must be an array');
    return this.publishEnvelope({ to: [...new Set(userIds.map(checkUserId))] }, data, options);
  }

  /** Sends an event to every connected user; it is kept for replay as a broadcast. */
  async broadcast(data: unknown, options: SseSendOptions = {}): Promise<SseSendResult> {
    return this.publishEnvelope({ to: null }, data, options);
  }

  /** Sends an event to a topic's members and subscribers, on every instance. */
  async publish(
    topic: string,
    data: unknown,
    options: SseSendOptions = {},
  ): Promise<SseSendResult> {
    return this.publishEnvelope({ to: null, topic: checkTopic(topic) }, data, options);
  }

  /** Waits for events on their way and ends the broker's connections. */
  close(): Promise<void> {
    this.closing ??= this.attached.then(
      () => this.broker.detach(),
      () => this.broker.detach(),
    );
    return this.closing;
  }

  private async publishEnvelope(
    address: Pick<SseEnvelope, 'to' | 'topic'>,
    data: unknown,
    options: SseSendOptions,
  ): Promise<SseSendResult> {
    const envelope = createEnvelope(address.to, address.topic, data, options, this.maxMessageBytes);
    if (this.closing !== undefined) {
      throw new SseError(
        'This SsePublisher is closed. Potential solutions: send before close(), or make a ' +
          'new SsePublisher (with a new broker) for later sends.',
      );
    }
    if (address.to !== null && address.to.length === 0) {
      return { id: envelope.id, delivered: 0, stored: false };
    }
    await this.attached;
    const { delivered, stored } = await this.broker.publish(envelope);
    return { id: envelope.id, delivered, stored };
  }
}

function isBroker(value: unknown): value is SseBroker {
  const broker = value as Partial<SseBroker> | null | undefined;
  return typeof broker?.attach === 'function' && typeof broker.publish === 'function';
}
