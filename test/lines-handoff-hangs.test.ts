/**
 * `handOffSockets` agents stuck in a synchronous loop. Their connections' lines are no
 * calls of the node's and the agent's own timers stop with its loop, so only the node's
 * periodic liveness probe can notice: the connections then fail with
 * `AgentUnresponsiveError` (one `error` event each, then `disconnect`), the agent is
 * stopped (a pool replaces it) and the peers see their sockets closed (the node kept no
 * copy). Probes run only while an agent holds a connection, and stop at `close()`.
 *
 * Hand-off exists for process agents only (`handOffSockets` is refused otherwise), so
 * there is no thread variant. Every wait is bounded; no assertion on timing.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import test from 'ava';
import { AgentUnresponsiveError, TimeoutError } from '../src/index.ts';
import { AgentHost } from '../src/agent-host.ts';
import { LivenessWatch, MIN_PROBE_INTERVAL_MS, probeIntervalMs } from '../src/lines/liveness-watch.ts';
import { LineClient, TestNode } from './fixtures/lines/line-client.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';
import { until, withServer as withWatchedServer } from './fixtures/lines-edges/watched-server.ts';
import { gone } from './helpers/process-gone.ts';


// --- hooks (ava runs each file in a process of its own) ----------------------------------

/** The reserved method of the liveness probe (`line-agent.ts`). */
const PROBE = 'agent-ipc:lines:probe';
let probes = 0;
const call = Object.getOwnPropertyDescriptor(AgentHost.prototype, 'call')!.value as AgentHost['call'];
AgentHost.prototype.call = function (this: AgentHost, command, payload, options) {
  if (command === PROBE) probes++;
  return call.call(this, command, payload, options);
};

/** Probes a tracing subscriber saw (it must see none). */
let tracedProbes = 0;
tracingChannel<{ method: string }>('agent-ipc:call').subscribe({
  start: (context) => void (context.method === PROBE && tracedProbes++),
  end: () => undefined,
  asyncStart: () => undefined,
  asyncEnd: () => undefined,
  error: () => undefined,
});

/** Every liveness watch the servers of this file made. */
const watches = new Set<LivenessWatch>();
const track = Object.getOwnPropertyDescriptor(LivenessWatch.prototype, 'track')!.value as LivenessWatch['track'];
LivenessWatch.prototype.track = function (this: LivenessWatch, connections: number): void {
  watches.add(this);
  track.call(this, connections);
};

/** The watch's interval timer, if it has one (a private field, read for the unref check). */
function timerOf(watch: LivenessWatch): NodeJS.Timeout | undefined {
  return (watch as unknown as { timer: NodeJS.Timeout | undefined }).timer;
}

/** The failing protocol's server, its sockets handed off to process agents. */
function withServer(options: Parameters<typeof withWatchedServer>[0], body: Parameters<typeof withWatchedServer>[1]): Promise<void> {
  return withWatchedServer({ isolation: 'process', handOffSockets: true, ...options }, body);
}

// --- helpers --------------------------------------------------------------------------




/** Sends HANG on `client` and waits until its protocol is about to loop; the agent's pid. */
async function hang(client: LineClient, node: TestNode): Promise<number | undefined> {
  client.send('HANG');
  const hanging = await bounded(node.waitFor('hanging'));
  return hanging === TIMED_OUT ? undefined : (hanging.detail as number);
}

// --- the probe interval ------------------------------------------------------------------

test('the probe interval is half of timeoutMs, never below the floor', (t) => {
  t.is(probeIntervalMs(30_000), 15_000);
  t.is(probeIntervalMs(1500), 750);
  t.is(probeIntervalMs(1), MIN_PROBE_INTERVAL_MS);
});

test('a watch probes only while connections are held, on an unref\'d timer, and never again once stopped', (t) => {
  const watch = new LivenessWatch(60_000, () => undefined);
  t.false(watch.active, 'nothing held: no timer');
  watch.track(1);
  t.true(watch.active);
  t.false(timerOf(watch)!.hasRef(), 'the timer never keeps the process alive');
  watch.track(2);
  watch.track(0);
  t.false(watch.active, 'the last connection gone: no timer');
  watch.track(1);
  watch.stop();
  t.false(watch.active);
  watch.track(3);
  t.false(watch.active, 'stopped for good');
});

// --- hangs ------------------------------------------------------------------------------

test.serial('per-connection: a protocol stuck in a synchronous loop fails its connection with AgentUnresponsiveError; the agent is stopped and the peer sees the close', async (t) => {
  t.timeout(120_000);
  await withServer({ timeoutMs: 1500 }, async ({ server, port, node, errors, disconnects }) => {
    const client = await LineClient.connect(port);
    client.send('ECHO up');
    t.is(await bounded(client.next()), 'up');
    const pid = await hang(client, node);
    if (pid === undefined) return t.fail('the protocol never got the line');
    // No node call carries the lines and the agent's own timers are stopped by the loop:
    // only the node's periodic probe can notice.
    t.true(await until(() => disconnects.length === 1), 'the connection finished');
    t.true(disconnects[0]!.reason instanceof AgentUnresponsiveError, `disconnect's reason: ${String(disconnects[0]!.reason)}`);
    t.false(disconnects[0]!.listed, 'no longer listed at its disconnect');
    t.is(errors.length, 1, `one error event (got ${errors.map(({ error }) => error.name).join(', ')})`);
    t.true(errors[0]!.error instanceof AgentUnresponsiveError);
    t.regex(errors[0]!.error.message, /^\[agent-ipc\] agent '.+' stopped answering: a periodic liveness probe \(handOffSockets\) got no answer within 1500 ms; it was stopped$/);
    t.is(errors[0]!.connection?.id, disconnects[0]!.info.id);
    t.deepEqual(server.connections, []);
    // The node closed its copy of the descriptor at the hand-over: with the agent gone, the
    // kernel closes the connection.
    t.not(await bounded(client.closed), TIMED_OUT, 'the peer sees its socket closed');
    t.true(await until(() => gone(pid)), 'the stuck agent process was stopped');
  });
});

test.serial('pool: every connection of a hand-off agent stuck in a loop fails once with AgentUnresponsiveError, and the pool replaces the agent', async (t) => {
  t.timeout(120_000);
  // The probe waits timeoutMs: long enough for a connection made right after the hang
  // began to reach the agent (its socket sent, its opening in flight) before it is found.
  await withServer({ agents: { pool: 1 }, timeoutMs: 4000 }, async ({ server, port, node, errors, connects, disconnects, restarts }) => {
    const a = await LineClient.connect(port);
    const b = await LineClient.connect(port);
    b.send('ECHO b');
    t.is(await bounded(b.next()), 'b');
    t.true(await until(() => connects.length === 2));
    const pid = await hang(a, node);
    if (pid === undefined) return t.fail('the protocol never got the line');
    // Handed to the stuck agent, which never takes its socket nor answers its opening.
    const late = await LineClient.connect(port);
    t.true(await until(() => disconnects.length === 2 && restarts.length === 1 && errors.length === 3), 'every connection ended and the agent was replaced');
    for (const { info, reason, listed } of disconnects) {
      t.true(reason instanceof AgentUnresponsiveError, `connection ${info.id}: ${String(reason)}`);
      t.false(listed);
    }
    t.true(restarts[0]!.reason instanceof AgentUnresponsiveError, 'agentRestart says the agent hung');
    t.regex(restarts[0]!.reason.message, /a periodic liveness probe \(handOffSockets\) got no answer within 4000 ms; it was stopped and replaced$/);
    for (const [name, client] of [['a', a], ['b', b], ['the late one', late]] as const) {
      t.not(await bounded(client.closed), TIMED_OUT, `${name}'s peer sees its socket closed`);
    }
    t.true(await until(() => gone(pid)), 'the stuck agent process was stopped');
    const c = await LineClient.connect(port);
    c.send('ECHO after');
    t.is(await bounded(c.next()), 'after', 'the replacement serves');
    await c.close();
    t.true(await until(() => disconnects.length === 3));
    t.is(errors.length, 3, `one error event per connection of the hung agent (got ${errors.map(({ error }) => error.name).join(', ')})`);
    t.is(new Set(errors.map(({ connection }) => connection?.id)).size, 3, 'one per connection');
    const live = new Set(disconnects.slice(0, 2).map(({ info }) => info.id));
    for (const { error, connection } of errors) {
      if (live.has(connection!.id)) t.true(error instanceof AgentUnresponsiveError, `a live connection: ${error.name}`);
      // The late connection's opening is a call of the node's: whichever comes first, its
      // own timeout (TimeoutError, as relayed) or the probe's (AgentUnresponsiveError).
      else t.true(error instanceof AgentUnresponsiveError || error instanceof TimeoutError, `the late connection: ${error.name}`);
    }
    t.is(connects.length, 3, 'the late connection was never live (a, b, then c)');
    t.deepEqual(server.connections, []);
  });
});

// --- when probes run ----------------------------------------------------------------------

test.serial('an agent is probed while it holds a connection, not while idle, and no longer once close() was called', async (t) => {
  t.timeout(120_000);
  watches.clear();
  await withServer({ agents: { pool: 1 }, timeoutMs: 400 }, async ({ server, port, disconnects }) => {
    t.true([...watches].every((watch) => !watch.active), 'no connection yet: nothing scheduled');
    const first = probes;
    const client = await LineClient.connect(port);
    client.send('ECHO up');
    t.is(await bounded(client.next()), 'up');
    t.true(await until(() => probes >= first + 2), 'probed while it holds the connection');
    t.true([...watches].some((watch) => watch.active));
    // The library's own look at the agent: no tracing subscriber sees it (nor does a
    // metric count it: the observer skips it at its start, before either).
    t.is(tracedProbes, 0, 'probes are not traced');
    await client.close();
    t.true(await until(() => disconnects.length === 1));
    t.true([...watches].every((watch) => !watch.active), 'its last connection gone: nothing scheduled');
    const idle = probes;
    // Several intervals: a probe scheduled while idle would have run by now.
    await new Promise((resolve) => setTimeout(resolve, 5 * probeIntervalMs(400)));
    t.is(probes, idle, 'no probe while idle');
    const again = await LineClient.connect(port);
    again.send('ECHO again');
    t.is(await bounded(again.next()), 'again');
    t.true([...watches].some((watch) => watch.active), 'a new connection: probed again');
    const closing = server.close();
    t.true([...watches].every((watch) => !watch.active), 'close() stops the probes at once');
    await closing;
  });
});

test.serial('with timeoutMs 0 a hand-off agent is never probed', async (t) => {
  t.timeout(120_000);
  watches.clear();
  const before = probes;
  await withServer({ agents: { pool: 1 } }, async ({ port }) => {
    const client = await LineClient.connect(port);
    client.send('ECHO up');
    t.is(await bounded(client.next()), 'up');
    await client.close();
  });
  t.is(watches.size, 0, 'no watch');
  t.is(probes, before);
});
