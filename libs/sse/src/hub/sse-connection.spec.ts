import { describe, expect, it } from 'vitest';
import { SSE_CLOSE_EVENT, SSE_GAP_EVENT } from '../sse.constants.js';
import { SseFrame } from '../wire/sse-frame.js';
import { SseConnection, SseConnectionState } from './sse-connection.js';
import { SseGroups } from './sse-groups.js';
import type { SseSink } from './sse-sink.interface.js';

/** A sink that records what the connection did to it. */
class RecordingSink implements SseSink {
  readonly written: SseFrame[] = [];
  ended: SseFrame | null | undefined;
  destroyed = false;
  heartbeats = 0;
  write(frame: SseFrame): void {
    this.written.push(frame);
  }
  heartbeat(): void {
    this.heartbeats++;
  }
  end(last?: SseFrame): void {
    this.ended = last ?? null;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

function open(): { connection: SseConnection; sink: RecordingSink } {
  const sink = new RecordingSink();
  return { connection: new SseConnection('c1', 'alice', () => sink), sink };
}

const envelope = (id: string) => ({ id, seq: id, data: id, to: ['alice'] });
const message = (id: string) => SseFrame.message(envelope(id));

describe('SseConnection', () => {
  it('writes its first event and goes live', () => {
    const { connection, sink } = open();
    expect(connection.state).toBe(SseConnectionState.Opening);
    connection.push(message('too-early'));
    connection.start('first', 500, false);
    connection.push(message('m1'));
    expect(connection.state).toBe(SseConnectionState.Live);
    expect(sink.written.map((f) => f.text)).toEqual([
      'id: first\nretry: 500\ndata: \n\n',
      'id: m1\ndata: m1\n\n',
    ]);
    expect(connection.lastId).toBe('m1');
  });

  it('holds live events while replaying, then writes gap, replay and what waited, none twice', () => {
    const { connection, sink } = open();
    connection.start('from', 500, true);
    connection.push(message('m2'));
    connection.push(message('m3'));
    expect(sink.written).toHaveLength(1);
    connection.finishReplay({
      events: [envelope('m1'), envelope('m2')],
      gap: { reason: 'expired', lastEventId: 'from' },
    });
    expect(connection.state).toBe(SseConnectionState.Live);
    expect(sink.written.slice(1).map((f) => [f.event, f.id])).toEqual([
      [SSE_GAP_EVENT, 'from'],
      [undefined, 'm1'],
      [undefined, 'm2'],
      [undefined, 'm3'],
    ]);
  });

  it.each([
    ['replaced', SSE_CLOSE_EVENT],
    ['disconnected', SSE_CLOSE_EVENT],
  ] as const)('ends with sse:close when %s', (reason, event) => {
    const { connection, sink } = open();
    connection.start('first', 500, false);
    expect(connection.close(reason, 60_000)).toBe(true);
    expect(sink.ended).toMatchObject({ event, id: 'first', data: JSON.stringify({ reason }) });
  });

  it('ends with a spread retry and no data at shutdown, plainly on timeout, by force when slow', () => {
    const shutdown = open();
    shutdown.connection.start('first', 500, false);
    shutdown.connection.close('shutdown', 60_000);
    expect(shutdown.sink.ended).toMatchObject({ id: 'first', data: undefined });
    expect(shutdown.sink.ended!.retry).toBeGreaterThanOrEqual(1000);
    expect(shutdown.sink.ended!.retry).toBeLessThanOrEqual(15_000);
    const timeout = open();
    timeout.connection.start('first', 500, false);
    timeout.connection.close('timeout', 60_000);
    expect(timeout.sink.ended).toBeNull();
    const slow = open();
    slow.connection.start('first', 500, false);
    slow.connection.close('slow', 60_000);
    expect(slow.sink.destroyed).toBe(true);
    expect(slow.sink.ended).toBeUndefined();
  });

  it('closes once, writes nothing after, and leaves its groups', () => {
    const users = new SseGroups();
    const { connection, sink } = open();
    users.join('alice', connection);
    connection.start('first', 500, true);
    expect(users.get('alice')?.connections.size).toBe(1);
    expect(connection.close('client', 60_000)).toBe(true);
    expect(connection.close('timeout', 60_000)).toBe(false);
    connection.push(message('late'));
    connection.finishReplay({ events: [envelope('m1')] });
    expect(sink.written).toHaveLength(1);
    expect(sink.ended).toBeUndefined();
    expect(users.size).toBe(0);
    expect(connection.groups).toEqual([]);
  });
});
