/**
 * The stream transport: length-prefixed batches over a byte stream. Framing survives
 * any chunking, values keep structured-clone fidelity, one batch is one write, and bad
 * input (an oversized length, garbage, an unknown channel) closes the connection with a
 * typed error instead of throwing.
 */
import test from 'ava';
import { IpcConnection } from '../src/connection-layer.ts';
import { MessageTooLargeError, ProtocolError } from '../src/index.ts';
import { FLUSH_FRAMES } from '../src/connection.ts';
import { StreamChannel, StreamFrameReader, decodeStreamBody, encodeStreamFrame } from '../src/transports/stream-frames.ts';
import { StreamLink, StreamTransport } from '../src/transports/stream-transport.ts';
import { FrameKind } from '../src/wire.ts';
import { table } from './helpers/connection-pair.ts';
import { streamPair } from './helpers/stream-pair.ts';

function connectionPair(maxMessageBytes = 1024 * 1024, handlersB = table({})) {
  const { a, b, toB, toA } = streamPair();
  const linkA = new StreamLink(a, { maxMessageBytes });
  const linkB = new StreamLink(b, { maxMessageBytes });
  const connA = new IpcConnection(new StreamTransport(linkA, StreamChannel.AGENT), { peerName: 'b' });
  const connB = new IpcConnection(new StreamTransport(linkB, StreamChannel.AGENT), { peerName: 'a', handlers: handlersB });
  return { connA, connB, linkA, linkB, toB, toA, a, b };
}

test('calls cross a stream with structured-clone fidelity; typed arrays arrive as copies', async (t) => {
  const { connA, connB } = connectionPair(1024 * 1024, table({ echo: (v: unknown) => v, bytes: (p: Uint8Array) => p }));
  const value = { m: new Map([[1, { d: new Date(3) }]]), b: 2n ** 65n, u: new Uint8Array([1, 2, 3]), s: new Set(['x']), n: [1.5, -0, null] };
  t.deepEqual(await connA.request('echo', [value]), value);
  const bytes = (await connA.request('echo', [Buffer.from('hi')])) as Uint8Array;
  t.false(Buffer.isBuffer(bytes), 'a Buffer arrives as a plain Uint8Array, as through a MessagePort');
  t.deepEqual([...bytes], [104, 105]);
  const big = new Uint8Array(200_000).fill(7);
  const echoed = await connA.call('bytes', big);
  t.is(echoed.byteLength, 200_000);
  t.is(echoed.buffer.byteLength, 200_000, 'its own buffer, not a view into the received chunk');
  connA.close();
  connB.close();
});

test('one batch is one write', async (t) => {
  const { connA, connB, a } = connectionPair(1024 * 1024, table({ add: (x: number, y: number) => x + y }));
  let writes = 0;
  const write = a.write.bind(a);
  a.write = ((...args: Parameters<typeof a.write>) => {
    writes++;
    return write(...args);
  }) as typeof a.write;
  // Up to FLUSH_FRAMES calls queued in one turn leave in one write.
  const answers = await Promise.all(Array.from({ length: FLUSH_FRAMES }, (_, i) => connA.request('add', [i, 1])));
  t.deepEqual(answers, Array.from({ length: FLUSH_FRAMES }, (_, i) => i + 1));
  t.is(writes, 1);
  connA.close();
  connB.close();
});

test('the frame reader reassembles frames from any chunking', (t) => {
  const batches = [[FrameKind.NOTIFY, 'a', 1], [FrameKind.NOTIFY, 'b', new Uint8Array(70_000).fill(2)], [FrameKind.NOTIFY, 'c', 'x'.repeat(10)]];
  const bytes = Buffer.concat(batches.map((batch, i) => encodeStreamFrame(i, batch)));
  for (const chunkSize of [1, 3, 5, 6, 4096, bytes.length]) {
    const got: Array<[number, unknown]> = [];
    const reader = new StreamFrameReader(1024 * 1024, (channel, body) => got.push([channel, decodeStreamBody(body)]));
    for (let at = 0; at < bytes.length; at += chunkSize) reader.push(bytes.subarray(at, at + chunkSize));
    t.deepEqual(
      got,
      batches.map((batch, i) => [i, batch]),
      `chunks of ${chunkSize}`,
    );
  }
});

test('a length over maxMessageBytes closes the connection with MessageTooLargeError, never throws', async (t) => {
  const { connA, toA } = connectionPair(4096);
  const pending = connA.request('anything', []);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(1 << 30, 0);
  toA.write(header);
  const error = await t.throwsAsync(pending, { instanceOf: MessageTooLargeError });
  t.regex(error.message, /stream frame of 1073741824 bytes exceeds the limit of 4096 bytes/);
  t.true(connA.closed);
});

test('a body that does not decode, or an unknown or retired channel, closes with ProtocolError', async (t) => {
  const frames = [
    Buffer.from([0, 0, 0, 3, 0, 1, 2, 3]),
    encodeStreamFrame(9, [FrameKind.NOTIFY, 'x', 0]),
    encodeStreamFrame(StreamChannel.RETIRED_BLOCKING, [FrameKind.NOTIFY, 'x', 0]),
  ];
  for (const frame of frames) {
    const { connA, toA } = connectionPair();
    const pending = connA.request('anything', []);
    toA.write(frame);
    await t.throwsAsync(pending, { instanceOf: ProtocolError });
    t.true(connA.closed);
  }
});

test('a request or an answer over maxMessageBytes fails alone; the connection stays up', async (t) => {
  const { connA, connB } = connectionPair(64 * 1024, table({ big: (n: number) => new Uint8Array(n), add: (x: number, y: number) => x + y }));
  await t.throwsAsync(connA.request('add', [new Uint8Array(100_000), 1]), { instanceOf: MessageTooLargeError, message: /request 'add'/ });
  await t.throwsAsync(connA.request('big', [100_000]), { instanceOf: MessageTooLargeError, message: /the answer to request/ });
  // A batch too big only as a whole is sent frame by frame.
  const many = await Promise.all(Array.from({ length: 40 }, () => connA.request('big', [4000])));
  t.is(many.length, 40);
  t.is(await connA.request('add', [1, 2]), 3);
  t.false(connA.closed);
  connA.close();
  connB.close();
});

test('the end of the stream closes the connection; pending calls reject', async (t) => {
  const { connA, connB, toA } = connectionPair(1024 * 1024, table({ never: () => new Promise(() => undefined) }));
  const pending = connA.request('never', []);
  await new Promise((resolve) => setTimeout(resolve, 10));
  toA.end();
  await t.throwsAsync(pending, { message: /closed the connection/ });
  connB.close();
});
