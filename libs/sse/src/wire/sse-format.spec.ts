import { describe, expect, it } from 'vitest';
import { parseEvents } from '../../../../test/support/sse-client.js';
import { formatEvent, HEARTBEAT_TEXT, toChunk } from './sse-format.js';
import { SseFrame } from './sse-frame.js';

describe('formatEvent', () => {
  it('writes the fields in the order NestJS writes them', () => {
    expect(formatEvent('1', 'chat', 'hi', 500)).toBe(
      'event: chat\nid: 1\nretry: 500\ndata: hi\n\n',
    );
    expect(formatEvent('1', undefined, '')).toBe('id: 1\ndata: \n\n');
  });

  it('splits every kind of line break into data lines, which a client joins with LF', () => {
    const text = formatEvent('1', undefined, 'a\nb\r\nc\rd');
    expect(text).toBe('id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n');
    expect(parseEvents(text).events[0].data).toBe('a\nb\nc\nd');
  });

  it('keeps blank lines and trailing newlines of the data', () => {
    const data = '\nfirst\n\nlast\n';
    expect(parseEvents(formatEvent('1', undefined, data)).events[0].data).toBe(data);
  });

  it('writes a heartbeat as a comment, which carries no id', () => {
    const [heartbeat] = parseEvents(HEARTBEAT_TEXT).events;
    expect(heartbeat).toEqual({ comments: [' '] });
  });
});

describe('toChunk', () => {
  it('frames a payload as an HTTP/1.1 chunk', () => {
    const payload = Buffer.from('data: é\n\n');
    expect(toChunk(payload).toString('utf8')).toBe(
      `${payload.length.toString(16)}\r\ndata: é\n\n\r\n`,
    );
  });

  it('frames text as its UTF-8 bytes, counted in bytes', () => {
    const text = 'data: é 😀\n\n';
    expect(toChunk(text)).toEqual(toChunk(Buffer.from(text, 'utf8')));
  });
});

describe('SseFrame', () => {
  it('serialises once and shares the result', () => {
    const frame = SseFrame.message({
      id: 'id-1',
      seq: 'id-1',
      event: 'news',
      data: '{"a":1}',
      to: null,
    });
    expect(frame.bytes).toBe(frame.bytes);
    expect(frame.chunk).toBe(frame.chunk);
    expect(frame.message).toBe(frame.message);
    expect(frame.message).toEqual({ id: 'id-1', type: 'news', data: '{"a":1}' });
    expect(frame.bytes.toString()).toBe('event: news\nid: id-1\ndata: {"a":1}\n\n');
  });
});
