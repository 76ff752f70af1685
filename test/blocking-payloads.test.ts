/**
 * The fast paths for long strings and byte arrays in blocking calls: the codec's ASCII,
 * UTF-16 and aligned-bytes forms (round trips, and what a reader does with lying or
 * truncated input), and the mailbox's byte area that grows instead of using the side
 * port (src/blocking/mailbox.ts), seen from both sides as two threads would.
 */
import test from 'ava';
import { ByteArea, decode, encodeInto, encodeToNewBuffer, type Shortfall } from '../src/blocking/value-codec.ts';
import { HEADER_BYTES, MailboxArea, createMailboxMemory } from '../src/blocking/mailbox.ts';

const longValues: Array<[string, unknown]> = [
  ['ASCII string', 'a1-'.repeat(100)],
  ['Latin-1 string', 'é'.repeat(100)],
  ['emoji after 63 ASCII chars', 'x'.repeat(63) + '😀'],
  ['mostly ASCII, the sampled chars all ASCII', 'é' + 'a'.repeat(199)],
  ['lone surrogates (kept, as structured clone keeps them)', '\ud800x'.repeat(40)],
  ['a long key and a long value', { ['k'.repeat(100) + 'é']: 'v'.repeat(200) }],
  ['mixed list at odd offsets', [1, 'y'.repeat(5000), new Uint8Array(300).fill(7), 'z', Uint8Array.of(1, 2, 3), 'é'.repeat(77)]],
  ['large byte array', new Uint8Array(70_000).map((_, i) => i * 31)],
];

for (const [name, value] of longValues) {
  test(`round trip through the byte area and a new buffer: ${name}`, (t) => {
    const area = new ByteArea(new SharedArrayBuffer(1 << 20), 64);
    const end = encodeInto(value, area, 0);
    t.true(end > 0);
    t.deepEqual(decode(area, 0, end), value);
    const fresh = encodeToNewBuffer(value);
    t.deepEqual(decode(new ByteArea(fresh.buffer, fresh.byteOffset, fresh.byteLength), 0, fresh.length, true), value);
    // Copied to every other offset modulo 8 (a process agent reads its answer wherever it
    // sits in its input buffer): the encoding does not depend on where it is read.
    for (let shift = 1; shift < 8; shift++) {
      const moved = new Uint8Array(fresh.length + shift);
      moved.set(fresh, shift);
      t.deepEqual(decode(new ByteArea(moved.buffer), shift, moved.length), value, `read at offset ${shift}`);
    }
  });
}

test('a byte array read from the area is a copy the reader owns', (t) => {
  const area = new ByteArea(new SharedArrayBuffer(1 << 16));
  const end = encodeInto(new Uint8Array(1000).fill(5), area, 0);
  const read = decode(area, 0, end) as Uint8Array;
  area.bytes.fill(0);
  t.is(read.constructor, Uint8Array);
  t.is(read[999], 5);
});

test('a value that does not fit reports how much room it asked for', (t) => {
  const small = new ByteArea(new SharedArrayBuffer(100));
  const shortfall: Shortfall = { bytes: 0 };
  t.is(encodeInto(['x'.repeat(500)], small, 0, shortfall), -1);
  t.true(shortfall.bytes > 500);
  const big = new ByteArea(new SharedArrayBuffer(shortfall.bytes));
  t.true(encodeInto(['x'.repeat(500)], big, 0) > 0);
});

test('hostile input: a lying ASCII tag reads as Latin-1; odd or truncated UTF-16 and truncated bytes are refused', (t) => {
  const area = new ByteArea(new SharedArrayBuffer(256));
  // 0x0b ASCII, length 2, bytes 0xe9 0x41 (not ASCII): a valid string all the same.
  area.bytes.set([0x0b, 2, 0, 0, 0, 0xe9, 0x41]);
  t.is(decode(area, 0, 7), 'éA');
  // 0x0c UTF-16 with an odd byte length.
  area.bytes.set([0x0c, 3, 0, 0, 0, 2, 0, 0, 0x41, 0, 0x42]);
  t.throws(() => decode(area, 0, 11), { instanceOf: RangeError });
  // 0x0c UTF-16 longer than the data.
  area.bytes.set([0x0c, 8, 0, 0, 0, 2, 0, 0, 0x41, 0]);
  t.throws(() => decode(area, 0, 10), { instanceOf: RangeError });
  // 0x0d aligned bytes: the pad's count byte missing, a pad beyond the end, a pad count over 7, a length beyond the end.
  area.bytes.set([0x0d, 1, 0, 0, 0]);
  t.throws(() => decode(area, 0, 5), { instanceOf: RangeError });
  area.bytes.set([0x0d, 1, 0, 0, 0, 6, 0]);
  t.throws(() => decode(area, 0, 7), { instanceOf: RangeError });
  area.bytes.set([0x0d, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
  t.throws(() => decode(area, 0, 16), { instanceOf: RangeError, message: /padding/ });
  area.bytes.set([0x0d, 100, 0, 0, 0, 2, 0, 0, 1, 2]);
  t.throws(() => decode(area, 0, 10), { instanceOf: RangeError });
});

test('the byte area grows for a large body, and the other side sees it before it reads', (t) => {
  const memory = createMailboxMemory(1024, 1 << 20);
  const writer = new MailboxArea(memory);
  const reader = new MailboxArea(memory);
  const readerView = reader.current();
  const body = ['s'.repeat(5000), new Uint8Array(20_000).fill(9)];
  const end = writer.encode(body, Number.MAX_SAFE_INTEGER);
  t.true(end > 1024);
  t.true(memory.byteLength >= HEADER_BYTES + end);
  // The reader's old view is stale, and is read again only for a body that ends past it.
  t.is(readerView.bytes.length, 1024);
  t.is(reader.current(), readerView);
  t.throws(() => decode(readerView, 0, end), { instanceOf: RangeError, message: /truncated/ });
  t.deepEqual(decode(reader.current(end), 0, end), body);
  // The writer sees what the other side grew before growing it further.
  const grown = memory.byteLength;
  const readerEnd = reader.encode(['t'.repeat(9000)], Number.MAX_SAFE_INTEGER);
  t.true(readerEnd > 1024);
  t.is(memory.byteLength, grown, 'written into the grown area, not grown again');
  t.deepEqual(decode(writer.current(readerEnd), 0, readerEnd), ['t'.repeat(9000)]);
});

test('the byte area does not grow past its cap or past the limit given', (t) => {
  const memory = createMailboxMemory(1024, 8192);
  const area = new MailboxArea(memory);
  t.is(area.encode(new Uint8Array(10_000), Number.MAX_SAFE_INTEGER), -1, 'over the cap: the caller uses the side port');
  t.is(area.encode(new Uint8Array(5_000), 2_000), -1, 'over the limit: not grown for it');
  t.is(memory.byteLength, HEADER_BYTES + 1024);
  t.true(area.encode(new Uint8Array(5_000), Number.MAX_SAFE_INTEGER) > 5_000);
});

test('typed arrays that come back through the v8 fallback are not views into the area, which the next call overwrites', (t) => {
  const area = new ByteArea(new SharedArrayBuffer(1 << 16), 64);
  const value = new Map<string, Float64Array | Uint8Array>([
    ['f', new Float64Array([1.5, 2.5, 3.5, 4.5])],
    ['b', new Uint8Array(64).fill(7)],
  ]);
  const end = encodeInto(value, area, 0);
  const decoded = decode(area, 0, end) as Map<string, Float64Array | Uint8Array>;
  t.deepEqual(decoded, value);
  area.bytes.fill(0xff);
  t.deepEqual(decoded.get('f'), new Float64Array([1.5, 2.5, 3.5, 4.5]));
  t.deepEqual(decoded.get('b'), new Uint8Array(64).fill(7));
});

test('a large byte array is encoded into a buffer of its own size, written once (no growth, no copy out)', (t) => {
  const data = new Uint8Array(3 << 20).map((_, i) => i % 253);
  const encoded = encodeToNewBuffer(data);
  // Grown (doubled) and copied out, the buffer would be twice the array's size.
  t.true(encoded.buffer.byteLength <= data.length + 16, `buffer of ${encoded.buffer.byteLength} B for ${data.length} B`);
  // Not copied out at the end: the bytes returned are a view of the buffer written.
  t.true(encoded.byteLength < encoded.buffer.byteLength, 'a view of the buffer written, with its few unused bytes');
  t.deepEqual(decode(new ByteArea(encoded.buffer, encoded.byteOffset, encoded.byteLength), 0, encoded.byteLength, true), data);
  // A small value in a buffer much larger than it is copied out, not kept as a view.
  const small = encodeToNewBuffer('x');
  t.is(small.buffer.byteLength, small.byteLength);
});
