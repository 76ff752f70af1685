/**
 * LineReceiver on its own: framing of a byte stream into lines, with no sockets.
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { MessageTooLargeError, ProtocolError } from '../src/index.ts';
import { LineReceiver } from '../src/lines/shared/line-receiver.ts';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

function receiver(maxLineLength = 65_536, delimiter = '\r\n'): LineReceiver {
  return new LineReceiver({ delimiter, maxLineLength });
}

/** Feeds chunks one by one; returns every line and the error, if any. */
function feed(r: LineReceiver, chunks: Array<string | Uint8Array>): { lines: string[]; error?: Error } {
  const lines: string[] = [];
  for (const chunk of chunks) {
    const out = r.push(typeof chunk === 'string' ? bytes(chunk) : chunk);
    lines.push(...out.lines);
    if (out.error) return { lines, error: out.error };
  }
  return { lines };
}

test('several lines in one chunk come out in order; empty lines are lines', (t) => {
  t.deepEqual(feed(receiver(), ['a\r\nbb\r\n\r\nccc\r\n']), { lines: ['a', 'bb', '', 'ccc'] });
});

test('a line split across many chunks is reassembled', (t) => {
  const r = receiver();
  t.deepEqual(r.push(bytes('hel')).lines, []);
  t.is(r.buffered, 3);
  t.deepEqual(r.push(bytes('lo wo')).lines, []);
  t.deepEqual(r.push(bytes('rld\r\nnext')).lines, ['hello world']);
  t.is(r.buffered, 4);
  t.deepEqual(r.push(bytes('\r\n')).lines, ['next']);
  t.is(r.buffered, 0);
});

test('a delimiter split between chunks is found, at every split point', (t) => {
  const stream = 'one\r\ntwo\r\nthree\r\n';
  for (let cut = 0; cut <= stream.length; cut++) {
    t.deepEqual(feed(receiver(), [stream.slice(0, cut), stream.slice(cut)]).lines, ['one', 'two', 'three'], `cut at ${cut}`);
  }
});

test('byte-by-byte delivery gives the same lines as one chunk', (t) => {
  const stream = bytes('α\r\n\r\nβγ line\r\n\rstray\r\n');
  const single = feed(receiver(), [stream]).lines;
  const oneByOne = feed(
    receiver(),
    [...stream].map((b) => Uint8Array.of(b)),
  ).lines;
  t.deepEqual(single, ['α', '', 'βγ line', '\rstray']);
  t.deepEqual(oneByOne, single);
});

test('a lone \\r or \\n is part of the line with a \\r\\n delimiter', (t) => {
  t.deepEqual(feed(receiver(), ['a\nb\rc\r\n']).lines, ['a\nb\rc']);
});

test('other delimiters: one byte, several bytes, multi-byte UTF-8', (t) => {
  t.deepEqual(feed(receiver(100, '\n'), ['a\nb', '\n']).lines, ['a', 'b']);
  t.deepEqual(feed(receiver(100, '--END--'), ['x--EN', 'D--y--END-', '-']).lines, ['x', 'y']);
  t.deepEqual(feed(receiver(100, '¶'), [bytes('a¶b¶').subarray(0, 2), bytes('a¶b¶').subarray(2)]).lines, ['a', 'b']);
  // A partial delimiter that turns out not to be one stays in the line.
  t.deepEqual(feed(receiver(100, '--END--'), ['a--EN', 'x--END--']).lines, ['a--ENx']);
});

test('multi-byte characters split across chunks decode correctly', (t) => {
  const text = bytes('日本語 ✓ 🙂\r\n');
  const chunks = [...text].map((b) => Uint8Array.of(b));
  t.deepEqual(feed(receiver(), chunks).lines, ['日本語 ✓ 🙂']);
});

test('a byte-order mark is kept, not stripped', (t) => {
  t.deepEqual(feed(receiver(), [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes('x\r\n')])]).lines, ['\ufeffx']);
});

test('a line of exactly maxLineLength bytes is accepted; one byte more is refused', (t) => {
  t.deepEqual(feed(receiver(8), ['12345678\r\n']).lines, ['12345678']);
  const { lines, error } = feed(receiver(8), ['ok\r\n123456789\r\nnever\r\n']);
  t.deepEqual(lines, ['ok'], 'lines before the long one are delivered');
  t.true(error instanceof MessageTooLargeError);
  t.is((error as MessageTooLargeError).limit, 8);
  t.is((error as MessageTooLargeError).size, 9);
});

test('the limit counts bytes, not characters', (t) => {
  // 3 characters, 9 bytes.
  t.true(feed(receiver(8), ['日本語\r\n']).error instanceof MessageTooLargeError);
  t.deepEqual(feed(receiver(9), ['日本語\r\n']).lines, ['日本語']);
});

test('an over-long line is refused before its delimiter arrives, without buffering it all', (t) => {
  const r = receiver(16);
  t.deepEqual(r.push(bytes('x'.repeat(10))), { lines: [] });
  // 17 bytes could still be 16 + the '\r' of a split delimiter.
  t.deepEqual(r.push(bytes('x'.repeat(6) + '\r')), { lines: [] });
  const out = r.push(bytes('xx'));
  t.true(out.error instanceof MessageTooLargeError);
  t.is(r.buffered, 0, 'nothing is kept after the error');
});

test('a 16-byte line whose split delimiter arrives late is still accepted', (t) => {
  t.deepEqual(feed(receiver(16), ['x'.repeat(16) + '\r', '\nnext\r\n']).lines, ['x'.repeat(16), 'next']);
});

test('invalid UTF-8 is a ProtocolError; lines before it are delivered', (t) => {
  const { lines, error } = feed(receiver(), [Buffer.concat([bytes('fine\r\n'), Buffer.from([0x61, 0xff, 0xfe]), bytes('\r\nlater\r\n')])]);
  t.deepEqual(lines, ['fine']);
  t.true(error instanceof ProtocolError);
  t.regex(error!.message, /^\[agent-ipc\] .*not valid UTF-8/);
});

test('overlong encodings and lone surrogates are invalid UTF-8 too', (t) => {
  // 0xC0 0xAF: an overlong '/'; 0xED 0xA0 0x80: an encoded surrogate half.
  t.true(feed(receiver(), [Buffer.from([0xc0, 0xaf, 0x0d, 0x0a])]).error instanceof ProtocolError);
  t.true(feed(receiver(), [Buffer.from([0xed, 0xa0, 0x80, 0x0d, 0x0a])]).error instanceof ProtocolError);
});

test('a character split across chunks is not mistaken for invalid UTF-8', (t) => {
  const check = bytes('✓\r\n');
  t.deepEqual(feed(receiver(), [check.subarray(0, 1), check.subarray(1, 2), check.subarray(2)]).lines, ['✓']);
});

test('after an error the receiver is spent', (t) => {
  const r = receiver(4);
  t.truthy(r.push(bytes('too long\r\n')).error);
  t.deepEqual(r.push(bytes('ok\r\n')), { lines: [] });
  t.true(r.error instanceof MessageTooLargeError);
});

test('a trailing partial line is held, not delivered', (t) => {
  const r = receiver();
  t.deepEqual(r.push(bytes('done\r\npartial')).lines, ['done']);
  t.is(r.buffered, 7);
});

test('plain Uint8Array chunks work like Buffers', (t) => {
  // A view into the middle of its ArrayBuffer, as socket chunks often are.
  const view = Uint8Array.from(bytes('__a\r\nb\r\n')).subarray(2);
  t.deepEqual(feed(receiver(), [view]).lines, ['a', 'b']);
});

test('bad options are refused', (t) => {
  t.throws(() => new LineReceiver({ delimiter: '', maxLineLength: 10 }), { instanceOf: TypeError });
  t.throws(() => new LineReceiver({ delimiter: '\n', maxLineLength: 0 }), { instanceOf: TypeError });
});
