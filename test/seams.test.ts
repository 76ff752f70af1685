/**
 * One seam per concern, held to it: every isolation serves an agent's blocking calls the
 * same way (the same stats, the same DeadlockError), and the line server starts its
 * agents with every agent option `spawnAgent` takes. A launcher that grows its own path
 * again, or an option the line server drops, fails here.
 */
import test from 'ava';
import { pino } from 'pino';
import { DeadlockError, MessageTooLargeError, TimeoutError, TooManyCallsError, spawnAgent, type Agent, type Isolation } from '../src/index.ts';
import { createLineServer } from '../src/lines/index.ts';
import { IpcConnection } from '../src/connection-layer.ts';
import { AGENT_OPTIONS } from '../src/spawn-options.ts';
import { StreamFrameWriter } from '../src/transports/stream-frame-writer.ts';
import { StreamChannel } from '../src/transports/stream-frames.ts';
import { StreamLink, StreamTransport } from '../src/transports/stream-transport.ts';
import { FrameKind, type Batch } from '../src/wire.ts';
import { spawnForTest } from './helpers/agents.ts';
import { table } from './helpers/connection-pair.ts';
import { streamPair } from './helpers/stream-pair.ts';
import { LineClient } from './fixtures/lines/line-client.ts';
import type { OptionsNodeApi, OptionsProbe } from './fixtures/lines/options-protocol.ts';
import type SeamsAgent from './fixtures/seams-agent.ts';
import type { Outcome, SeamsNodeApi } from './fixtures/seams-agent.ts';

const entry = new URL('./fixtures/seams-agent.ts', import.meta.url);
const optionsProtocol = new URL('./fixtures/lines/options-protocol.ts', import.meta.url);
const isolations: Isolation[] = ['inline', 'thread', 'process'];

/** What one isolation did with the fixed sequence of blocking calls. */
interface Observed {
  outcomes: Outcome[];
  /** How the node's calls back into the agent, made while serving its blocking call, ended. */
  callBacks: { remote: string; blocking: string };
  stats: { blockingCalls: number; errors: number; callsIn: number };
  blockingMetrics: { calls: number; ok: number; errors: number };
}

async function runSequence(isolation: Isolation): Promise<Observed> {
  // Set once spawned: the handlers call back into it.
  const spawned: { agent?: Agent<typeof SeamsAgent> } = {};
  let remoteAttempt: Promise<unknown> | undefined;
  let blocking = 'answered';
  const expose: SeamsNodeApi = {
    add: (a, b) => a + b,
    fail(message): never {
      throw new RangeError(message);
    },
    callBack() {
      // The agent is waiting on this very call: calling into it cannot be answered.
      remoteAttempt = spawned.agent!.remote.ping();
      remoteAttempt.catch(() => undefined);
      try {
        spawned.agent!.blocking.ping();
      } catch (error) {
        blocking = (error as Error).name;
      }
      return 'served';
    },
    later: () => Promise.resolve(1),
  };
  const agent = (spawned.agent = await spawnAgent<typeof SeamsAgent>(entry, { isolation, expose, name: `seams-${isolation}` }));
  try {
    const outcomes = await agent.remote.sequence();
    const remote = await remoteAttempt!.then(
      () => 'answered',
      (error: unknown) => (error as Error).name,
    );
    const stats = agent.stats;
    const metrics = await agent.metrics({ timeoutMs: 100 });
    const blockingRow = metrics.calls.find((row) => row.direction === 'agent-to-node' && row.kind === 'blocking');
    return {
      outcomes,
      callBacks: { remote, blocking },
      // callsOut is left out: the node's own calls differ (agent.blocking refuses at the call site).
      stats: { blockingCalls: stats.blockingCalls, errors: stats.errors, callsIn: stats.callsIn },
      blockingMetrics: { calls: blockingRow?.calls ?? -1, ok: blockingRow?.ok ?? -1, errors: blockingRow?.errors ?? -1 },
    };
  } finally {
    await agent.close();
  }
}

test('the same blocking calls give the same stats, metrics and DeadlockError under every isolation', async (t) => {
  const seen = new Map<Isolation, Observed>();
  for (const isolation of isolations) seen.set(isolation, await runSequence(isolation));
  const thread = seen.get('thread')!;
  // The thread agent's behaviour is the reference; it is checked on its own first.
  t.deepEqual(thread.outcomes, [{ value: 3 }, { error: 'RangeError' }, { error: 'UnknownMethodError' }, { value: 'served' }]);
  t.deepEqual(thread.callBacks, { remote: DeadlockError.name, blocking: DeadlockError.name });
  t.deepEqual(thread.stats, { blockingCalls: 4, errors: 2, callsIn: 0 });
  t.deepEqual(thread.blockingMetrics, { calls: 4, ok: 2, errors: 2 });
  for (const isolation of isolations) t.deepEqual(seen.get(isolation), thread, `isolation '${isolation}' diverges from 'thread'`);
});

for (const isolation of ['inline', 'thread'] as const) {
  test(`${isolation}: while the node's thread is parked in agent.blocking, a call-back whose handler returns a promise is DeadlockError`, async (t) => {
    const agent = await spawnForTest<typeof SeamsAgent>(t, entry, {
      isolation,
      expose: { add: (a: number, b: number) => a + b, fail: () => undefined, callBack: () => '', later: () => Promise.resolve(1) },
    });
    t.deepEqual(agent.blocking.callLater(), { error: DeadlockError.name });
    t.is(agent.stats.blockingCalls, 1);
    t.is(agent.stats.errors, 1);
  });
}

/**
 * The agent options `spawnAgent` takes and the line server must pass through, with values
 * a test can see from inside. Not `priority`: agents lowered even one step missed this
 * test's timeouts under CI's load; the line server passing it on is checked in
 * test/agent-priority.test.ts. `timeoutMs` applies to every call of the connection, its
 * start included: 300 ms closed connections before their first line under a load average
 * of 20–40 (bench/soak/suite-loop.sh), so it is 3 s, and the node's `slow` answers a
 * second after that (the agent's report waits for the slots its timed-out calls hold).
 */
const lineAgentOptions = {
  data: { bigBytes: 8192, calls: 3 } satisfies OptionsProbe,
  maxMessageBytes: 4096,
  maxInFlight: 2,
  timeoutMs: 3_000,
  startupTimeoutMs: 20_000,
  resourceLimits: { maxOldGenerationSizeMb: 96 },
};

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: the line server starts its agents with every agent option`, async (t) => {
    const records: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
    const expose: OptionsNodeApi = { size: (text) => text.length, slow: () => new Promise<void>((resolve) => setTimeout(resolve, lineAgentOptions.timeoutMs + 1_000).unref()) };
    const server = createLineServer({ agent: optionsProtocol, expose, isolation, logger, name: 'opts', ...lineAgentOptions });
    t.teardown(() => server.close());
    const { port } = await server.listen(0, '127.0.0.1');
    const client = await LineClient.connect(port);
    t.teardown(() => client.destroy());
    const seen = JSON.parse((await client.next()) ?? 'null') as Record<string, unknown>;
    t.deepEqual(seen.data, lineAgentOptions.data);
    t.is(seen.isolation, isolation);
    // maxMessageBytes: the agent's own connection refuses the 8 KiB call.
    t.is(seen.big, MessageTooLargeError.name);
    // maxInFlight 2: the third call is refused at once; timeoutMs: the other two time out.
    t.deepEqual(seen.calls, [TimeoutError.name, TimeoutError.name, TooManyCallsError.name]);
    // resourceLimits: a 96 MiB old generation (plus the young one), not Node's default of gigabytes.
    t.true((seen.heapLimitMb as number) < 512, `heap limit ${String(seen.heapLimitMb)} MiB`);
    // logger: the agent's record came through the server's logger.
    t.truthy(records.find((record) => record.agentSaw === 'opts-1' && record.msg === 'options probe'));
  });
}

test('the line server refuses a bad agent option with the TypeError spawnAgent gives', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['isolation', 'fiber'],
    ['data', () => 1],
    ['logger', {}],
    ['timeoutMs', -1],
    ['startupTimeoutMs', 'soon'],
    ['maxMessageBytes', 10],
    ['maxInFlight', 0],
    ['resourceLimits', { maxOldGenerationSizeMb: -5 }],
    ['sandbox', 'yes'],
    ['priority', 25],
  ];
  // Every agent option is in the list: one added later must be added here too.
  t.deepEqual(bad.map(([option]) => option).sort(), [...AGENT_OPTIONS].sort());
  for (const [option, value] of bad) {
    const fromSpawn = await spawnAgent(entry, { [option]: value }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    t.true(fromSpawn instanceof TypeError, `spawnAgent ${option}`);
    const fromServer = t.throws(() => createLineServer({ agent: optionsProtocol, [option]: value }), { instanceOf: TypeError }, `line server ${option}`);
    t.is(fromServer?.message ?? 'no error from the line server', fromSpawn?.message ?? 'no error from spawnAgent');
    t.true(fromServer?.message.includes(`'${option}`) === true, `message names '${option}'`);
  }
});

test('a stream transport reports a batch it cannot send and writes nothing; the connection fails only the frames that do not go', async (t) => {
  // The writer alone: too large is reported, not turned into frames of its own.
  const written: Batch[] = [];
  const writer = new StreamFrameWriter(1024, { write: (_frame, batch) => written.push(batch) });
  const error = t.throws(() => writer.send(StreamChannel.AGENT, [FrameKind.NOTIFY, 'x', [new Uint8Array(4096)]]), { instanceOf: MessageTooLargeError });
  t.true((error?.size ?? 0) > 4096);
  t.is(error?.limit, 1024);
  t.deepEqual(written, []);

  // Through a connection: a batch of a too-large request, a fine one and a too-large
  // answer; each fails (or not) where it belongs, and the other side is not left waiting.
  const { a, b } = streamPair();
  const connA = new IpcConnection(new StreamTransport(new StreamLink(a, { maxMessageBytes: 16 * 1024 }), StreamChannel.AGENT), { peerName: 'b' });
  const connB = new IpcConnection(new StreamTransport(new StreamLink(b, { maxMessageBytes: 16 * 1024 }), StreamChannel.AGENT), {
    peerName: 'a',
    handlers: table({ add: (x: number, y: number) => x + y, big: (n: number) => new Uint8Array(n) }),
  });
  t.teardown(() => (connA.close(), connB.close()));
  const tooLarge = connA.request('add', [new Uint8Array(64 * 1024), 1]);
  const fine = connA.request('add', [1, 2]);
  const bigAnswer = connA.request('big', [64 * 1024]);
  await t.throwsAsync(tooLarge, { instanceOf: MessageTooLargeError, message: /request 'add'/ });
  t.is(await fine, 3);
  await t.throwsAsync(bigAnswer, { instanceOf: MessageTooLargeError, message: /the answer to request #/ });
  t.false(connA.closed);
  t.false(connB.closed);
});
