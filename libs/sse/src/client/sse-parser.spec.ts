import { describe, expect, it } from 'vitest';
import { createSseParser, type ParsedSseEvent } from './sse-parser.js';

function parse(chunks: string[], lastEventId = '') {
  const events: ParsedSseEvent[] = [];
  const retries: number[] = [];
  const parser = createSseParser(
    { onEvent: (event) => events.push(event), onRetry: (ms) => retries.push(ms) },
    lastEventId,
  );
  for (const chunk of chunks) parser.feed(chunk);
  return { events, retries, parser };
}

describe('createSseParser', () => {
  it('reads the first event of a connection: id, retry and empty data', () => {
    const { events, retries } = parse(['id: a1\nretry: 60000\ndata:\n\n']);
    expect(events).toEqual([{ type: 'message', data: '', lastEventId: 'a1' }]);
    expect(retries).toEqual([60000]);
  });

  it('names events, joins data lines with LF and keeps the last id for events without one', () => {
    const { events } = parse(['event: chat\nid: 7\ndata: one\ndata: two\n\ndata: three\n\n']);
    expect(events).toEqual([
      { type: 'chat', data: 'one\ntwo', lastEventId: '7' },
      { type: 'message', data: 'three', lastEventId: '7' },
    ]);
  });

  it('takes CR, LF and CRLF as line ends, even a CRLF cut between two chunks', () => {
    const { events } = parse(['data: a\r', '\ndata: b\r\r', 'data: c\n', '\n']);
    expect(events.map((e) => e.data)).toEqual(['a\nb', 'c']);
  });

  it('waits for the end of a line cut anywhere, and of an event cut anywhere', () => {
    const wire = 'id: 42\nevent: shipped\ndata: {"order":1}\n\n';
    for (let cut = 1; cut < wire.length; cut++) {
      const { events } = parse([wire.slice(0, cut), wire.slice(cut)]);
      expect(events).toEqual([{ type: 'shipped', data: '{"order":1}', lastEventId: '42' }]);
    }
  });

  it('ignores comments, a leading BOM, unknown fields, ids with NUL and retry that is not digits', () => {
    const { events, retries } = parse([
      '\uFEFF: heartbeat\nid: ok\nfoo: bar\nretry: 1e3\nretry: -1\n',
      'id: bad\0id\ndata\ndata:x\n\n',
    ]);
    expect(events).toEqual([{ type: 'message', data: '\nx', lastEventId: 'ok' }]);
    expect(retries).toEqual([]);
  });

  it('does not dispatch an event without data, but keeps its id', () => {
    const { events } = parse(['id: 1\nevent: nothing\n\ndata: later\n\n']);
    expect(events).toEqual([{ type: 'message', data: 'later', lastEventId: '1' }]);
  });

  it('removes only one space after the colon', () => {
    const { events } = parse(['data:  two spaces\n\n']);
    expect(events[0].data).toBe(' two spaces');
  });

  it('drops a partial event on reset, and starts again from the id it is given', () => {
    const { events, parser } = parse(['id: 1\ndata: cut off'], 'start');
    parser.reset('9');
    parser.feed('data: fresh\n\n');
    expect(events).toEqual([{ type: 'message', data: 'fresh', lastEventId: '9' }]);
  });
});
