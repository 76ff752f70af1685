/**
 * The order and count of a connection's events: `connect` (its `connectionMade` ran),
 * then at most one `error`, then `disconnect` — also when the failure is seen while the
 * connection is still being opened — and exactly one `error` for every failure, also
 * when the agent's report of a handed-off socket's close overtakes its answer to OPEN.
 *
 * Such races are made certain, not waited for: a hook holds the agent's answer to OPEN
 * back (in the node) until what the test races it against has happened — the node read a
 * line that broke framing, or the agent's report of a failure (FAILED) or of the close
 * (CLOSED) of that connection arrived. Every wait is bounded; no assertion on timing.
 */
import test from 'ava';
import * as net from 'node:net';
import { createLineServer, type LineServerOptions } from '../src/lines/index.ts';
import { LineAgent } from '../src/lines/line-agent.ts';
import { LineMethod, type OpenRequest } from '../src/lines/shared/line-methods.ts';
import { LineReceiver } from '../src/lines/shared/line-receiver.ts';
import type { WireError } from '../src/error-codec.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { TestNode, testProtocol } from './fixtures/lines/line-client.ts';

// --- hooks (ava runs each file in a process of its own; the tests here are serial) -------

/** What the agent's answer to OPEN can be held back for (`data.holdOpenUntil`). */
type Hold = 'framing' | 'failed' | 'closed';

/** Things that happened, by key (`framing`, `failed:<id>`, `closed:<id>`), and who waits for them. */
const happened = new Set<string>();
const waiters = new Map<string, Array<() => void>>();
function happen(key: string): void {
  happened.add(key);
  for (const wake of waiters.get(key)?.splice(0) ?? []) wake();
}
function when(key: string): Promise<void> {
  if (happened.has(key)) return Promise.resolve();
  return new Promise((resolve) => {
    const list = waiters.get(key) ?? [];
    list.push(resolve);
    waiters.set(key, list);
  });
}

// The node's framing found a line it refuses.
const push = Object.getOwnPropertyDescriptor(LineReceiver.prototype, 'push')!.value as LineReceiver['push'];
LineReceiver.prototype.push = function (this: LineReceiver, chunk) {
  const received = push.call(this, chunk);
  if (received.error) happen('framing');
  return received;
};

// The agent's reports of a handed-off connection's failure and close, as the node gets them.
const failed = Object.getOwnPropertyDescriptor(LineAgent.prototype, 'failed')!.value as LineAgent['failed'];
LineAgent.prototype.failed = function (this: LineAgent, id: number, error: WireError) {
  failed.call(this, id, error);
  happen(`failed:${id}`);
};
const closed = Object.getOwnPropertyDescriptor(LineAgent.prototype, 'closed')!.value as LineAgent['closed'];
LineAgent.prototype.closed = function (this: LineAgent, id: number, reason: WireError | null) {
  closed.call(this, id, reason);
  happen(`closed:${id}`);
};

// Agents of a server whose data says so answer OPEN only once that happened (or a minute passed).
const start = LineAgent.start.bind(LineAgent);
LineAgent.start = async (...args: Parameters<typeof LineAgent.start>): Promise<LineAgent> => {
  const agent = await start(...args);
  const hold = (args[0].data as { holdOpenUntil?: Hold } | undefined)?.holdOpenUntil;
  if (hold === undefined) return agent;
  const remote = agent.remote;
  const held = (request: OpenRequest): Promise<void> => {
    const after = (): Promise<unknown> => bounded(when(hold === 'framing' ? hold : `${hold}:${request.id}`));
    return remote[LineMethod.OPEN](request).then(
      async () => void (await after()),
      async (error: unknown) => {
        await after();
        throw error;
      },
    );
  };
  const wrapped = new Proxy(remote, { get: (target, key, receiver) => (key === LineMethod.OPEN ? held : Reflect.get(target, key, receiver)) });
  (agent as unknown as { remote_: typeof remote }).remote_ = wrapped;
  return agent;
};

test.beforeEach(() => {
  happened.clear();
  waiters.clear();
});

// --- helpers --------------------------------------------------------------------------

interface Recorded {
  /** `connect#1`, `error#1(Name)`, `disconnect#1`, in the order emitted. */
  events: string[];
  /** Resolves once `n` disconnect events were seen (or a minute passed). */
  disconnects(n: number): Promise<unknown>;
  /** Resolves once `n` error events were seen (or a minute passed). */
  errors(n: number): Promise<unknown>;
  port: number;
}

async function withServer(options: Partial<LineServerOptions<TestNodeApi>>, body: (recorded: Recorded) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer<TestNodeApi>({ agent: testProtocol, expose: node.api, ...options });
  const events: string[] = [];
  const count = (kind: string): number => events.filter((event) => event.startsWith(kind)).length;
  const until = async (kind: string, n: number): Promise<unknown> => {
    const end = Date.now() + 60_000;
    while (count(kind) < n && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
    return undefined;
  };
  server.on('connect', (info) => events.push(`connect#${info.id}`));
  server.on('error', (error, info) => events.push(`error#${info?.id}(${error.name})`));
  server.on('disconnect', (info) => events.push(`disconnect#${info.id}`));
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    await body({ events, port, disconnects: (n) => until('disconnect', n), errors: (n) => until('error', n) });
  } finally {
    await server.close();
  }
}

/** A peer that sends `text` at once and waits for the server to close its socket. */
async function peer(port: number, text: string): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  socket.write(text);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  if ((await bounded(closed)) === TIMED_OUT) socket.destroy();
}

// --- connect, then error, then disconnect ---------------------------------------------

test.serial('relayed: a line that breaks framing, read while the connection is being opened, is its error event after its connect event', async (t) => {
  t.timeout(120_000);
  await withServer({ isolation: 'thread', maxLineLength: 16, data: { holdOpenUntil: 'framing' } }, async ({ events, port, disconnects }) => {
    await peer(port, `ECHO ok\r\n${'x'.repeat(40)}\r\n`);
    await disconnects(1);
    t.deepEqual(events, ['connect#1', 'error#1(MessageTooLargeError)', 'disconnect#1']);
  });
});

for (const agents of ['per-connection', { pool: 1 }] as const) {
  test.serial(`handOffSockets (${typeof agents === 'string' ? agents : 'pool'}): a first line that throws, reported before the agent answered OPEN, is the error event after the connect event`, async (t) => {
    t.timeout(120_000);
    await withServer({ isolation: 'process', handOffSockets: true, agents, data: { holdOpenUntil: 'failed' } }, async ({ events, port, disconnects }) => {
      await peer(port, 'THROW first\r\n');
      await disconnects(1);
      t.deepEqual(events, ['connect#1', 'error#1(RangeError)', 'disconnect#1']);
    });
  });
}

// --- one error event for every failure ------------------------------------------------

test.serial('handOffSockets: a connectionMade that throws is one error event even when the agent reports the close before it answers OPEN', async (t) => {
  t.timeout(120_000);
  let seen: string[] = [];
  await withServer({ isolation: 'process', handOffSockets: true, data: { failMade: true, holdOpenUntil: 'closed' } }, async ({ events, port, errors }) => {
    seen = events;
    await Promise.all([peer(port, ''), peer(port, '')]);
    await errors(2);
  });
  // Read once the server closed: nothing of these connections can come later.
  t.deepEqual([...seen].sort(), ['error#1(RangeError)', 'error#2(RangeError)'], 'never live: no connect or disconnect, one error each');
});
