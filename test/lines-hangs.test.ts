/**
 * Protocols that hang, and what the node's view of their connections says meanwhile: one
 * `error` event per connection, of the class that says what happened (a pool agent found
 * stuck: `AgentUnresponsiveError`), and `connections` and `disconnect` agreeing with each
 * other, also when nothing bounds a handler (`timeoutMs: 0`). Every wait is bounded; no
 * assertion on timing.
 */
import test from 'ava';
import { AgentUnresponsiveError, TimeoutError } from '../src/index.ts';
import type { LineServerOptions } from '../src/lines/index.ts';
import { LineClient, testProtocol } from './fixtures/lines/line-client.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';
import { until, withServer } from './fixtures/lines-edges/watched-server.ts';






test.serial('pool: a connection that arrives while a hung agent is being probed fails once, with AgentUnresponsiveError', async (t) => {
  t.timeout(120_000);
  // The probe takes timeoutMs: long enough for a connection made halfway through it to
  // arrive while it runs, whatever the machine's load.
  await withServer({ isolation: 'thread', agents: { pool: 1 }, timeoutMs: 4000, startupTimeoutMs: 0 }, async ({ port, node, errors, restarts }) => {
    const a = await LineClient.connect(port);
    a.send('ECHO up');
    t.is(await bounded(a.next()), 'up');
    a.send('HANG');
    t.not(await bounded(node.waitFor('hanging')), TIMED_OUT);
    // A's batch times out: the pool probes its agent, which is stuck, for timeoutMs more.
    t.true(await until(() => errors.length === 1));
    t.true(errors[0]!.error instanceof TimeoutError, 'the connection whose call timed out: TimeoutError');
    // Halfway through the probe: b's opening call is in flight when the stuck agent is
    // stopped, well before that call could time out itself.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const b = await LineClient.connect(port);
    t.true(await until(() => errors.length >= 2 && restarts.length >= 1), 'the probe failed and the agent was replaced');
    t.is(restarts[0]!.reason.name, AgentUnresponsiveError.name);
    t.not(await bounded(b.closed), TIMED_OUT, "b's socket is closed");
    // Let any later report come in before counting.
    const c = await LineClient.connect(port);
    c.send('ECHO after');
    t.is(await bounded(c.next()), 'after', 'the replacement serves');
    const aId = errors[0]!.connection?.id;
    t.is(errors.filter(({ connection }) => connection?.id === aId).length, 1, 'one error event for the connection whose call timed out');
    const ofB = errors.filter(({ connection }) => connection?.id !== aId);
    t.is(ofB.length, 1, 'one error event for the connection that arrived during the probe');
    t.true(ofB[0]!.error instanceof AgentUnresponsiveError, `its class says the agent was found hung (got ${ofB[0]!.error.name})`);
    t.is(errors.length, 2);
    await c.close();
  });
});

test.serial('per-connection: a protocol stuck in a loop, with timeoutMs, is one error event for its connection', async (t) => {
  t.timeout(120_000);
  await withServer({ isolation: 'thread', timeoutMs: 1500 }, async ({ port, node, errors, disconnects }) => {
    const a = await LineClient.connect(port);
    a.send('ECHO up');
    t.is(await bounded(a.next()), 'up');
    a.send('HANG');
    t.not(await bounded(node.waitFor('hanging')), TIMED_OUT);
    // The batch times out, then so does connectionLost (its agent is still looping); then
    // the agent is stopped and the connection is finished.
    t.true(await until(() => disconnects.length === 1), 'the connection finished');
    t.true(disconnects[0]!.reason instanceof TimeoutError);
    t.is(errors.length, 1, `one error event (got ${errors.map(({ error }) => error.name).join(', ')})`);
    t.true(errors[0]!.error instanceof TimeoutError);
  });
});

const noTimeoutVariants: Array<{ title: string; options: Partial<Omit<LineServerOptions<TestNodeApi>, 'agent'>> }> = [
  { title: 'relayed', options: { isolation: 'thread' } },
  // The node holds no socket: the agent tells it of the close while the line is pending.
  { title: 'handOffSockets, per-connection', options: { isolation: 'process', handOffSockets: true } },
  { title: 'handOffSockets, pool', options: { isolation: 'process', handOffSockets: true, agents: { pool: 1 } } },
];

for (const { title, options } of noTimeoutVariants) test.serial(`timeoutMs 0 (${title}): a connection whose lineReceived never settles is listed until its disconnect, which its peer going away brings`, async (t) => {
  t.timeout(120_000);
  await withServer({ agent: testProtocol, ...options }, async ({ server, port, node, errors, disconnects }) => {
    const client = await LineClient.connect(port);
    // Waits for a gate the test never opens: the line is never done, and with no timeout
    // nothing bounds it.
    client.send('GATE never');
    const gated = await bounded(node.waitFor('gated'));
    if (gated === TIMED_OUT) return t.fail('the protocol never got the line');
    const listed = (): boolean => server.connections.some(({ id }) => id === gated.id);
    t.true(listed());
    // The peer goes away: a reset, so the node's socket closes (a half-close would still
    // be owed the replies to its lines).
    client.socket.resetAndDestroy();
    const samples: boolean[] = [];
    const end = Date.now() + 60_000;
    while (disconnects.length === 0 && Date.now() < end) {
      samples.push(listed());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.is(disconnects.length, 1, 'the peer going away is a disconnect event');
    t.is(disconnects[0]!.info.id, gated.id);
    t.is((disconnects[0]!.reason as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    t.false(disconnects[0]!.listed, 'no longer listed once disconnected');
    t.true(samples.every(Boolean), 'listed until then');
    t.false(listed());
    t.is(errors.length, 1, 'the reset is its one error event');
    // connectionLost has not run: it waits for the line in progress, which never ends.
    t.deepEqual(node.of('lost', gated.id), []);
  });
});

test.serial('handOffSockets: a lineReceived that does not settle within timeoutMs fails its connection with TimeoutError, as relayed, and the socket closes', async (t) => {
  t.timeout(120_000);
  await withServer({ isolation: 'process', handOffSockets: true, timeoutMs: 1500 }, async ({ server, port, node, errors, disconnects }) => {
    const client = await LineClient.connect(port);
    client.send('ECHO up');
    t.is(await bounded(client.next()), 'up');
    // No node call carries the lines of a handed-off socket, and this line calls nothing
    // that could time out: the agent bounds the batch itself.
    client.send('STALL');
    const gated = await bounded(node.waitFor('stalled'));
    if (gated === TIMED_OUT) return t.fail('the protocol never got the line');
    t.true(await until(() => disconnects.length === 1), 'the connection finished');
    t.true(disconnects[0]!.reason instanceof TimeoutError, `disconnect's reason: ${String(disconnects[0]!.reason)}`);
    t.is(errors.length, 1, `one error event (got ${errors.map(({ error }) => error.name).join(', ')})`);
    t.true(errors[0]!.error instanceof TimeoutError);
    t.not(await bounded(client.closed), TIMED_OUT, 'the peer sees the socket closed');
    t.false(server.connections.some(({ id }) => id === gated.id));
  });
});
