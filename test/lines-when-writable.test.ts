/**
 * `conn.whenWritable()` settles whatever ends the connection. A protocol streams to a
 * peer that never reads until it waits in `whenWritable()`; then the peer resets the
 * connection, or the server closes, or the protocol itself closes it from elsewhere. Every
 * waiter rejects with `ConnectionClosedError` (its `cause`: the reason `connectionLost`
 * gets), so the line in progress ends and `connectionLost` runs. (Until 2026-12-08 the
 * waiters were rejected only after that line settled — which was waiting on them: nothing
 * settled, `connectionLost` never ran, and `close()` needed its grace period and a forced
 * close of the agent.) Relayed in each isolation, and handed off.
 *
 * Every wait is bounded; no assertion on timing.
 */
import test, { type ExecutionContext } from 'ava';
import { ConnectionClosedError } from '../src/index.ts';
import type { MainHandle } from '../src/agent.ts';
import { createLineServer, type LineConnectionInfo, type LineServer, type LineServerOptions } from '../src/lines/index.ts';
import { defineLineProtocol, type LineConnection, type LineProtocol } from '../src/lines/agent/index.ts';
import { LineMethod, type LineAgentMethods } from '../src/lines/shared/line-methods.ts';
import type { AgentContext } from '../src/types.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';
import { availableIsolations, LineClient, TestNode, type ProtocolEvent } from './fixtures/lines/line-client.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import type { ErrorInfo, Outcome } from './fixtures/lines-when-writable/waiting-protocol.ts';
import { until } from './fixtures/lines-edges/watched-server.ts';

const waitingProtocol = new URL('./fixtures/lines-when-writable/waiting-protocol.ts', import.meta.url);

/** Bounds each wait: far above what any of them takes, so only a hang reaches it. */
const BOUND_MS = 30_000;

interface Mode {
  title: string;
  options: Partial<LineServerOptions<TestNodeApi>>;
}

const modes: Mode[] = [
  ...(await availableIsolations()).map((isolation) => ({ title: isolation, options: { isolation } })),
  { title: 'process + handOffSockets', options: { isolation: 'process', handOffSockets: true } },
];

interface Running {
  server: LineServer;
  port: number;
  node: TestNode;
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
}

async function start(options: Partial<LineServerOptions<TestNodeApi>>): Promise<Running> {
  const node = new TestNode();
  const server = createLineServer<TestNodeApi>({ agent: waitingProtocol, expose: node.api, ...options });
  const running: Running = { server, port: 0, node, disconnects: [] };
  server.on('disconnect', (info, reason) => running.disconnects.push({ info, reason }));
  server.on('error', () => undefined);
  running.port = (await server.listen(0, '127.0.0.1')).port;
  return running;
}

/** A client that asks for a flood and never reads it, once the protocol waits in `whenWritable`. */
async function floodedClient(t: ExecutionContext, { port, node }: Running, waiters: number, quit = false): Promise<LineClient> {
  const client = await LineClient.connect(port);
  client.socket.pause();
  client.send(`FLOOD ${waiters}${quit ? ' quit' : ''}`);
  const ready = await bounded(node.waitFor('ready'), BOUND_MS);
  t.deepEqual(ready === TIMED_OUT ? ready : ready.detail, { outcome: { status: 'resolved' }, writable: true }, 'while writable, whenWritable resolves at once');
  t.not(await bounded(node.waitFor('waiting'), BOUND_MS), TIMED_OUT, 'the protocol waits in whenWritable');
  return client;
}

/** The event `kind`, or a failed assertion if it never comes. */
async function eventOf(t: ExecutionContext, node: TestNode, kind: string): Promise<ProtocolEvent | undefined> {
  const event = await bounded(node.waitFor(kind), BOUND_MS);
  if (event === TIMED_OUT) {
    t.fail(`no '${kind}' event: the protocol's whenWritable never settled`);
    return undefined;
  }
  return event;
}

interface Settled {
  outcomes: Outcome[];
  after: Outcome;
  connected: boolean;
  writable: boolean;
}

interface Lost {
  reason: ErrorInfo | null;
  after: Outcome;
  connected: boolean;
}

/** Every waiter rejected with ConnectionClosedError whose cause is what connectionLost got; whenWritable then rejects at once. */
function expectSettledAsLost(t: ExecutionContext, settled: Settled, lost: Lost, waiters: number): void {
  t.is(settled.outcomes.length, waiters);
  for (const outcome of settled.outcomes) {
    t.is(outcome.status, 'rejected', 'each waiter rejected');
    t.is(outcome.name, 'ConnectionClosedError');
    t.is(outcome.code, 'ERR_AGENT_IPC_CLOSED');
    t.regex(outcome.message ?? '', /^\[agent-ipc\] /);
    t.deepEqual(outcome.cause, lost.reason, 'its cause is the reason connectionLost got');
  }
  t.like(settled.after, { status: 'rejected', name: 'ConnectionClosedError' }, 'whenWritable once the connection ended rejects at once');
  t.deepEqual(settled.after.cause, lost.reason);
  t.false(settled.connected, 'no longer connected');
  t.false(settled.writable, 'no longer writable');
  t.is(lost.after.status, 'rejected', 'whenWritable after the end rejects at once');
  t.is(lost.after.name, 'ConnectionClosedError');
  t.deepEqual(lost.after.cause, lost.reason);
  t.false(lost.connected);
}

for (const { title, options } of modes) {
  test.serial(`${title}: a peer reset while the protocol waits in whenWritable rejects every waiter; connectionLost runs`, async (t) => {
    t.timeout(120_000);
    const running = await start(options);
    try {
      const client = await floodedClient(t, running, 3);
      client.socket.resetAndDestroy();
      const settled = await eventOf(t, running.node, 'settled');
      const lost = await eventOf(t, running.node, 'lost');
      if (!settled || !lost) return;
      t.is(lost.detail && (lost.detail as Lost).reason?.code, 'ECONNRESET', 'connectionLost gets the reset');
      expectSettledAsLost(t, settled.detail as Settled, lost.detail as Lost, 3);
      t.true(await until(() => running.disconnects.length === 1, BOUND_MS), 'the connection is reported ended');
      t.is((running.disconnects[0]?.reason as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    } finally {
      await running.server.close();
    }
  });

  test.serial(`${title}: server.close() while the protocol waits in whenWritable rejects its waiter; connectionLost runs`, async (t) => {
    t.timeout(120_000);
    const running = await start(options);
    let closed = false;
    try {
      const client = await floodedClient(t, running, 1);
      t.not(await bounded(running.server.close(), BOUND_MS), TIMED_OUT, 'close() settles');
      closed = true;
      // close() waited for connectionLost, which waited for the line: both are in.
      const settled = running.node.of('settled')[0];
      const lost = running.node.of('lost')[0];
      t.truthy(settled, "the protocol's whenWritable settled before close() did");
      t.truthy(lost, 'connectionLost ran before close() settled');
      if (!settled || !lost) return;
      t.is((lost.detail as Lost).reason?.name, 'ConnectionClosedError', 'connectionLost gets ConnectionClosedError');
      expectSettledAsLost(t, settled.detail as Settled, lost.detail as Lost, 1);
      client.socket.destroy();
    } finally {
      if (!closed) await running.server.close();
    }
  });
}

for (const { title, options } of [modes[1]!, modes[modes.length - 1]!]) {
  test.serial(`${title}: loseConnection from another task while the line in progress waits in whenWritable rejects its waiters`, async (t) => {
    t.timeout(120_000);
    const running = await start(options);
    try {
      const client = await floodedClient(t, running, 2, true);
      const settled = await eventOf(t, running.node, 'settled');
      if (!settled) return;
      const { outcomes, after, connected } = settled.detail as Settled;
      t.is(outcomes.length, 2);
      for (const outcome of outcomes) {
        t.is(outcome.status, 'rejected');
        t.is(outcome.name, 'ConnectionClosedError');
        t.is(outcome.cause, null, 'loseConnection() without a reason: no cause, as connectionLost gets none');
      }
      t.like(after, { status: 'rejected', name: 'ConnectionClosedError', cause: null }, 'whenWritable after loseConnection() rejects at once');
      t.false(connected);
      // The peer never reads, so the graceful close would linger: it resets instead.
      client.socket.resetAndDestroy();
      t.truthy(await eventOf(t, running.node, 'lost'), 'connectionLost runs');
    } finally {
      await running.server.close();
    }
  });
}

/**
 * The agent's side alone, against a fake node that never acknowledges a `send` and a
 * context whose signal the test aborts: a line protocol agent as its node drives it.
 */
async function agentWith(protocol: (conn: LineConnection) => LineProtocol): Promise<{ methods: LineAgentMethods; close: AbortController }> {
  const asyncApi = new Proxy({}, { get: () => () => new Promise<never>(() => undefined) });
  const main = { async: asyncApi, blocking: asyncApi, call: asyncApi, callBlocking: asyncApi } as unknown as MainHandle<unknown>;
  const close = new AbortController();
  const ctx = { name: 'unit', data: undefined, isolation: 'inline', signal: close.signal } as unknown as AgentContext;
  const methods = await defineLineProtocol((_main, conn) => protocol(conn)).factory(main, ctx);
  for (const id of [1, 2]) await methods[LineMethod.OPEN]({ id, peer: { address: '127.0.0.1', port: id, family: 'IPv4' }, direction: 'inbound', delimiter: '\r\n', maxLineLength: 1024 });
  return { methods, close };
}

test('LOST while the line in progress waits in whenWritable: the waiter rejects, connectionLost gets the reason even if the line rethrows', async (t) => {
  let waited: unknown;
  let lostWith: unknown = 'not yet';
  const { methods } = await agentWith((conn) => ({
    async lineReceived() {
      try {
        await conn.whenWritable();
      } catch (error) {
        waited = error;
        throw error;
      }
    },
    connectionLost(reason) {
      lostWith = reason;
    },
  }));
  methods[LineMethod.WRITABLE](1, false);
  const delivering = Promise.resolve(methods[LineMethod.DELIVER](1, ['go']));
  const lost = Promise.resolve(methods[LineMethod.LOST](1, { name: 'Error', message: 'reset by peer', code: 'ECONNRESET' }));
  t.not(await bounded(lost, BOUND_MS), TIMED_OUT, 'the session ends');
  t.true(waited instanceof ConnectionClosedError);
  t.is(((waited as Error).cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
  t.is((lostWith as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET', 'not the rejection the line let escape');
  t.is(
    (
      (await bounded(
        delivering.catch((error: unknown) => error),
        BOUND_MS,
      )) as Error | undefined
    )?.name,
    'ConnectionClosedError',
  );
});

test('the agent closing (its signal aborted) ends every wait in whenWritable, of every connection', async (t) => {
  const { methods, close } = await agentWith((conn) => ({
    lineReceived() {
      return Promise.allSettled([conn.whenWritable(), conn.whenWritable()]).then((results) => {
        t.deepEqual(
          results.map((result) => result.status === 'rejected' && result.reason instanceof ConnectionClosedError && result.reason.cause === close.signal.reason),
          [true, true],
        );
      });
    },
  }));
  const delivering = [1, 2].map((id) => {
    methods[LineMethod.WRITABLE](id, false);
    return Promise.resolve(methods[LineMethod.DELIVER](id, ['go']));
  });
  close.abort(new ConnectionClosedError('the node asked the agent to close'));
  t.not(await bounded(Promise.all(delivering), BOUND_MS), TIMED_OUT, 'the lines in progress end');
  t.plan(3);
});
