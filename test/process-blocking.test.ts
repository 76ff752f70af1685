/**
 * A process agent's blocking calls on its blocking socket (the agent's main thread
 * writes and reads fd 4 itself): timeouts kept by the node, wake-ups on close, on the
 * node's end closing and on the agent's death, large bodies both ways, errors,
 * ordering, and hostile frames from either end. The first group runs real process
 * agents; the second puts the node's ProcessBlockingServer in this process in front of
 * a small peer (test/fixtures/process-blocking-peer.ts) that is either the real caller
 * or raw bytes. Serial: each test starts processes. No test asserts on timing.
 */
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import test from 'ava';
import type { Agent, SpawnAgentOptions } from '../src/index.ts';
import { FrameKind } from '../src/blocking/process-frames.ts';
import { ProcessBlockingServer, type ProcessBlockingServerOptions } from '../src/blocking/process-server.ts';
import type BlockingAgent from './fixtures/blocking-agent.ts';
import { LedgerError, type BlockingNodeApi } from './fixtures/blocking-agent.ts';
import { spawnForTest } from './helpers/agents.ts';
import { readFrames, requestFrame } from './helpers/blocking-frames.ts';
import { gone } from './helpers/process-gone.ts';

const entry = new URL('./fixtures/blocking-agent.ts', import.meta.url);
const peerPath = new URL('./fixtures/process-blocking-peer.ts', import.meta.url).pathname;

function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7) & 0xff;
  return bytes;
}

interface NodeState {
  records: string[];
  agent?: Agent<typeof BlockingAgent>;
  gates: Array<(bytes: Uint8Array) => void>;
  /** Resolves the handler of a `never` call that is in progress. */
  release?: () => void;
  served: number;
}

function nodeApi(state: NodeState): BlockingNodeApi {
  return {
    add: (a, b) => a + b,
    addLater: async (a, b) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      return a + b;
    },
    big: pattern,
    sizeOf: (bytes) => (bytes.every((b, i) => b === (i & 0xff)) ? bytes.length : -1),
    echo: (value) => value,
    fail(message): never {
      throw Object.assign(new LedgerError(message, 42), { code: 'E_LEDGER' });
    },
    async failLater(message): Promise<never> {
      await new Promise((resolve) => setTimeout(resolve, 2));
      throw new RangeError(message, { cause: new TypeError('why') });
    },
    slow: async (ms, value) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return value;
    },
    never: () =>
      new Promise<never>((_, reject) => {
        state.served++;
        state.release = () => reject(new Error('released late'));
      }),
    record(label) {
      state.records.push(label);
      return state.records.join(',');
    },
    ticks: () => 0,
    async reenter() {
      try {
        await state.agent!.remote.aborted();
        return 'no deadlock detected';
      } catch (error) {
        return (error as Error).name;
      }
    },
    reenterSync: () => 'n/a',
    bytes: (payload) => payload.slice().reverse(),
    notBytes: () => ({ not: 'bytes' }),
    gate: (payload) => new Promise<Uint8Array>((resolve) => state.gates.push(() => resolve(payload))),
  };
}

type Context = { teardown(fn: () => unknown): void };

async function start(t: Context, options: SpawnAgentOptions = {}) {
  const state: NodeState = { records: [], gates: [], served: 0 };
  const agent = await spawnForTest<typeof BlockingAgent>(t, entry, { isolation: 'process', expose: nodeApi(state), ...options });
  state.agent = agent;
  return { agent, state };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

// ── real process agents ──────────────────────────────────────────────────────────

test.serial('a timed-out call throws TimeoutError; the next call gets its own answer, not the late one', async (t) => {
  const { agent, state } = await start(t);
  t.is(await agent.remote.timeoutThenNext(), 'started');
  // The first gate times out in the agent (50 ms); the second waits for us.
  await until(() => state.gates.length === 2);
  state.gates[0]!(new Uint8Array([1])); // the late answer: must be dropped
  state.gates[1]!(new Uint8Array([2]));
  await until(() => state.records.length === 1);
  t.deepEqual(JSON.parse(state.records[0]!), { first: 'TimeoutError', second: [2] });
});

test.serial('the byte layer: answers, a non-bytes answer fails, a per-call timeout fires while the node handler never settles', async (t) => {
  const { agent } = await start(t);
  const result = await agent.remote.byteLayer(Uint8Array.of(1, 2, 3));
  t.deepEqual(Array.from(result.answer as Uint8Array), [3, 2, 1]);
  t.is((result.notBytes as { name: string }).name, 'ProtocolError');
  t.like(result.timeout, { name: 'TimeoutError', message: "[agent-ipc] call 'never' timed out after 30 ms" });
});

test.serial('large bodies both ways, and small calls before and after them read their own answers', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.echo('before'), 'before');
  for (const size of [64 * 1024 - 40, 64 * 1024 + 1, 8 * 1024 * 1024]) {
    const big = await agent.remote.bigChecksum(size);
    t.is(big.length, size);
    t.is(big.first, 0);
    t.is(big.last, ((size - 1) * 7) & 0xff);
    t.is(await agent.remote.sendBig(size), size);
    t.deepEqual(await agent.remote.echo({ after: size }), { after: size });
  }
});

test.serial('over maxMessageBytes: a request fails at the call site, an answer comes back as MessageTooLargeError', async (t) => {
  const { agent } = await start(t, { maxMessageBytes: 128 * 1024 });
  await t.throwsAsync(agent.remote.sendBig(256 * 1024), { name: 'MessageTooLargeError' });
  await t.throwsAsync(agent.remote.bigChecksum(256 * 1024), { name: 'MessageTooLargeError' });
  t.is(await agent.remote.add(2, 3), 5);
});

test.serial('errors arrive with class, code, fields and cause; unknown methods and unsendable values fail', async (t) => {
  const { agent } = await start(t);
  t.like(await agent.remote.failure('fail', 'no block'), { name: 'LedgerError', message: 'no block', code: 'E_LEDGER', height: 42, isLedgerError: true });
  t.like(await agent.remote.failure('failLater', 'later'), { name: 'RangeError', message: 'later', cause: 'TypeError: why' });
  t.like(await agent.remote.sendFunction(), { name: 'DataCloneError' });
  const unknown = await agent.remote.failure('nope' as 'fail');
  t.like(unknown, { name: 'UnknownMethodError' });
  t.is(await agent.remote.add(1, 1), 2);
  t.like(agent.stats, { errors: 3 });
});

test.serial('ordering: a blocking call is served after the async calls sent before it', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.ordering(), 'async-1,async-2,blocking-3');
  t.deepEqual(await agent.remote.cloneFailThenBlocking(), { name: 'DataCloneError', sum: 42 });
});

test.serial('the deadlock check holds: calling into the agent from its blocking call fails with DeadlockError', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.failure('reenter'), 'DeadlockError');
});

test.serial('a burst of calls returns every answer in order', async (t) => {
  const { agent } = await start(t);
  t.is(await agent.remote.burst(2000), 2000);
});

test.serial('close() while parked: the agent wakes with ConnectionClosedError, the late answer is dropped, the process exits 0', async (t) => {
  const { agent, state } = await start(t);
  const parked = agent.remote.parkForever();
  await until(() => state.served === 1);
  await agent.close({ timeoutMs: 5000 });
  const outcome = await parked.then(
    (value) => String(value.name),
    (error: Error) => error.name,
  );
  t.true(['ConnectionClosedError', 'AgentExitedError'].includes(outcome), outcome);
  // The handler settles after the agent is gone: nothing is written, nothing throws.
  state.release!();
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(await agent.exited, { code: 0, signal: null });
  t.true(gone(agent.pid));
});

test.serial('an agent killed while the node serves its call: the call rejects, the late handler result goes nowhere', async (t) => {
  const { agent, state } = await start(t);
  const parked = agent.remote.parkForever();
  await until(() => state.served === 1);
  process.kill(agent.pid, 'SIGKILL');
  await t.throwsAsync(parked, { name: 'AgentExitedError' });
  t.like(await agent.exited, { signal: 'SIGKILL' });
  state.release!();
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.true(gone(agent.pid));
});

// ── the node's server in this process, a bare peer on the other end ─────────────

interface Peer {
  socket: Duplex;
  output: Promise<string>;
  exited: Promise<number | null>;
}

function startPeer(t: Context, args: string[]): Peer {
  const child = spawn(process.execPath, [...process.execArgv, peerPath, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ignore', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const socket = (child.stdio as unknown as Duplex[])[4]!;
  socket.on('error', () => undefined);
  return { socket, output: exited.then(() => out.trim()), exited };
}

function serve(socket: Duplex, overrides: Partial<ProcessBlockingServerOptions> = {}): { server: ProcessBlockingServer; broken: Error[] } {
  const broken: Error[] = [];
  const server = new ProcessBlockingServer(socket, {
    dispatch: (command, payload) => (command === 'after' ? 'still up' : { command, payload }),
    asyncCallsStarted: () => undefined,
    maxMessageBytes: 64 * 1024,
    onBroken: (error) => {
      broken.push(error);
      socket.end();
    },
    ...overrides,
  });
  return { server, broken };
}

test.serial('the real caller against the server: a call, then another on the same socket', async (t) => {
  const peer = startPeer(t, ['call', 'greet', '["hi"]']);
  serve(peer.socket);
  t.deepEqual(JSON.parse(await peer.output), { value: { command: 'greet', payload: ['hi'] }, after: '"still up"' });
});

test.serial("the node's end closing wakes a parked call with ConnectionClosedError; later calls fail at once", async (t) => {
  const peer = startPeer(t, ['call', 'never', '[]']);
  let parked!: () => void;
  const served = new Promise<void>((resolve) => (parked = resolve));
  serve(peer.socket, {
    dispatch: () => {
      parked();
      return new Promise(() => undefined);
    },
  });
  await served;
  peer.socket.destroy();
  t.like(JSON.parse(await peer.output), { error: 'ConnectionClosedError', after: 'ConnectionClosedError' });
});

test.serial('close() wakes a parked call with ConnectionClosedError; the handler settling later writes nothing', async (t) => {
  const peer = startPeer(t, ['call', 'never', '[]']);
  let settle!: (value: string) => void;
  let parked!: () => void;
  const served = new Promise<void>((resolve) => (parked = resolve));
  const { server } = serve(peer.socket, {
    dispatch: () => {
      parked();
      return new Promise((resolve) => (settle = resolve));
    },
  });
  await served;
  server.close();
  settle('too late');
  t.like(JSON.parse(await peer.output), { error: 'ConnectionClosedError', after: 'ConnectionClosedError' });
});

test.serial('the node keeps the timeout: TIMEOUT wakes the caller, and the caller stays usable', async (t) => {
  const peer = startPeer(t, ['call', 'never', '[]', '40']);
  serve(peer.socket, { dispatch: (command) => (command === 'after' ? 'still up' : new Promise(() => undefined)) });
  t.like(JSON.parse(await peer.output), { error: 'TimeoutError', after: '"still up"' });
});

test.serial('hostile agent: a frame that is not a request breaks the channel', async (t) => {
  const peer = startPeer(t, ['raw', requestFrame(Uint8Array.of(0), 1, FrameKind.ANSWER).toString('hex')]);
  const { broken } = serve(peer.socket);
  await peer.exited;
  t.is(broken.length, 1);
  t.is(broken[0]!.name, 'ProtocolError');
});

test.serial('hostile agent: a body length over maxMessageBytes breaks the channel before the body is read', async (t) => {
  const peer = startPeer(t, ['raw', requestFrame(new Uint8Array(0), 1, FrameKind.REQUEST, 0xffff_fff0).toString('hex')]);
  const { broken } = serve(peer.socket);
  await peer.exited;
  t.is(broken.length, 1);
  t.is(broken[0]!.name, 'MessageTooLargeError');
});

test.serial('hostile agent: a second request before the first is answered breaks the channel', async (t) => {
  const body = Uint8Array.of(0x07, 2, 0, 0, 0, 0x06, 1, 0, 0, 0, 0x78, 0x00); // ['x', undefined]
  const peer = startPeer(t, ['raw', Buffer.concat([requestFrame(body, 1), requestFrame(body, 2)]).toString('hex')]);
  const { broken } = serve(peer.socket, { dispatch: () => new Promise(() => undefined) });
  await peer.exited;
  t.is(broken.length, 1);
  t.regex(broken[0]!.message, /second request/);
});

test.serial('hostile agent: a request whose fence is no request id is answered with ProtocolError, not served; the channel stays up', async (t) => {
  // The fence is a uint32 on the wire; request ids stop at 2^30 - 1. Compared modulo the
  // id space, a larger one would stand for some other request and wait for it.
  const body = Uint8Array.of(0x07, 2, 0, 0, 0, 0x06, 1, 0, 0, 0, 0x78, 0x00); // ['x', undefined]
  const peer = startPeer(t, ['raw', requestFrame(body, 5, FrameKind.REQUEST, body.length, 0xffff_ffff).toString('hex')]);
  const fences: number[] = [];
  let answered = false;
  const write = peer.socket.write.bind(peer.socket) as (chunk: Uint8Array) => boolean;
  peer.socket.write = ((chunk: Uint8Array) => {
    answered = true;
    return write(chunk);
  }) as typeof peer.socket.write;
  const { broken } = serve(peer.socket, {
    asyncCallsStarted: (fence) => {
      fences.push(fence);
      return undefined;
    },
  });
  await until(() => answered);
  peer.socket.end();
  const frames = readFrames(Buffer.from(await peer.output, 'hex'));
  t.is(broken.length, 0);
  t.deepEqual(fences, [], 'the fence was not looked up');
  t.deepEqual(
    frames.map((f) => [f.kind, f.seq, (f.body as { name: string; message: string }).name, (f.body as { message: string }).message]),
    [[FrameKind.ERROR, 5, 'ProtocolError', '[agent-ipc] blocking request from the agent with ordering fence 4294967295: not a request id (an integer from 0 to 1073741823)']],
  );
});

test.serial('hostile agent: an undecodable or malformed request is answered with ProtocolError; the channel stays up', async (t) => {
  const undecodable = requestFrame(Uint8Array.of(0xff, 0xff), 7);
  const notACall = requestFrame(Uint8Array.of(0x04, 1, 0, 0, 0), 8); // the int 1
  const peer = startPeer(t, ['raw', Buffer.concat([undecodable, notACall]).toString('hex')]);
  let writes = 0;
  const write = peer.socket.write.bind(peer.socket) as (chunk: Uint8Array) => boolean;
  peer.socket.write = ((chunk: Uint8Array) => {
    writes++;
    return write(chunk);
  }) as typeof peer.socket.write;
  const { broken } = serve(peer.socket);
  // Both answers are written: end the socket so that the peer prints what it read.
  await until(() => writes === 2);
  peer.socket.end();
  const frames = readFrames(Buffer.from(await peer.output, 'hex'));
  t.is(broken.length, 0);
  t.deepEqual(
    frames.map((f) => [f.kind, f.seq, (f.body as { name: string; message: string }).message]),
    [
      [FrameKind.ERROR, 7, '[agent-ipc] unreadable blocking request'],
      [FrameKind.ERROR, 8, '[agent-ipc] malformed blocking request'],
    ],
  );
});
