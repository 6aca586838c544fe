import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { SseBrokerHost } from '../sse-broker.interface.js';
import { decodeEntry, decodeSignal } from '../sse-broker.codec.js';
import { NatsSseConnection } from './nats-sse.connection.js';
import { NatsSseHistory } from './nats-sse.history.js';
import type { NatsSseLostEvents } from './nats-sse.lost-events.js';
import { NatsSseMemberships } from './nats-sse.memberships.js';
import type { NatsSseResolvedOptions } from './nats-sse.options.js';
import { NatsSsePresence } from './nats-sse.presence.js';
import { NatsSseReporter } from './nats-sse.reporter.js';
import type { NatsSseSubjects } from './nats-sse.subjects.js';
import { NatsSseSubscriptions } from './nats-sse.subscriptions.js';
import { NatsSseTopics } from './nats-sse.topics.js';

/** The parts of a connected session: there once NATS has answered a first time. */
export interface NatsSseParts {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly history: NatsSseHistory;
  readonly subscriptions: NatsSseSubscriptions;
  /** Subscriptions of the topics with a receiving connection here. */
  readonly topics: NatsSseSubscriptions;
}

/**
 * What the broker holds while attached, and the life of its connection: set up on the
 * first connection, down on a disconnect, up again on a reconnect (the stream and the
 * bucket put in place again, presence written in full, lost events marked), and then the
 * instance's streams ended so that their clients replay what they missed meanwhile.
 */
export class NatsSseSession {
  readonly presence: NatsSsePresence;
  readonly topics: NatsSseTopics;
  readonly connection: NatsSseConnection;
  readonly reporter: NatsSseReporter;
  parts: NatsSseParts | undefined;
  /** Connected, with the stream and the bucket in place. */
  up = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    readonly host: SseBrokerHost,
    private readonly options: NatsSseResolvedOptions,
    private readonly subjects: NatsSseSubjects,
    private readonly lost: NatsSseLostEvents,
  ) {
    this.reporter = new NatsSseReporter(host.logger);
    const report = (what: string, error: unknown): void => this.reporter.report(what, error);
    this.presence = new NatsSsePresence(
      host,
      options.presenceTtlMs,
      options.presenceHeartbeatMs,
      report,
    );
    const topicPresence = new NatsSsePresence(
      host,
      options.presenceTtlMs,
      options.presenceHeartbeatMs,
      report,
      { infix: 't.', count: (topic) => host.localTopicConnections(topic) },
    );
    this.topics = new NatsSseTopics(
      host,
      subjects,
      topicPresence,
      () => this.parts,
      () => this.up,
      report,
    );
    this.connection = new NatsSseConnection(
      options,
      `sse:${host.instanceId}`,
      (nc) => this.connected(nc),
      report,
    );
  }

  /** The first connection: sets everything up, then follows the connection's status. */
  private async connected(nc: NatsConnection): Promise<void> {
    const { host, subjects } = this;
    const timeout = this.options.requestTimeoutMs;
    const js = jetstream(nc, { timeout });
    const history = new NatsSseHistory(
      await jetstreamManager(nc, { timeout }),
      js,
      subjects,
      this.options,
      host.history.size,
      host.history.ttlMs,
    );
    const subscriptions = new NatsSseSubscriptions(
      nc,
      (userId) => subjects.user(userId),
      {
        message: (userId, payload) => this.receive(userId, payload),
        disconnect: (subject) => host.disconnectLocal(subjects.userOfDisconnect(subject)),
      },
      (what, error) => this.reporter.report(what, error),
    );
    for (const userId of host.localUsers()) subscriptions.want(userId, false);
    const topics = new NatsSseSubscriptions(
      nc,
      (topic) => subjects.topic(topic),
      {
        message: (topic, payload) =>
          topic === null ? undefined : this.topics.receive(topic, payload),
        disconnect: () => undefined,
      },
      (what, error) => this.reporter.report(what, error),
    );
    for (const topic of host.localTopics()) topics.want(topic, false);
    nc.subscribe(subjects.memberships, {
      callback: (error, msg) =>
        error === null
          ? this.topics.signal(subjects.userOfMembership(msg.subject), msg.string())
          : this.reporter.report('subscription', error),
    });
    await subscriptions.start(subjects.broadcast, subjects.disconnects);
    this.parts = { nc, js, history, subscriptions, topics };
    void this.follow(nc);
    // Connections opened before NATS answered missed what other instances sent.
    await this.bringUp([...host.localUsers()].length > 0);
  }

  private async follow(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (this.closed) return;
      if (status.type === 'disconnect') {
        this.up = false;
        this.presence.lost();
        this.topics.presence.lost();
        this.reporter.report('connection', new Error('disconnected from NATS'));
      } else if (status.type === 'reconnect') {
        // While down, other instances' messages did not reach this instance's clients.
        await this.bringUp(true);
      }
    }
  }

  /**
   * Puts the stream and the bucket in place, rejoins presence and marks what was lost;
   * then, if `replay`, ends the local streams so that they replay. Tried again after a
   * heartbeat's time while it fails.
   */
  private async bringUp(replay: boolean): Promise<void> {
    clearTimeout(this.retry);
    const parts = this.parts;
    if (parts === undefined || this.closed) return;
    const { host, subjects, options } = this;
    try {
      if (host.history.size > 0) await parts.history.ensure();
      const kvm = new Kvm(parts.nc);
      const config = {
        ttl: options.presenceTtlMs,
        history: 1,
        replicas: options.replicas,
        storage: options.storage,
      };
      const kv = await kvm.create(subjects.bucket, config).catch(() => kvm.open(subjects.bucket));
      await this.presence.join(kv);
      await this.topics.presence.join(kv);
      const memberships = await kvm
        .create(subjects.topicsBucket, { ...config, ttl: 0 })
        .catch(() => kvm.open(subjects.topicsBucket));
      this.topics.store = new NatsSseMemberships(
        memberships,
        host.limits.maxTopicsPerUser,
        2 * host.history.ttlMs,
      );
      if (host.history.size > 0 && !this.lost.empty) {
        const markers = this.lost.take(subjects);
        await parts.history.markLost(markers).catch((error: unknown) => {
          this.lost.restore(subjects, markers);
          throw error;
        });
      }
    } catch (error) {
      this.reporter.report('start-up', error);
      if (parts.nc.isClosed() || this.closed) return;
      this.retry = setTimeout(() => void this.bringUp(replay), options.presenceHeartbeatMs);
      this.retry.unref();
      return;
    }
    if (this.closed) return;
    this.up = true;
    this.reporter.recovered();
    if (replay) host.reconnectLocal();
  }

  /** A message from another instance. */
  private receive(userId: string | null, payload: string): void {
    const signal = decodeSignal(payload);
    if (signal?.kind !== 'message' || signal.origin === this.host.instanceId) return;
    const message = decodeEntry(payload, userId === null ? null : [userId], signal.entry);
    if (message !== undefined) this.host.deliver(message);
  }

  /** Leaves presence and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.reporter.silence();
    await this.presence.leave();
    await this.topics.presence.leave();
    await this.connection.close(this.up);
    this.up = false;
  }
}
