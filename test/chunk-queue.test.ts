/**
 * The stream readers' byte queue (src/transports/chunk-queue.ts), on its own: whatever
 * the sizes the bytes arrive in and are taken in, the bytes come out as they went in;
 * and a frame dripped one byte at a time costs about a byte a byte, and linear work.
 */
import test from 'ava';
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ChunkQueue } from '../src/transports/chunk-queue.ts';

test('bytes come out in order and unchanged, for any cut of chunks and takes', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 9000 }), { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 20000 }), { maxLength: 40 }), (pushes, takes) => {
      const queue = new ChunkQueue();
      const sent: number[] = [];
      let next = 0;
      const received: number[] = [];
      let takeAt = 0;
      for (const size of pushes) {
        const chunk = Buffer.alloc(size);
        for (let i = 0; i < size; i++) chunk[i] = (next + i) & 0xff;
        next += size;
        for (const byte of chunk) sent.push(byte);
        queue.push(chunk);
        const want = takes[takeAt % Math.max(takes.length, 1)] ?? 0;
        if (want <= queue.length) {
          takeAt++;
          for (const byte of queue.take(want)) received.push(byte);
        }
      }
      for (const byte of queue.take(queue.length)) received.push(byte);
      return queue.length === 0 && received.length === sent.length && received.every((byte, i) => byte === sent[i]);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

/** Heap and array-buffer bytes alive after a full collection. */
function retained(): number {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

test('a frame dripped one byte per chunk costs about a byte a byte while it is incomplete, and comes out whole', (t) => {
  const queue = new ChunkQueue();
  const bytes = 200_000;
  const before = retained();
  for (let i = 0; i < bytes; i++) queue.push(Buffer.from([i & 0xff]));
  const grown = retained() - before;
  // A Buffer kept per byte was ~114 bytes each here (~23 MB); gathered in tail buffers, ~1.6.
  t.true(queue.length === bytes && grown < 16 * bytes, `grew ${grown} bytes for ${bytes} bytes queued`);
  const frame = queue.take(bytes);
  t.is(frame.length, bytes);
  t.true(frame.every((byte, i) => byte === (i & 0xff)));
  t.is(queue.length, 0);
});

test('chunks taken one by one from a long queue come out in order across the compactions of its moving start', (t) => {
  const queue = new ChunkQueue();
  const n = 100_000;
  // Chunks at the small-chunk limit and above are queued as they are, one entry each.
  for (let i = 0; i < n; i++) queue.push(Buffer.alloc(4096, i & 0xff));
  for (let i = 0; i < n; i++) {
    const chunk = queue.take(4096);
    if (chunk[0] !== (i & 0xff) || chunk[4095] !== (i & 0xff)) return t.fail(`chunk ${i} came out wrong`);
  }
  t.is(queue.length, 0);
});
