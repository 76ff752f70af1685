/**
 * The bodies of blocking calls (src/blocking/mailbox-body.ts), the one writer and reader
 * every mailbox uses: in the byte area or on the side port, the size limit in both
 * places, and what a reader does with a missing, stale or malformed side-port body.
 */
import test from 'ava';
import { MessageChannel } from 'node:worker_threads';
import { ByteArea } from '../src/blocking/value-codec.ts';
import { deserializeError, type WireError } from '../src/error-codec.ts';
import { DataCloneError, MessageTooLargeError, ProtocolError } from '../src/errors.ts';
import { Flag } from '../src/blocking/mailbox.ts';
import { FixedArea, MAX_STALE_SIDE_BODIES, readBody, writeAnswer, writeRequest } from '../src/blocking/mailbox-body.ts';

function fixedArea(bytes = 64 * 1024): FixedArea {
  return new FixedArea(new ByteArea(new SharedArrayBuffer(bytes)));
}

function withPorts(run: (ports: MessageChannel) => void): void {
  const ports = new MessageChannel();
  try {
    run(ports);
  } finally {
    ports.port1.close();
    ports.port2.close();
  }
}

test('a request that fits goes in the area; one that does not, on the side port, tagged with its seq', (t) => {
  withPorts(({ port1, port2 }) => {
    const area = fixedArea(1024);
    const small = writeRequest(area, port1, 1, 'get', [1, 'a'], 1 << 20);
    t.is(small.flags, 0);
    t.deepEqual(readBody(area, port2, 1, small.flags, small.end, 'request'), ['get', [1, 'a']]);
    const big = writeRequest(area, port1, 2, 'put', ['x'.repeat(5000)], 1 << 20);
    t.is(big.flags, Flag.VIA_PORT);
    t.is(big.end, 0);
    t.deepEqual(readBody(area, port2, 2, big.flags, big.end, 'request'), ['put', ['x'.repeat(5000)]]);
  });
});

test('a request over the limit is refused before anything is sent, in the area or not', (t) => {
  withPorts(({ port1, port2 }) => {
    const area = fixedArea();
    t.throws(() => writeRequest(area, port1, 1, 'put', ['x'.repeat(2000)], 1000), { instanceOf: MessageTooLargeError });
    t.throws(() => writeRequest(fixedArea(256), port1, 2, 'put', ['x'.repeat(2000)], 1000), { instanceOf: MessageTooLargeError });
    t.throws(() => readBody(area, port2, 2, Flag.VIA_PORT, 0, 'request'), { instanceOf: ProtocolError }, 'nothing was posted');
  });
});

test('an argument that cannot be encoded is a DataCloneError naming the call', (t) => {
  withPorts(({ port1 }) => {
    const error = t.throws(() => writeRequest(fixedArea(), port1, 1, 'put', [() => 1], 1 << 20), { instanceOf: DataCloneError });
    t.regex(error.message, /blocking call 'put'/);
  });
});

test('an answer over the limit becomes a MessageTooLargeError answer, also when the area could hold it', (t) => {
  withPorts(({ port1, port2 }) => {
    const area = fixedArea();
    for (const [seq, value] of [
      [1, 'x'.repeat(5000)],
      [2, 'y'.repeat(100_000)],
    ] as const) {
      const written = writeAnswer(area, port1, seq, value, false, 1000);
      t.is(written.flags, Flag.ERROR, `answer ${seq}`);
      const error = deserializeError(readBody(area, port2, seq, written.flags, written.end, 'answer') as WireError);
      t.true(error instanceof MessageTooLargeError, `answer ${seq}: ${error.name}`);
    }
  });
});

test('an answer that cannot be encoded becomes a DataCloneError answer; an error answer keeps its class', (t) => {
  withPorts(({ port1, port2 }) => {
    const area = fixedArea();
    const bad = writeAnswer(area, port1, 1, { f: () => 1 }, false, 1 << 20);
    t.is(bad.flags, Flag.ERROR);
    t.true(deserializeError(readBody(area, port2, 1, bad.flags, bad.end, 'answer') as WireError) instanceof DataCloneError);
    const thrown = writeAnswer(area, port1, 2, new RangeError('out of range'), true, 1 << 20);
    t.is(thrown.flags, Flag.ERROR);
    const rebuilt = deserializeError(readBody(area, port2, 2, thrown.flags, thrown.end, 'answer') as WireError);
    t.true(rebuilt instanceof RangeError);
    t.is(rebuilt.message, 'out of range');
  });
});

test('a reader skips side-port bodies of calls given up, and refuses a missing or malformed one', (t) => {
  withPorts(({ port1, port2 }) => {
    const area = fixedArea(256);
    writeAnswer(area, port1, 7, 'stale '.repeat(100), false, 1 << 20); // a call that timed out
    const current = writeAnswer(area, port1, 8, 'fresh '.repeat(100), false, 1 << 20);
    t.is(current.flags, Flag.VIA_PORT);
    t.is(readBody(area, port2, 8, current.flags, current.end, 'answer'), 'fresh '.repeat(100));
    t.throws(() => readBody(area, port2, 9, Flag.VIA_PORT, 0, 'answer'), { instanceOf: ProtocolError, message: /answer missing from the side port/ });
    // A hostile peer's message whose body is not a byte array.
    port1.postMessage({ seq: 10, body: { length: 5 } });
    t.throws(() => readBody(area, port2, 10, Flag.VIA_PORT, 0, 'answer'), { instanceOf: ProtocolError, message: /not a byte array/ });
  });
});

test('a reader skips at most MAX_STALE_SIDE_BODIES bodies before its own: a side that floods the port cannot hold the reader in the loop', (t) => {
  withPorts(({ port1, port2 }) => {
    const area = fixedArea(256);
    const body = new Uint8Array(1);
    // As many stale bodies as are skipped: the call's own is still read.
    for (let i = 0; i < MAX_STALE_SIDE_BODIES; i++) port1.postMessage({ seq: 1, body });
    const own = writeAnswer(area, port1, 2, 'own '.repeat(100), false, 1 << 20);
    t.is(readBody(area, port2, 2, own.flags, own.end, 'answer'), 'own '.repeat(100));
    // One more than that, and the call fails with ProtocolError instead of reading on.
    for (let i = 0; i <= MAX_STALE_SIDE_BODIES; i++) port1.postMessage({ seq: 1, body });
    writeAnswer(area, port1, 3, 'late '.repeat(100), false, 1 << 20);
    t.throws(() => readBody(area, port2, 3, Flag.VIA_PORT, 0, 'answer'), { instanceOf: ProtocolError, message: /more than 4096 stale bodies/ });
  });
});
