import { describe, expect, it } from 'vitest';
import { SseConnection } from './sse-connection.js';
import type { SseSink } from './sse-sink.interface.js';
import { SseTopics } from './sse-topics.js';

const sink: SseSink = {
  write: () => undefined,
  heartbeat: () => undefined,
  end: () => undefined,
  destroy: () => undefined,
};

const connection = (id: string, userId: string, topics: string[] = []) =>
  new SseConnection(id, userId, () => sink, topics);

const receivers = (topics: SseTopics, topic: string) =>
  [...(topics.get(topic)?.connections.keys() ?? [])].map((c) => c.id);

describe('SseTopics', () => {
  it('holds a connection in a topic once, whether member’s, subscribed or both', () => {
    const topics = new SseTopics();
    const both = connection('both', 'alice', ['t']);
    const member = connection('member', 'alice');
    topics.open(both);
    topics.open(member);
    topics.join('alice', 't', [both, member]);
    expect(receivers(topics, 't')).toEqual(['both', 'member']);
    expect(both.groups).toHaveLength(1);

    const later = connection('later', 'alice');
    topics.open(later);
    expect(receivers(topics, 't')).toEqual(['both', 'member', 'later']);

    topics.leave('alice', 't', [both, member, later]);
    expect(receivers(topics, 't')).toEqual(['both']);
    expect(member.groups).toEqual([]);
    topics.open(connection('after-leave', 'alice'));
    expect(receivers(topics, 't')).toEqual(['both']);
  });

  it('forgets a topic with its last receiving connection, and a user’s memberships when told', () => {
    const topics = new SseTopics();
    const tab = connection('tab', 'alice', ['s']);
    topics.open(tab);
    topics.join('alice', 'm', [tab]);
    expect([...topics.keys()].sort()).toEqual(['m', 's']);
    tab.close('client', 1000);
    expect(topics.size).toBe(0);
    expect(topics.users).toBe(1);
    topics.forgetUser('alice');
    expect(topics.users).toBe(0);
    topics.open(connection('back', 'alice'));
    expect(topics.size).toBe(0);
  });
});
