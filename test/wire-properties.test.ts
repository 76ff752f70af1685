/**
 * Property-based tests of what decodes untrusted input: the connection's frame decoder
 * and the blocking codec. Whatever arrives, the result is a typed error and a closed
 * connection (or a clean value) — never an exception escaping, never a hang.
 */
import test from 'ava';
import fc from 'fast-check';
import { ByteArea, decode, encodeToNewBuffer } from '../src/blocking/value-codec.ts';
import { FrameKind } from '../src/wire.ts';
import { IpcConnection, type Transport, type TransportSink } from '../src/connection-layer.ts';
import { ProtocolError } from '../src/index.ts';
import type { Batch } from '../src/wire.ts';

/** A transport the test drives by hand: it delivers whatever the test injects. */
function handTransport(): { transport: Transport; inject(batch: unknown): void; sent: Batch[] } {
  let sink: TransportSink | undefined;
  const sent: Batch[] = [];
  return {
    transport: {
      attach: (s) => (sink = s),
      send: (batch) => void sent.push(batch),
      close: () => undefined,
    },
    inject: (batch) => sink!.onBatch(batch as Batch),
    sent,
  };
}

const anyValue = fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true });
const kind = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5), fc.integer(), anyValue);
const id = fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer(), anyValue);
const command = fc.oneof(fc.constantFrom('echo', 'constructor', '__proto__', 'toString', ''), fc.string(), anyValue);
const count = fc.oneof(fc.integer({ min: -2, max: 4 }), fc.integer(), anyValue);
/** Frames shaped like the real ones (see src/wire.ts), with hostile slots, and shapeless ones. */
const frame = fc.oneof(
  fc.tuple(fc.constant(1), id, command, count, fc.array(anyValue, { maxLength: 4 })).map(([k, i, c, n, args]) => [k, i, c, n, ...args]),
  fc.tuple(fc.constantFrom(2, 3), id, anyValue),
  fc.tuple(fc.constant(4), id),
  fc.tuple(fc.constant(5), command, anyValue),
  fc.tuple(kind, id, command, anyValue),
);
const batch = fc.oneof(
  fc.array(frame, { maxLength: 8 }).map((frames) => frames.flat()),
  fc.array(anyValue, { maxLength: 12 }),
  anyValue,
);

test('arbitrary batches: never a throw out of the decoder; bad ones close with ProtocolError; calls settle', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(batch, { minLength: 1, maxLength: 5 }), async (batches) => {
      const hand = handTransport();
      const served: unknown[] = [];
      const connection = new IpcConnection(hand.transport, {
        handlers: new Map([['echo', (payload: unknown) => (served.push(payload), payload)]]),
      });
      let closedWith: Error | undefined;
      connection.onClose((error) => (closedWith = error));
      const pending = connection.request('remote', [1]).then(
        () => 'resolved',
        (error: Error) => error,
      );
      for (const b of batches) hand.inject(b); // must not throw
      if (!connection.closed) connection.close();
      const outcome = await pending; // must settle
      if (closedWith && !(closedWith instanceof ProtocolError)) {
        // Closed by our own close() above: the default reason.
        return closedWith.name === 'ConnectionClosedError';
      }
      return outcome === 'resolved' || outcome instanceof Error;
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test('duplicate and unknown answer ids close the connection with ProtocolError', (t) => {
  for (const answer of [
    [FrameKind.RESPONSE, 1, 'x', FrameKind.RESPONSE, 1, 'again'],
    [FrameKind.ERROR, 42, { name: 'Error', message: 'never asked' }],
    [FrameKind.RESPONSE, -1, null],
  ]) {
    const hand = handTransport();
    const connection = new IpcConnection(hand.transport);
    void connection.request('x', []).catch(() => undefined);
    let reason: Error | undefined;
    connection.onClose((error) => (reason = error));
    t.notThrows(() => hand.inject(answer));
    t.true(reason instanceof ProtocolError, JSON.stringify(answer));
  }
});

test('requests with hostile command names are refused, and handlers only ever get data', async (t) => {
  await fc.assert(
    fc.asyncProperty(command, anyValue, async (name, payload) => {
      const hand = handTransport();
      const calls: unknown[] = [];
      const connection = new IpcConnection(hand.transport, { handlers: new Map([['echo', (p: unknown) => void calls.push(p)]]) });
      hand.inject([FrameKind.REQUEST, 1, name, 1, payload]);
      connection.flush();
      connection.close();
      if (name !== 'echo') return calls.length === 0;
      return calls.length === 1;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('codec: arbitrary bytes decode to a value or throw an Error — never crash or hang', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      const area = new ByteArea(new SharedArrayBuffer(Math.max(1, bytes.length)));
      area.bytes.set(bytes);
      try {
        decode(area, 0, bytes.length);
      } catch (error) {
        return error instanceof Error;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('codec: every cloneable value round-trips', (t) => {
  const cloneable = fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: false, withNullPrototype: false });
  fc.assert(
    fc.property(cloneable, (value) => {
      const bytes = encodeToNewBuffer(value);
      const back = decode(new ByteArea(bytes.buffer), bytes.byteOffset, bytes.byteOffset + bytes.length);
      t.deepEqual(back, structuredClone(value));
      return true;
    }),
    { numRuns: 500 },
  );
});
