/**
 * What the node writes for a relayed connection is bounded and checked, whatever its agent
 * does (the agent is untrusted: it may ignore `conn.writable`, or call the reserved send
 * method itself, past `sendLine`'s checks):
 *
 * - a protocol flooding a peer that never reads, with `sendLine` or through the reserved
 *   method, is cut off at the node's limit (`writeBufferLimit`): the connection fails
 *   with `WriteBufferOverflowError` (`error`, `disconnect`, `connectionLost`), and the
 *   node's socket never held more than the limit;
 * - an honest producer, waiting on `conn.whenWritable()`, streams far more than the limit
 *   to a peer that stops reading for a while, and is not cut off;
 * - lines `sendLine` would refuse (the delimiter inside, or straddling the line's end; over
 *   `maxLineLength`; not strings) sent through the reserved method are refused with
 *   `sendLine`'s error, and not a byte reaches the peer.
 *
 * What the node's sockets hold is read by spying on `net.Socket.prototype.write`, never
 * by timing.
 */
import test from 'ava';
import * as net from 'node:net';
import { once } from 'node:events';
import { MessageTooLargeError, WriteBufferOverflowError, type Isolation } from '../src/index.ts';
import type { LineServerOptions } from '../src/lines/index.ts';
import { writeBufferLimit } from '../src/lines/served-connection.ts';
import { INVALID_ARGUMENT } from '../src/invalid-option.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { LineClient } from './fixtures/lines/line-client.ts';
import { until, withServer, type Seen } from './fixtures/lines-edges/watched-server.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';

const boundsProtocol = new URL('./fixtures/lines-relayed-bounds/bounds-protocol.ts', import.meta.url);
const isolations: Isolation[] = ['inline', 'thread', 'process'];

/** Small options keep the limit near its 16 MiB floor: floods and streams stay short. */
const SMALL = { highWaterMark: 1, maxLineLength: 65_536 } as const;
const LIMIT = writeBufferLimit({ ...SMALL, delimiter: '\r\n' });

/** The most each server-side socket held after a write, by its remote port. */
function spyOnWrites(): { most: Map<number | undefined, number>; restore(): void } {
  const most = new Map<number | undefined, number>();
  const proto = net.Socket.prototype;
  const { write } = proto;
  proto.write = function (this: net.Socket, ...args: unknown[]) {
    const ok = (write as (...a: unknown[]) => boolean).apply(this, args);
    most.set(this.remotePort, Math.max(most.get(this.remotePort) ?? 0, this.writableLength));
    return ok;
  } as typeof write;
  return {
    most,
    restore() {
      proto.write = write;
    },
  };
}

/** A server of the bounds protocol (the shared watched line server), listening for the body's duration. */
async function withBoundsServer(options: Omit<Partial<LineServerOptions<TestNodeApi>>, 'agent'>, body: (port: number, seen: Seen) => Promise<void>): Promise<void> {
  await withServer({ agent: boundsProtocol, ...SMALL, ...options }, (seen) => body(seen.port, seen));
}

for (const isolation of isolations) {
  for (const command of ['FLOOD', 'DIRECT-FLOOD'] as const) {
    const how = command === 'FLOOD' ? 'sendLine, ignoring conn.writable' : 'the reserved send method, called directly';
    test.serial(`${isolation}: a protocol flooding a peer that never reads (${how}) is cut off at the node's limit with WriteBufferOverflowError`, async (t) => {
      t.timeout(120_000);
      const spy = spyOnWrites();
      try {
        await withBoundsServer({ isolation }, async (port, seen) => {
          const client = await LineClient.connect(port);
          client.socket.pause();
          // Four times the limit: without one, the node's socket would hold it all.
          client.send(`${command} 60000 ${4 * LIMIT}`);
          t.true(await until(() => seen.disconnects.length === 1), 'the connection ended');
          const [{ error, connection }] = seen.errors;
          t.is(seen.errors.length, 1, 'one error event');
          t.true(error instanceof WriteBufferOverflowError, `error event: ${String(error)}`);
          t.is((error as WriteBufferOverflowError).code, 'ERR_AGENT_IPC_WRITE_BUFFER_OVERFLOW');
          t.is((error as WriteBufferOverflowError).limit, LIMIT);
          t.is((error as WriteBufferOverflowError).connectionId, connection!.id);
          t.is(seen.disconnects[0]!.reason, error, 'disconnect carries the same error');
          const lost = await bounded(seen.node.waitFor('lost'), 30_000);
          t.not(lost, TIMED_OUT, 'connectionLost ran');
          if (lost !== TIMED_OUT) t.like(lost.detail, { name: 'WriteBufferOverflowError', code: 'ERR_AGENT_IPC_WRITE_BUFFER_OVERFLOW' }, 'connectionLost got it');
          if (command === 'DIRECT-FLOOD') {
            const refused = await bounded(seen.node.waitFor('refused'), 30_000);
            t.not(refused, TIMED_OUT);
            if (refused !== TIMED_OUT) t.like(refused.detail, { name: 'WriteBufferOverflowError' }, "the agent's send rejected with it, as its class");
          }
          // The bound itself: the node's socket never held more than the limit.
          const most = spy.most.get(client.socket.localPort) ?? 0;
          t.true(most > 0, 'the socket did fill');
          t.true(most <= LIMIT, `the node's socket held at most the limit: ${most} of ${LIMIT}`);
          // The node's socket is gone: once the peer reads what its kernel holds, it sees the close.
          client.socket.resume();
          t.not(await bounded(client.closed, 30_000), TIMED_OUT, 'the peer saw the close');
        });
      } finally {
        spy.restore();
      }
    });
  }

  test.serial(`${isolation}: an honest producer waiting on whenWritable streams past the limit to a peer that stops reading for a while, and is not cut off`, async (t) => {
    t.timeout(180_000);
    const spy = spyOnWrites();
    try {
      await withBoundsServer({ isolation }, async (port, seen) => {
        const client = await LineClient.connect(port);
        client.socket.pause();
        const size = 60_000;
        const total = 2 * LIMIT;
        client.send(`STREAM ${size} ${total}`);
        // The producer found the way full and waits; the node's socket holds lines the
        // peer has not read (the kernel's buffers are full too).
        t.not(await bounded(seen.node.waitFor('unwritable'), 60_000), TIMED_OUT, 'the producer paused');
        t.true(await until(() => (spy.most.get(client.socket.localPort) ?? 0) > 256 * 1024), 'the node buffers for the peer');
        client.socket.resume();
        let received = 0;
        let end: string | undefined;
        for (let line = await client.next(); line !== undefined; line = await client.next()) {
          if (line.startsWith('END ')) {
            end = line;
            break;
          }
          if (!line.startsWith(`${received} `) || line.length !== String(received).length + 1 + size) t.fail(`line ${received} arrived as ${line.slice(0, 20)}…`);
          received++;
        }
        const [, lines, waits] = /^END (\d+) waits=(\d+)$/.exec(end ?? '') ?? [];
        t.is(Number(lines), received, 'every line arrived, in order');
        t.true(received * size > LIMIT, `it streamed past the limit: ${received * size} characters, limit ${LIMIT}`);
        t.true(Number(waits) >= 1, 'it waited on whenWritable');
        t.deepEqual(seen.errors, [], 'no error');
        t.deepEqual(seen.disconnects, [], 'not cut off');
        // Far below the limit: the socket's high-water mark, the 1 MiB window and a line.
        const most = spy.most.get(client.socket.localPort) ?? 0;
        t.log(`the node's socket held at most ${most} characters (limit ${LIMIT})`);
        t.true(most <= 2 * 1024 * 1024, `an honest producer kept the node's socket under 2 Mi characters: ${most}`);
        await client.close();
      });
    } finally {
      spy.restore();
    }
  });
}

/** Every byte a raw client receives until its socket closes. */
async function receivedUntilClosed(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

const refusals = [
  { kind: 'delimiter', delimiter: '\r\n', expect: { name: 'TypeError', code: INVALID_ARGUMENT, message: /contains the delimiter/ } },
  // `'…\n'` then the delimiter `'\n\n'`: the peer would frame the line's own `'\n'` and the
  // delimiter's first as the delimiter, and take the second as the start of a line.
  { kind: 'straddle', delimiter: '\n\n', expect: { name: 'TypeError', code: INVALID_ARGUMENT, message: /contains the delimiter/ } },
  {
    kind: 'long 200000',
    delimiter: '\r\n',
    maxLineLength: 1000,
    expect: { name: 'MessageTooLargeError', code: 'ERR_AGENT_IPC_TOO_LARGE', message: /line of 200000 bytes exceeds the limit of 1000 bytes/ },
  },
  // Within the limit in UTF-16 units, over it in UTF-8 bytes (é takes 2).
  {
    kind: 'wide 600',
    delimiter: '\r\n',
    maxLineLength: 1000,
    expect: { name: 'MessageTooLargeError', code: 'ERR_AGENT_IPC_TOO_LARGE', message: /line of 1200 bytes exceeds the limit of 1000 bytes/ },
  },
  { kind: 'non-string', delimiter: '\r\n', expect: { name: 'TypeError', code: INVALID_ARGUMENT, message: /not a string/ } },
] as const;

for (const isolation of ['thread', 'process'] as const) {
  for (const { kind, delimiter, expect, ...options } of refusals) {
    test.serial(
      `${isolation}: the reserved send method called directly with a line sendLine would refuse (${kind.split(' ')[0]}) is refused with sendLine's error; nothing reaches the peer`,
      async (t) => {
        t.timeout(60_000);
        await withBoundsServer({ isolation, delimiter, ...options }, async (port, seen) => {
          const socket = net.connect({ port, host: '127.0.0.1' });
          const received = receivedUntilClosed(socket);
          await once(socket, 'connect');
          socket.write(`DIRECT ${kind}${delimiter}`);
          const refused = await bounded(seen.node.waitFor('refused'), 30_000);
          t.not(refused, TIMED_OUT, "the agent's call was refused");
          if (refused !== TIMED_OUT) {
            const detail = refused.detail as { name: string; code: unknown; message: string };
            t.is(detail.name, expect.name);
            t.is(detail.code, expect.code);
            t.regex(detail.message, expect.message);
          }
          t.true(await until(() => seen.disconnects.length === 1), 'the connection ended');
          const [{ error }] = seen.errors;
          t.is(seen.errors.length, 1);
          t.is(error.name, expect.name, `error event: ${String(error)}`);
          t.is((error as { code?: unknown }).code, expect.code);
          if (expect.name === 'MessageTooLargeError') t.true(error instanceof MessageTooLargeError);
          t.is(seen.disconnects[0]!.reason, error);
          // The good line before the bad one is not written either: the batch is refused whole.
          const bytes = await bounded(received, 30_000);
          t.not(bytes, TIMED_OUT, 'the peer saw the close');
          if (bytes !== TIMED_OUT) t.is(bytes.length, 0, `nothing reached the peer: ${JSON.stringify(bytes.toString('utf8').slice(0, 80))}`);
        });
      },
    );
  }
}
