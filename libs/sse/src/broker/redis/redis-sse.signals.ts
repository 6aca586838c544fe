import { decodeEntry, decodeSignal } from '../sse-broker.codec.js';
import type { RedisSseSession } from './redis-sse.session.js';

/** A pub/sub message from another instance (or this one's join or leave), applied here. */
export function deliverSignal(session: RedisSseSession, channel: string, payload: string): void {
  const { host } = session;
  const userId = session.keys.userOfChannel(channel);
  if (userId === undefined) {
    deliverTopicSignal(session, channel, payload);
    return;
  }
  const signal = decodeSignal(payload);
  if (signal === undefined) return;
  // Joins and leaves apply in Redis's order against the topics' events, this instance's
  // own too: they come on this connection like the others'.
  if ((signal.kind === 'join' || signal.kind === 'leave') && userId !== null) {
    session.topics.told(userId, signal);
    return;
  }
  // This instance's own messages were written to its connections already.
  if (signal.origin === session.host.instanceId) return;
  switch (signal.kind) {
    case 'disconnect':
      if (userId !== null) session.host.disconnectLocal(userId);
      return;
    case 'lost':
      // The lost events reached no connection here and are in no history: this instance's
      // streams that were open before them are told at once, wherever they are (a later
      // event from another instance may have reached them first). News told twice (on a
      // cluster: on the user's channel and on the broadcasts') is told once.
      if (!session.ledger.heard(signal.lost)) return;
      if (signal.lost.all !== undefined) host.gapLocal(null, signal.lost.all);
      for (const [lostUser, seq] of signal.lost.users) host.gapLocal(lostUser, seq);
      return;
    case 'message': {
      const message = decodeEntry(payload, userId === null ? null : [userId], signal.entry);
      if (message !== undefined) session.host.deliver(message);
    }
  }
}

/** A topic's live event from another instance. */
function deliverTopicSignal(session: RedisSseSession, channel: string, payload: string): void {
  const topic = session.keys.topicOfChannel(channel);
  if (topic === undefined) return;
  const signal = decodeSignal(payload);
  if (signal?.kind !== 'message' || signal.origin === session.host.instanceId) return;
  const message = decodeEntry(payload, null, signal.entry, topic);
  if (message !== undefined) session.topics.deliver(message);
}
