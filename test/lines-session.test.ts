/**
 * The agent side of a line connection without sockets or agents: ProtocolSession and
 * NodeLink against a fake node. Flow control (`writable`, `whenWritable`, `onDrain`),
 * the coalescing and ordering of outgoing lines, and the sequencing of protocol events.
 */
import test from 'ava';
import { ConnectionClosedError, MessageTooLargeError } from '../src/index.ts';
import type { MainHandle } from '../src/agent.ts';
import { LineMethod } from '../src/lines/shared/line-methods.ts';
import { NodeLink } from '../src/lines/agent/node-link.ts';
import { MAX_UNACKNOWLEDGED, ProtocolSession } from '../src/lines/agent/protocol-session.ts';
import type { LineConnection, LineProtocol } from '../src/lines/agent/protocol-types.ts';
import type { AgentContext } from '../src/types.ts';

interface FakeNode {
  main: MainHandle<{ ping(): string }>;
  /** Every call the agent made, in order: [method, ...args]. */
  calls: unknown[][];
  /** Answers of `send` calls wait until this is called (one per pending call). */
  acknowledgeAll(): void;
}

function fakeNode(): FakeNode {
  const calls: unknown[][] = [];
  let pending: Array<() => void> = [];
  const asyncApi = new Proxy({} as Record<string, (...args: unknown[]) => Promise<unknown>>, {
    get: (_target, name: string) => (...args: unknown[]) => {
      calls.push([name, ...args]);
      if (name !== LineMethod.SEND) return Promise.resolve('pong');
      return new Promise<void>((resolve) => pending.push(resolve));
    },
  });
  const main = {
    async: asyncApi,
    blocking: new Proxy({}, { get: (_t, name: string) => () => calls.push([`blocking:${name}`]) }),
    call: () => Promise.resolve(new Uint8Array()),
    callBlocking: () => new Uint8Array(),
  } as unknown as MainHandle<{ ping(): string }>;
  return {
    main,
    calls,
    acknowledgeAll() {
      const now = pending;
      pending = [];
      for (const resolve of now) resolve();
    },
  };
}

const ctx = { name: 'test', data: undefined, isolation: 'inline', signal: new AbortController().signal } as unknown as AgentContext;

async function openSession(protocol: (conn: LineConnection, main: MainHandle<{ ping(): string }>) => LineProtocol, maxLineLength = 65_536) {
  const node = fakeNode();
  const link = new NodeLink(node.main as MainHandle<unknown>);
  const session = new ProtocolSession(
    { id: 7, peer: { address: '127.0.0.1', port: 1234, family: 'IPv4' }, direction: 'inbound', delimiter: '\r\n', maxLineLength },
    link,
  );
  await session.open((main, conn) => protocol(conn, main), link.orderedMain(node.main), ctx);
  return { node, session };
}

const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('lines sent in one synchronous stretch leave as one call, after the calls made before them', async (t) => {
  const { node, session } = await openSession((conn, main) => ({
    lineReceived(line) {
      conn.sendLine(`${line}-a`);
      conn.sendLine(`${line}-b`);
      void main.async.ping();
      conn.sendLine(`${line}-c`);
      main.blocking.ping();
      conn.sendLine(`${line}-d`);
    },
  }));
  await session.deliver(['x']);
  await flushed();
  t.deepEqual(node.calls, [
    [LineMethod.SEND, 7, ['x-a', 'x-b']],
    ['ping'],
    [LineMethod.SEND, 7, ['x-c']],
    ['blocking:ping'],
    [LineMethod.SEND, 7, ['x-d']],
  ]);
});

test('writable turns false past the unacknowledged limit, even inside a synchronous loop, and back on acknowledgement', async (t) => {
  let sent = 0;
  let drains = 0;
  const { node, session } = await openSession((conn) => {
    conn.onDrain(() => drains++);
    return {
      lineReceived() {
        // A producer that trusts `writable` must stop.
        while (conn.writable) {
          conn.sendLine('z'.repeat(1000));
          sent++;
        }
      },
    };
  });
  await session.deliver(['go']);
  t.true(sent * 1002 > MAX_UNACKNOWLEDGED && sent * 1002 <= MAX_UNACKNOWLEDGED + 1002);
  t.false(session.writable);
  let resumed = false;
  const waiting = session.whenWritable().then(() => (resumed = true));
  await flushed();
  t.false(resumed);
  node.acknowledgeAll();
  await waiting;
  t.true(session.writable);
  t.is(drains, 1);
});

test("the node's writable(false) pauses the connection until writable(true); waiters and onDrain listeners resume", async (t) => {
  const { session } = await openSession(() => ({ lineReceived() {} }));
  let drains = 0;
  const off = session.onDrain(() => drains++);
  session.setWritable(false);
  t.false(session.writable);
  const order: string[] = [];
  const a = session.whenWritable().then(() => order.push('a'));
  const b = session.whenWritable().then(() => order.push('b'));
  session.setWritable(true);
  await Promise.all([a, b]);
  t.deepEqual(order, ['a', 'b']);
  t.is(drains, 1);
  // Repeated "writable" news is not a new drain.
  session.setWritable(true);
  t.is(drains, 1);
  off();
  session.setWritable(false);
  session.setWritable(true);
  t.is(drains, 1, 'a removed listener is not called');
});

test('a throwing drain listener closes the connection with its error', async (t) => {
  const { node, session } = await openSession((conn) => {
    conn.onDrain(() => {
      throw new RangeError('drain failed');
    });
    return { lineReceived() {} };
  });
  session.setWritable(false);
  session.setWritable(true);
  t.false(session.connected);
  const lose = node.calls.find((call) => call[0] === LineMethod.LOSE)!;
  t.is((lose[2] as { name: string }).name, 'RangeError');
});

test('whenWritable rejects once the connection is gone; lines sent then are dropped', async (t) => {
  const { node, session } = await openSession(() => ({ lineReceived() {} }));
  session.setWritable(false);
  const waiting = session.whenWritable();
  await session.lost(undefined);
  await t.throwsAsync(waiting, { instanceOf: ConnectionClosedError });
  await t.throwsAsync(session.whenWritable(), { instanceOf: ConnectionClosedError });
  t.false(session.writable);
  session.sendLine('late');
  await flushed();
  t.false(node.calls.some((call) => call[0] === LineMethod.SEND));
});

test('sendLine checks its line before anything else', async (t) => {
  const { session } = await openSession(() => ({ lineReceived() {} }), 10);
  t.throws(() => session.sendLine('12345678901'), { instanceOf: MessageTooLargeError });
  t.throws(() => session.sendLine('ééééé é'), { instanceOf: MessageTooLargeError }, '13 bytes in UTF-8');
  t.notThrows(() => session.sendLine('ééééé'));
  t.throws(() => session.sendLine('a\r\nb'), { instanceOf: TypeError });
  t.throws(() => session.sendLine(undefined as unknown as string), { instanceOf: TypeError });
  t.throws(() => session.loseConnection('no' as unknown as Error), { instanceOf: TypeError });
});

test('lines are handled one at a time; connectionLost waits for the line in progress and stops the rest', async (t) => {
  const log: string[] = [];
  let release!: () => void;
  const { session } = await openSession(() => ({
    async lineReceived(line) {
      log.push(`start ${line}`);
      if (line === 'slow') await new Promise<void>((resolve) => (release = resolve));
      log.push(`end ${line}`);
    },
    connectionLost(reason) {
      log.push(`lost ${reason?.message}`);
    },
  }));
  const delivering = session.deliver(['fast', 'slow', 'never']);
  await flushed();
  const losing = session.lost(new Error('bye'));
  await flushed();
  t.deepEqual(log, ['start fast', 'end fast', 'start slow']);
  release();
  await Promise.all([delivering, losing]);
  t.deepEqual(log, ['start fast', 'end fast', 'start slow', 'end slow', 'lost bye']);
});

test('synchronous protocols stay synchronous: a whole batch is handled before deliver returns', async (t) => {
  const seen: string[] = [];
  const { session } = await openSession(() => ({ lineReceived: (line) => void seen.push(line) }));
  t.is(session.deliver(['a', 'b', 'c']), undefined);
  t.deepEqual(seen, ['a', 'b', 'c']);
});

test("a throwing lineReceived stops the batch, rejects it, and is connectionLost's reason", async (t) => {
  const seen: string[] = [];
  let lostWith: Error | undefined;
  const boom = new RangeError('boom');
  const { session } = await openSession(() => ({
    lineReceived(line) {
      seen.push(line);
      if (line === 'bad') throw boom;
    },
    connectionLost(reason) {
      lostWith = reason;
    },
  }));
  t.throws(() => session.deliver(['ok', 'bad', 'after']), { is: boom });
  t.deepEqual(seen, ['ok', 'bad']);
  // The node closes with its copy of the error; the protocol gets its own object back.
  await session.lost(new Error('copy'));
  t.is(lostWith, boom);
});

test('a factory that does not return a protocol is a TypeError', async (t) => {
  const node = fakeNode();
  const link = new NodeLink(node.main as MainHandle<unknown>);
  const session = new ProtocolSession({ id: 1, peer: { address: '', port: 0, family: '' }, direction: 'outbound', delimiter: '\n', maxLineLength: 10 }, link);
  await t.throwsAsync(
    session.open(() => ({}) as LineProtocol, node.main, ctx),
    { instanceOf: TypeError, message: /lineReceived/ },
  );
});

test("sendLine refuses a line whose end and the delimiter appended to it would hold the delimiter earlier (a delimiter that overlaps itself)", async (t) => {
  const node = fakeNode();
  const link = new NodeLink(node.main as MainHandle<unknown>);
  const session = new ProtocolSession({ id: 1, peer: { address: '', port: 0, family: '' }, direction: 'outbound', delimiter: '\n\n', maxLineLength: 100 }, link);
  await session.open(() => ({ lineReceived() {} }), node.main, ctx);
  // 'x\n' + '\n\n' is 'x\n\n\n': a peer framing on '\n\n' reads 'x', then a line starting with '\n'.
  t.throws(() => session.sendLine('x\n'), { instanceOf: TypeError });
  t.throws(() => session.sendLine('a\n\nb'), { instanceOf: TypeError });
  t.notThrows(() => session.sendLine('\nx'));
  t.notThrows(() => session.sendLine('x\ny'));
});
