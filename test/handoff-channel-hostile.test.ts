/**
 * A hand-off agent (`handOffSockets`) against its own handle channel, the Node.js IPC
 * channel the node hands it sockets on: the agent's side may only acknowledge them. Whatever
 * else it writes there — a line that is not JSON, Node.js's internal commands forged, a
 * line without end, a flood, messages, handles of its own — or if it closes the channel,
 * the node must survive (a crash ends this test process), hold nothing the agent sent,
 * and stop that agent: its connection fails with `AgentExitedError` whose cause is the
 * `ProtocolError`, and the server goes on serving (a pool replaces the agent). A hand-off
 * that meets a dead or dying agent fails with an agent-ipc error, never Node.js's raw
 * "Channel closed". Waits are on events and bounded, never on time.
 *
 * Serial: the test that counts the node's handles must not see another test's.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import * as net from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AgentExitedError, AgentIpcError, ProtocolError } from '../src/index.ts';
import type { LineServerOptions } from '../src/lines/index.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';
import { LineClient } from './fixtures/lines/line-client.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { until, withServer } from './fixtures/lines-edges/watched-server.ts';
import { gone } from './helpers/process-gone.ts';
import { MAX_SOCKET_LIST_ANSWERS } from '../src/isolation/handle-channel-guard.ts';

const protocol = new URL('./fixtures/handoff-channel-hostile/channel-protocol.ts', import.meta.url);

/** Every wait of these tests gives up after this long (a failure, not a hang). */
const WAIT_MS = 30_000;

interface Seen {
  port: number;
  /** Every error event so far (a live list). */
  errors: Error[];
  /** Resolves once `n` error events were seen. */
  errored(n: number): Promise<void>;
  /** Resolves once `n` agentRestart events were seen. */
  restarted(n: number): Promise<void>;
}

/** Resolves once `ready()`; rejects if it is still not after {@link WAIT_MS}. */
async function reached(ready: () => boolean): Promise<void> {
  if (!(await until(ready, WAIT_MS))) throw new Error('[agent-ipc test] gave up waiting');
}

/** A hand-off server of this file's protocol (the shared watched server), listening for the body's duration. */
async function withHandOffServer(options: Omit<Partial<LineServerOptions<TestNodeApi>>, 'agent'>, body: (seen: Seen) => Promise<void>): Promise<void> {
  await withServer({ agent: protocol, isolation: 'process', handOffSockets: true, ...options }, async (watched) => {
    const errors: Error[] = [];
    watched.server.on('error', (error) => errors.push(error));
    await body({
      port: watched.port,
      errors,
      errored: (n) => reached(() => errors.length >= n),
      restarted: (n) => reached(() => watched.restarts.length >= n),
    });
  });
}

async function within<T>(t: ExecutionContext, what: string, promise: Promise<T>): Promise<T> {
  const result = await bounded(promise, WAIT_MS);
  if (result === TIMED_OUT) t.fail(`timed out waiting for ${what}`);
  return result as T;
}

/** A client of the server that has been greeted; its agent's pid. */
async function greeted(t: ExecutionContext, port: number): Promise<{ client: LineClient; pid: number }> {
  const client = await LineClient.connect(port);
  const hello = await within(t, 'the greeting', client.next());
  const pid = Number(/^HELLO (\d+)$/.exec(hello ?? '')?.[1]);
  t.true(pid > 0, `greeted: ${hello}`);
  return { client, pid };
}

/**
 * Sends `command` to a fresh connection, then expects: the agent stopped, the connection
 * closed, one error event — an `AgentExitedError` whose cause is a `ProtocolError` matching
 * `why` — and the server still serving a new connection.
 */
async function breaksChannel(t: ExecutionContext, command: string, why: RegExp): Promise<void> {
  await withHandOffServer({}, async ({ port, errors, errored }) => {
    const { client, pid } = await greeted(t, port);
    client.send(command);
    await within(t, 'the error event', errored(1));
    await within(t, 'the connection to close', client.closed);
    const [error] = errors;
    t.true(error instanceof AgentExitedError, `an AgentExitedError: ${String(error)}`);
    const exited = error as AgentExitedError;
    t.is(exited.signal, 'SIGKILL');
    t.true(exited.cause instanceof ProtocolError, `caused by a ProtocolError: ${String(exited.cause)}`);
    t.regex((exited.cause as Error).message, why);
    t.true(gone(pid), 'the agent was stopped');
    // The node lives on, and serves.
    const next = await greeted(t, port);
    t.not(next.pid, pid);
    next.client.send('ECHO still serving');
    t.is(await within(t, 'the echo', next.client.next()), 'still serving');
    await next.client.close();
    t.is(errors.length, 1, errors.map(String).join('; '));
  });
}

test.serial('a line that is not JSON stops the agent with a ProtocolError; the node survives', (t) => breaksChannel(t, 'RAW {not json}', /not JSON/));

test.serial('a forged NODE_HANDLE_ACK (no socket awaits it) stops the agent', (t) => breaksChannel(t, 'RAW {"cmd":"NODE_HANDLE_ACK"}', /sent NODE_HANDLE_ACK for no socket/));

test.serial('a forged NODE_HANDLE_NACK stops the agent', (t) => breaksChannel(t, 'RAW {"cmd":"NODE_HANDLE_NACK"}', /sent NODE_HANDLE_NACK for no socket/));

test.serial('a forged NODE_HANDLE without a descriptor stops the agent', (t) => breaksChannel(t, 'RAW {"cmd":"NODE_HANDLE","type":"net.Socket","msg":{}}', /internal message NODE_HANDLE\b/));

test.serial('any other internal command stops the agent', (t) => breaksChannel(t, 'RAW {"cmd":"NODE_CLUSTER","act":"online"}', /internal message NODE_CLUSTER/));

test.serial("Node.js's answers about a handed server's sockets pass (its server.close() waits for one); past 1,024 they stop the agent", async (t) => {
  await withHandOffServer({}, async ({ port, errors }) => {
    // A few, as an honest agent's Node.js sends them: nothing happens.
    const { client, pid } = await greeted(t, port);
    client.send('SOCKET_COUNTS 40');
    t.is(await within(t, 'the answers to be written', client.next()), 'SENT');
    client.send('ECHO still here');
    t.is(await within(t, 'the echo', client.next()), 'still here');
    t.false(gone(pid));
    t.deepEqual(errors, []);
    await client.close();
  });
  await breaksChannel(t, `SOCKET_COUNTS ${MAX_SOCKET_LIST_ANSWERS + 20}`, /more than 1024 answers about its sockets/);
});

test.serial('an ordinary message (process.send) stops the agent', (t) => breaksChannel(t, 'MESSAGE', /sent a message/));

test.serial('a line that never ends stops the agent before the node holds more than a few KiB of it', (t) => breaksChannel(t, 'UNTERMINATED', /without a newline|bytes at once/));

test.serial('a flood of tiny messages stops the agent', (t) => breaksChannel(t, 'FLOOD', /bytes at once|sent a message/));

test.serial('a handle the agent sends (NODE_HANDLE with a descriptor) is closed at once, and the agent stopped', async (t) => {
  await withHandOffServer({}, async ({ port, errors, errored }) => {
    const { client, pid } = await greeted(t, port);
    client.send('LISTEN 1');
    const ports = await within(t, 'the port', client.next());
    const pushed = Number(/^PORTS (\d+)$/.exec(ports ?? '')?.[1]);
    t.true(pushed > 0, ports);
    client.send('PUSH');
    await within(t, 'the error event', errored(1));
    const error = errors[0] as AgentExitedError;
    t.true(error instanceof AgentExitedError);
    t.true(error.cause instanceof ProtocolError);
    t.regex((error.cause as Error).message, /sent a handle/);
    await within(t, 'the connection to close', client.closed);
    t.true(gone(pid));
    // The agent's listening socket went with it: the node kept no copy.
    const probe = net.connect({ port: pushed, host: '127.0.0.1' });
    const [failure] = (await within(t, 'the probe to fail', once(probe, 'error'))) as [NodeJS.ErrnoException];
    t.is(failure.code, 'ECONNREFUSED');
    probe.destroy();
  });
});

/** The node's open handles of the kinds an agent could make it hold, by kind. */
function handleKinds(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === 'Timeout' || kind === 'Immediate') continue;
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

test.serial('an agent pushing many handles leaves the node none of them once the server closed', async (t) => {
  const before = handleKinds();
  await withHandOffServer({}, async ({ port, errors, errored }) => {
    const { client } = await greeted(t, port);
    client.send('LISTEN 200');
    t.regex((await within(t, 'the ports', client.next())) ?? '', /^PORTS \d+$/);
    client.send('PUSH');
    await within(t, 'the error event', errored(1));
    t.true(errors[0] instanceof AgentExitedError);
    t.regex(((errors[0] as AgentExitedError).cause as Error).message, /sent a handle/);
    await within(t, 'the connection to close', client.closed);
  });
  // Handles close on the loop's next turns: wait (boundedly) until no kind is above its
  // count before (an earlier test's last handles may close meanwhile: fewer is fine).
  const above = (): string[] => {
    const after = handleKinds();
    return Object.keys(after).filter((kind) => after[kind]! > (before[kind] ?? 0));
  };
  for (let turn = 0; turn < 1000 && above().length > 0; turn++) await nextTurn();
  t.deepEqual(above(), [], `before: ${JSON.stringify(before)}, after: ${JSON.stringify(handleKinds())}`);
});

test.serial('an agent that closes its handle channel is stopped and replaced: later connections are served', async (t) => {
  await withHandOffServer({ agents: { pool: 1 } }, async ({ port, errors, errored, restarted }) => {
    const first = await greeted(t, port);
    // Its answer may or may not get out before the node stops it.
    first.client.send('DISCONNECT');
    await within(t, 'the replacement', restarted(1));
    await within(t, 'the error event', errored(1));
    await within(t, 'the connection to close', first.client.closed);
    const error = errors[0] as AgentExitedError;
    t.true(error instanceof AgentExitedError, String(error));
    t.true(error.cause instanceof ProtocolError, String(error.cause));
    t.regex((error.cause as Error).message, /closed its handle channel/);
    for (let i = 0; i < 3; i++) {
      const later = await greeted(t, port);
      t.not(later.pid, first.pid);
      later.client.send(`ECHO ${i}`);
      t.is(await within(t, 'the echo', later.client.next()), String(i));
      await later.client.close();
    }
    for (const seen of errors) t.true(seen instanceof AgentIpcError, `an agent-ipc error: ${String(seen)}`);
  });
});

test.serial("a connection handed to a dying pool agent fails with AgentExitedError, not Node.js's 'Channel closed'", async (t) => {
  await withHandOffServer({ agents: { pool: 1 } }, async ({ port, errors, restarted }) => {
    for (let round = 1; round <= 6; round++) {
      const { client } = await greeted(t, port);
      client.send('EXIT');
      // The agent's exit closed its connection; the next one comes before the node saw the exit, or just after.
      await within(t, 'the connection to close', client.closed);
      const next = await LineClient.connect(port);
      const first = await within(t, 'the greeting or the close', next.next());
      if (first !== undefined) t.regex(first, /^HELLO \d+$/);
      await next.destroy();
      await within(t, 'the replacement', restarted(round));
    }
    for (const error of errors) {
      t.true(error instanceof AgentExitedError, `an AgentExitedError: ${String(error)}`);
      t.is((error as AgentExitedError).exitCode, 3, 'the exit of its own is told as it was');
    }
  });
});
