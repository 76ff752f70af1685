/** The blocking-call value codec: round trips, the v8 fallback, bounds and bad input. */
import test from 'ava';
import fc from 'fast-check';
import { ByteArea, decode, decodeCall, encodeCallInto, encodeInto, encodeToNewBuffer } from '../src/blocking/value-codec.ts';
import { DataCloneError } from '../src/errors.ts';

function roundTrip(value: unknown, area = new ByteArea(new SharedArrayBuffer(1 << 16))): unknown {
  const end = encodeInto(value, area, 0);
  if (end < 0) {
    const bytes = encodeToNewBuffer(value);
    return decode(new ByteArea(bytes.buffer), 0, bytes.length);
  }
  return decode(area, 0, end);
}

const values: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['booleans', [true, false]],
  ['int32 edges', [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]],
  ['doubles', [0.5, -0, Number.NaN, Infinity, -Infinity, 2 ** 53, 1e-300]],
  ['ascii string', 'getBlock'],
  ['unicode strings', ['héllo', '✓ ok', '𝄞 clef', 'ü'.repeat(40), '']],
  ['long string', 'x'.repeat(100_000)],
  ['nested', { a: [1, { b: 'c', d: [null, undefined, { e: true }] }], f: {} }],
  ['call shape', ['getBlock', [123, 'abc']]],
  ['bytes', new Uint8Array([0, 1, 2, 255])],
  ['empty bytes', new Uint8Array(0)],
  ['bytes inside', { hash: new Uint8Array(32).fill(7), height: 9 }],
  ['Map and Date (v8)', { m: new Map([[1, 'a']]), d: new Date(12345) }],
  ['BigInt (v8)', [1n, -(2n ** 100n)]],
  ['Set (v8)', new Set(['a', 'b'])],
  ['other typed arrays (v8)', [new Float64Array([1.5]), new Uint16Array([7])]],
  ['null-prototype object', Object.assign(Object.create(null) as object, { k: 1 })],
];

for (const [name, value] of values) {
  test(`round trip: ${name}`, (t) => {
    t.deepEqual(roundTrip(value), value);
  });
}

test('a Buffer travels as its bytes (like structured clone, which yields a Uint8Array)', (t) => {
  const back = roundTrip(Buffer.from('abc')) as Uint8Array;
  t.deepEqual(Array.from(back), [97, 98, 99]);
});

test('cycles and very deep values fall back to v8 and keep their shape', (t) => {
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  const back = roundTrip(cyclic) as Record<string, unknown>;
  t.is(back.self, back);
  let deep: unknown = 'bottom';
  for (let i = 0; i < 100; i++) deep = [deep];
  t.deepEqual(roundTrip(deep), deep);
});

test('decoded bytes are copies, unless sharing is asked for', (t) => {
  const area = new ByteArea(new SharedArrayBuffer(1024));
  const end = encodeInto(new Uint8Array([1, 2, 3]), area, 0);
  const copy = decode(area, 0, end) as Uint8Array;
  const shared = decode(area, 0, end, true) as Uint8Array;
  area.bytes.fill(0);
  t.deepEqual(Array.from(copy), [1, 2, 3]);
  t.deepEqual(Array.from(shared), [0, 0, 0]);
});

test('a value that does not fit the area reports overflow instead of writing past it', (t) => {
  const area = new ByteArea(new SharedArrayBuffer(64));
  const guard = new Uint8Array(area.backing, 0, 64);
  t.is(encodeInto('y'.repeat(200), area, 0), -1);
  t.is(encodeInto(new Uint8Array(100), area, 0), -1);
  t.is(encodeInto({ m: new Map([[1, 'x'.repeat(100)]]) }, area, 0), -1);
  t.is(guard.length, 64);
  t.deepEqual(roundTrip('y'.repeat(200), area), 'y'.repeat(200));
});

test('a key named __proto__ stays data and never sets a prototype', (t) => {
  const hostile = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, unknown>;
  const back = roundTrip(hostile) as Record<string, unknown>;
  t.is(Object.getPrototypeOf(back), Object.prototype);
  t.is((back as { polluted?: boolean }).polluted, undefined);
  t.deepEqual(Object.keys(back), ['__proto__', 'ok']);
  t.is(({} as { polluted?: boolean }).polluted, undefined);
});

test('functions and symbols cannot be encoded: DataCloneError', (t) => {
  const area = new ByteArea(new SharedArrayBuffer(1024));
  t.throws(() => encodeInto({ f: () => 1 }, area, 0), { instanceOf: DataCloneError });
  t.throws(() => encodeInto([Symbol('s')], area, 0), { instanceOf: DataCloneError });
});

test('truncated, trailing and unknown-tag input is a RangeError, never a hang or a crash', (t) => {
  const area = new ByteArea(new SharedArrayBuffer(1024));
  const end = encodeInto({ a: [1, 2, 'three'] }, area, 0);
  for (let cut = 0; cut < end; cut++) t.throws(() => decode(area, 0, cut), { instanceOf: RangeError }, `cut at ${cut}`);
  t.throws(() => decode(area, 0, end + 1), { instanceOf: RangeError });
  area.bytes[0] = 0x7f;
  t.throws(() => decode(area, 0, 1), { instanceOf: RangeError, message: /unknown tag/ });
  // A huge claimed count with no data behind it is refused before allocating.
  const view = new DataView(area.backing);
  area.bytes[0] = 0x07;
  view.setUint32(1, 0xffffffff, true);
  t.throws(() => decode(area, 0, 5), { instanceOf: RangeError });
});

test('short strings decoded again are right, whatever was decoded before them', (t) => {
  // Same length, same first and last byte (so the same slot of the recent-strings table),
  // different middles; then non-ASCII text of that shape, then the first one again.
  const area = new ByteArea(new SharedArrayBuffer(1 << 12));
  const words = ['axb', 'ayb', 'axb', 'aéb', 'a\u0000b', 'axb', '', 'k', 'k', 'keyName', 'keyNamf'];
  for (const word of words) t.is(roundTrip(word, area), word);
  t.deepEqual(roundTrip({ axb: 1, ayb: 2, azb: { axb: 3 } }, area), { axb: 1, ayb: 2, azb: { axb: 3 } });
  // A string's bytes edited in place after it was decoded once: the new text is read.
  const end = encodeInto('axb', area, 0);
  t.is(decode(area, 0, end), 'axb');
  area.bytes[6] = 'q'.charCodeAt(0); // tag, u32 length, then 'a' at 5
  t.is(decode(area, 0, end), 'aqb');
});

// ── the call envelope (value-codec.ts): the same bytes and values as the general paths ──

const asciiString = (maxLength: number, minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), minLength, maxLength });
const callArg: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  asciiString(300),
  fc.constantFrom(-0, 0.5, Number.NaN, 2 ** 31, null, undefined, true),
  fc.string({ maxLength: 30 }),
  fc.array(fc.integer(), { maxLength: 3 }),
);
const call = fc.record({
  command: fc.oneof(asciiString(30), fc.constantFrom('add', 'getBlock', 'héllo', 'x'.repeat(70))),
  args: fc.oneof(
    // The common shape, and the same with anything else mixed in.
    // Strings around the general writer's switch from UTF-8 to ASCII bodies (64 chars) included.
    fc.array(fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), asciiString(300), asciiString(70, 60), asciiString(260, 250)), { maxLength: 8 }),
    fc.array(callArg, { maxLength: 10 }),
    fc.constantFrom<unknown>('not an array', undefined, { 0: 1 }),
  ),
});

test('call envelope: wherever it writes a request, its bytes are the general writer\'s, and both readers agree', (t) => {
  let written = 0;
  fc.assert(
    fc.property(call, ({ command, args }) => {
      const general = new ByteArea(new SharedArrayBuffer(1 << 14));
      const end = encodeInto([command, args], general, 0);
      const fast = new ByteArea(new SharedArrayBuffer(1 << 14));
      const fastEnd = encodeCallInto(command, args, fast);
      if (fastEnd >= 0) {
        written++;
        if (fastEnd !== end) return false;
        if (Buffer.compare(Buffer.from(fast.bytes.subarray(0, end)), Buffer.from(general.bytes.subarray(0, end))) !== 0) return false;
      }
      t.deepEqual(decodeCall(general, end), decode(general, 0, end));
      return true;
    }),
    { numRuns: 3000 },
  );
  t.true(written > 500, `the envelope wrote ${written} of the requests itself`);
});

test('call envelope: on damaged bytes its reader returns or throws exactly what the general reader does', (t) => {
  const outcome = (read: () => unknown): { value?: unknown; error?: string } => {
    try {
      return { value: read() };
    } catch (error) {
      return { error: `${(error as Error).name}: ${(error as Error).message}` };
    }
  };
  fc.assert(
    fc.property(call, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.integer({ min: -8, max: 8 }), ({ command, args }, edits, shift) => {
      const area = new ByteArea(new SharedArrayBuffer(1 << 14));
      const end = encodeInto([command, args], area, 0);
      for (const [at, byte] of edits) area.bytes[at % Math.max(1, end)] = byte;
      const claimed = Math.max(0, end + shift);
      t.deepEqual(outcome(() => decodeCall(area, claimed)), outcome(() => decode(area, 0, claimed)));
    }),
    { numRuns: 3000 },
  );
});

test('call envelope: a request too large for its area, or holding a hole, is left to the general writer', (t) => {
  t.is(encodeCallInto('add', [1, 2], new ByteArea(new SharedArrayBuffer(64))), -1, 'an area smaller than the worst case');
  // eslint-disable-next-line no-sparse-arrays
  t.is(encodeCallInto('add', [1, , 3], new ByteArea(new SharedArrayBuffer(1 << 14))), -1);
  t.is(encodeCallInto('add', Array.from({ length: 9 }, () => 1), new ByteArea(new SharedArrayBuffer(1 << 14))), -1, 'more args than the envelope writes');
});
