/**
 * Hostile frames and bodies: what a process agent (or the other side of a blocking
 * call) can put in bytes. Decoding must be linear in the bytes, bounded in depth, and
 * allocate at most a documented multiple of the limit; the estimate that enforces
 * this must hold for real V8 heap figures and accept every honest value.
 */
import test from 'ava';
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { ByteArea, decode } from '../src/blocking/value-codec.ts';
import { DECODE_BUDGET_FACTOR, MAX_COST_PER_BYTE, decodedSizeEstimate } from '../src/decoded-size.ts';
import { AgentIpcError, MessageTooLargeError, ProtocolError, spawnAgent } from '../src/index.ts';
import { StreamFrameReader, decodeStreamBody, encodeStreamFrame } from '../src/transports/stream-frames.ts';
import { collector, settledHeap } from './fixtures/hostile/footprint.ts';
import type ValuesAgent from './fixtures/hostile/values-agent.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

function sparse(length: number): unknown[] {
  const list: unknown[] = [];
  list[length - 1] = 1;
  return list;
}

/** Bodies that decode to far more heap than their bytes, by kind. */
const AMPLIFIERS: Record<string, (n: number) => unknown> = {
  emptyObjects: (n) => Array.from({ length: n }, () => ({})),
  emptyMaps: (n) => Array.from({ length: n }, () => new Map()),
  emptySets: (n) => Array.from({ length: n }, () => new Set()),
  emptyArrays: (n) => Array.from({ length: n }, () => []),
  dates: (n) => Array.from({ length: n }, () => new Date(0)),
  shortStrings: (n) => Array.from({ length: n }, (_, i) => `s${i % 10}`),
  regexps: (n) => Array.from({ length: n }, () => /a/g),
  uniqueKeys: (n) => Array.from({ length: n / 10 }, (_, i) => Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`k${k}_${i}`, k]))),
  sparseArray: (n) => sparse(n * 10),
};

/** Feeds one stream frame holding `body` to a reader with `limit` and decodes it, as a stream link does; returns what was thrown, if anything. */
function readBody(body: Uint8Array, limit: number): unknown {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 0);
  let received: Buffer | undefined;
  const reader = new StreamFrameReader(limit, (_channel, frame) => (received = frame));
  try {
    reader.push(Buffer.concat([header, body]));
    if (!received) return new Error('no frame');
    decodeStreamBody(received);
    return undefined;
  } catch (error) {
    return error;
  }
}

test.serial('the decoded-size estimate is at least the heap V8 really allocates', async (t) => {
  const gc = collector();
  if (!gc) return t.pass('no gc available to measure with');
  for (const [kind, make] of Object.entries(AMPLIFIERS)) {
    const body = v8.serialize(make(100_000));
    const estimate = decodedSizeEstimate(body);
    const before = await settledHeap();
    const kept = v8.deserialize(body) as unknown;
    const after = await settledHeap();
    const actual = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
    t.true(estimate >= actual * 0.8, `${kind}: estimate ${estimate} vs ${actual} bytes measured (body ${body.length})`);
    t.true(estimate <= body.length * MAX_COST_PER_BYTE || kind === 'sparseArray', `${kind}: within the per-byte bound`);
    t.truthy(kept);
  }
});

test('a small frame claiming a long sparse array is refused before decoding, without a stall', (t) => {
  // 20 bytes that V8 would turn into a 256 MiB backing store (and ~1 s of work).
  const body = v8.serialize(sparse(2 ** 25 - 10));
  t.true(body.length < 32);
  const started = performance.now();
  const error = readBody(body, 1 * MiB);
  const tookMs = performance.now() - started;
  t.true(error instanceof MessageTooLargeError, String(error));
  t.true(tookMs < 500, `refused in ${tookMs} ms`);
});

test('frames of small objects within the byte limit but over the decode budget are refused', (t) => {
  const limit = 1 * MiB;
  for (const kind of ['emptyObjects', 'emptyMaps', 'emptySets', 'emptyArrays', 'dates', 'uniqueKeys'] as const) {
    let n = 1000;
    let body = v8.serialize(AMPLIFIERS[kind]!(n));
    while (body.length < limit / 2) body = v8.serialize(AMPLIFIERS[kind]!((n *= 2)));
    while (body.length > limit) body = v8.serialize(AMPLIFIERS[kind]!((n = Math.floor(n * 0.8))));
    const estimate = decodedSizeEstimate(body);
    const error = readBody(body, limit);
    if (estimate > DECODE_BUDGET_FACTOR * limit) t.true(error instanceof MessageTooLargeError, `${kind}: refused (${String(error)})`);
    else t.is(error, undefined, `${kind}: within budget, accepted`);
  }
  // At least the worst kinds are over budget at the byte limit.
  t.true(decodedSizeEstimate(v8.serialize(AMPLIFIERS.emptyMaps!(300_000))) > DECODE_BUDGET_FACTOR * limit);
});

test('malformed, truncated and too-deep bodies are protocol errors, found in linear time', (t) => {
  const cases: Array<[string, Uint8Array]> = [
    ['no header', Uint8Array.of(0x41, 0x00)],
    ['dense array longer than the body', Uint8Array.of(0xff, 0x0f, 0x41, 0xff, 0xff, 0xff, 0xff, 0x0f)],
    ['truncated string', Uint8Array.of(0xff, 0x0f, 0x22, 0x7f, 0x61)],
    ['transfer tag', Uint8Array.of(0xff, 0x0f, 0x74, 0x00)],
    ['unknown tag', Uint8Array.of(0xff, 0x0f, 0x01)],
  ];
  // A sparse array claim makes even a tiny body walked; nest 2000 dense arrays inside one.
  const deep = [0xff, 0x0f, 0x61, 0x80, 0x80, 0x10, 0x49, 0x00];
  for (let i = 0; i < 2000; i++) deep.push(0x41, 0x01);
  cases.push(['nested 2000 deep', Uint8Array.from(deep)]);
  for (const [label, body] of cases) {
    const error = readBody(body, 1024);
    t.true(error instanceof ProtocolError || error instanceof MessageTooLargeError, `${label}: ${String(error)}`);
  }
});

test('every honest value passes the decode walk with an estimate, and bodies from honest batches are not refused', (t) => {
  fc.assert(
    fc.property(fc.anything({ withMap: true, withSet: true, withDate: true, withTypedArray: true, withBigInt: true, withSparseArray: true, withNullPrototype: false, withBoxedValues: true, maxDepth: 4 }), (value) => {
      const body = v8.serialize([2, 1, value]);
      const estimate = decodedSizeEstimate(body);
      t.true(estimate >= 0);
      const frame = encodeStreamFrame(0, [2, 1, value]);
      return readBody(frame.subarray(5), 64 * MiB) === undefined;
    }),
    { numRuns: 500, seed: 0x5eed },
  );
  t.pass();
});

test('random bytes never escape the stream decoder as anything but a typed error', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
      const body = Uint8Array.from([0xff, 0x0f, ...tail]);
      const error = readBody(body, 1024);
      return error === undefined || error instanceof ProtocolError || error instanceof MessageTooLargeError;
    }),
    { numRuns: 2000, seed: 0x5eed },
  );
  t.pass();
});

test('the blocking codec refuses counts its bytes cannot back, deep nesting, and sparse v8 bodies', (t) => {
  const area = (bytes: number[]): [ByteArea, number] => [new ByteArea(Uint8Array.from(bytes).buffer), bytes.length];
  const cases: Array<[string, number[]]> = [
    ['array count 2³²-1', [0x07, 0xff, 0xff, 0xff, 0xff]],
    ['object count 2³²-1', [0x08, 0xff, 0xff, 0xff, 0xff]],
    ['object count of 1-byte entries', [0x08, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]],
    ['nested 100 deep', Array.from({ length: 100 }, () => [0x07, 0x01, 0x00, 0x00, 0x00]).flat().concat([0x00])],
  ];
  const sparseBody = [...v8.serialize(sparse(2 ** 25 - 10))];
  cases.push(['v8 sparse array', [0x0a, sparseBody.length, 0, 0, 0, ...sparseBody]]);
  for (const [label, bytes] of cases) {
    const [byteArea, end] = area(bytes);
    const started = performance.now();
    t.throws(() => decode(byteArea, 0, end), { instanceOf: RangeError }, label);
    // Bounded work, not a speed check: the counts claim billions of elements (minutes of work if walked).
    t.true(performance.now() - started < 5000, label);
  }
  // Nesting the encoder writes itself (24 levels) still decodes.
  const [ok, okEnd] = area(Array.from({ length: 24 }, () => [0x07, 0x01, 0x00, 0x00, 0x00]).flat().concat([0x00]));
  t.notThrows(() => decode(ok, 0, okEnd));
});

test.serial('process: an agent that writes a frame of small objects over the decode budget is cut off; the node heap stays bounded', async (t) => {
  // 4 MiB, not less: the bound below is relative to the limit, and the peak of heapUsed
  // also counts garbage not yet collected (one run on Node.js 22 saw 12.7 MiB of it where
  // 0.2–0.5 MiB is usual), which a 1 MiB limit's 10 MiB bound could not absorb.
  const limit = 4 * MiB;
  const agent = await spawnAgent<typeof ValuesAgent>(new URL('./fixtures/hostile/values-agent.ts', import.meta.url), { isolation: 'process', maxMessageBytes: limit, timeoutMs: 20_000 });
  try {
    const before = await settledHeap();
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 1);
    // 1.2 million empty maps: ~3.6 MB of body, ~280 MB of heap if decoded.
    await agent.remote.writeFrame('manyMaps', 1_200_000).catch(() => undefined);
    const after = await agent.remote.ping().then(
      () => undefined,
      (error: unknown) => error,
    );
    clearInterval(sampler);
    t.true(after instanceof AgentIpcError, `the connection was closed with a typed error: ${String(after)}`);
    const growth = Math.max(peak, process.memoryUsage().heapUsed) - before.heapUsed;
    t.log(`node heap grew at most ${(growth / MiB).toFixed(1)} MiB (limit ${limit / MiB} MiB)`);
    t.true(growth < (DECODE_BUDGET_FACTOR + 2) * limit, `heap grew ${(growth / MiB).toFixed(1)} MiB for a ${limit / MiB} MiB limit`);
  } finally {
    await agent.close();
  }
});

test.serial('process: an honest answer over the decode budget fails that call alone', async (t) => {
  const limit = 1 * MiB;
  const agent = await spawnAgent<typeof ValuesAgent>(new URL('./fixtures/hostile/values-agent.ts', import.meta.url), { isolation: 'process', maxMessageBytes: limit, timeoutMs: 20_000 });
  try {
    const error = await t.throwsAsync(agent.remote.manyMaps(300_000));
    t.true(error instanceof MessageTooLargeError, String(error));
    t.is(await agent.remote.ping(), 'pong', 'the agent still serves');
    t.is((await agent.remote.manyMaps(1000)).length, 1000, 'a small answer of the same kind still arrives');
  } finally {
    await agent.close();
  }
});
