/**
 * Races of the line server's pool and socket hand-off, each driven into the one order
 * that matters by a hook, never by sleeping:
 *
 * - a connection that arrives after a hung pool agent was found stuck but before its exit
 *   (the pool's `terminate` of that agent is held back until the test lets it go);
 * - a socket destroyed by `close()` while its hand-off to a process agent waits in
 *   Node.js's queue behind one the agent has not acknowledged (the agent is parked in a
 *   blocking call into the node, whose answer the test holds back).
 *
 * The hooks wrap internals of this process (ava runs each test file in a process of its
 * own), so the tests run one at a time. Nothing here measures time: waits are on events,
 * a hang is ava's timeout.
 */
import test from 'ava';
import { AgentHost } from '../src/agent-host.ts';
import { AgentUnresponsiveError, ConnectionClosedError } from '../src/index.ts';
import { restartDelayMs } from '../src/lines/agent-pool.ts';
import { createLineServer, type AgentRestartInfo, type LineConnectionInfo, type LineServer } from '../src/lines/index.ts';
import { LineAgent } from '../src/lines/line-agent.ts';
import { LineClient, TestNode, testProtocol } from './fixtures/lines/line-client.ts';
import { AgentCensus } from './helpers/agent-census.ts';
import { eventWaits } from './helpers/event-waits.ts';
import { countAcquires } from './helpers/pool-acquires.ts';

const failingProtocol = new URL('./fixtures/lines-edges/failing-protocol.ts', import.meta.url);

// --- hooks ------------------------------------------------------------------------------

/** Waits for what the hooks below record: `changed()` after each event, `until(done)` to wait. */
const { changed, until } = eventWaits();

/** A termination the hook holds back: the agent goes on running until `release()`. */
interface HeldTermination {
  agent: string;
  release(): void;
}
let holdNextTermination: ((held: HeldTermination) => void) | undefined;
/** Holds back the next `terminate()` of an agent (what a pool does to an agent found stuck). */
function nextTermination(): Promise<HeldTermination> {
  return new Promise((resolve) => (holdNextTermination = resolve));
}
const terminate = Object.getOwnPropertyDescriptor(AgentHost.prototype, 'terminate')!.value as (this: AgentHost) => void;
AgentHost.prototype.terminate = function (this: AgentHost): void {
  const hold = holdNextTermination;
  if (!hold) return terminate.call(this);
  holdNextTermination = undefined;
  hold({ agent: this.name, release: () => terminate.call(this) });
};

/** Calls of the pool's `acquire`: a new connection asked for an agent. */
const acquires = countAcquires(changed);

/** Agent starts of the line server (in call order), and what happened between them. */
const starts: Array<Promise<LineAgent>> = [];
const history: string[] = [];
const start = LineAgent.start.bind(LineAgent);
LineAgent.start = (...args: Parameters<typeof start>): Promise<LineAgent> => {
  history.push(`start ${args[1]}`);
  const started = start(...args);
  starts.push(started);
  started.then(changed, changed);
  return started;
};

/** Agents as the public lifecycle channels report them. */
const census = new AgentCensus(changed);

test.beforeEach(() => {
  acquires.reset();
  starts.length = 0;
  history.length = 0;
  census.clear();
});

// --- a server and what it reports ---------------------------------------------------------

interface Seen {
  server: LineServer;
  node: TestNode;
  port: number;
  restarts: AgentRestartInfo[];
  errors: Error[];
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
}

function watch(server: LineServer, node: TestNode): Seen {
  const seen: Seen = { server, node, port: 0, restarts: [], errors: [], disconnects: [] };
  server.on('agentRestart', (info) => {
    seen.restarts.push(info);
    history.push(`restart ${info.agent}`);
    changed();
  });
  server.on('error', (error) => {
    seen.errors.push(error);
    changed();
  });
  server.on('disconnect', (info, reason) => {
    seen.disconnects.push({ info, reason });
    changed();
  });
  return seen;
}

/** Asks the test protocol which agent serves `client` and which connection it is. */
async function info(client: LineClient): Promise<{ agent: string; id: number }> {
  client.send('INFO');
  const line = await client.next();
  if (line === undefined) throw new Error('the connection closed instead of answering INFO');
  return JSON.parse(line) as { agent: string; id: number };
}

// --- 1. a connection arriving while a hung pool agent is being stopped ----------------------

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: a connection arriving between a pool agent's hang and its exit: every replacement is reported once, counted and backed off`, async (t) => {
    t.timeout(180_000);
    const node = new TestNode();
    // timeoutMs: only a stuck agent exceeds it (a healthy one answers the probe whatever the load).
    const server = createLineServer({ agent: failingProtocol, expose: node.api, isolation, agents: { pool: 1 }, timeoutMs: 2000, startupTimeoutMs: 0 });
    const seen = watch(server, node);
    const clients: LineClient[] = [];
    const connect = async (): Promise<LineClient> => {
      const client = await LineClient.connect(seen.port);
      clients.push(client);
      return client;
    };

    /**
     * `sharer` is served by the pool's one agent. Another connection hangs that agent; once
     * the pool found it stuck (its termination held back), `newcomer` arrives and asks the
     * pool for an agent; then the termination goes ahead. Returns who serves the newcomer.
     */
    const hangThenArrive = async (sharer: LineClient, sharerAgent: string): Promise<{ newcomer: LineClient; agent: string }> => {
      const hanging = await connect();
      t.is((await info(hanging)).agent, sharerAgent, 'one agent serves every connection');
      const held = nextTermination();
      hanging.send('HANG');
      const { agent: stopped, release } = await held;
      t.is(stopped, sharerAgent, 'the hung agent is the one being stopped');
      const asked = acquires.count;
      const newcomer = await connect();
      await until(() => acquires.count > asked);
      // Had the newcomer started an agent itself, that agent is let become ready before the
      // hung one exits: the order in which the exit went unreported.
      await Promise.allSettled(starts);
      release();
      // The exit was handled once the sharer's connection is closed as unresponsive.
      const before = seen.disconnects.length;
      await until(() => seen.disconnects.slice(before).some(({ reason }) => reason instanceof AgentUnresponsiveError));
      await sharer.closed;
      const { agent } = await info(newcomer);
      t.not(agent, stopped, 'the newcomer is served by the replacement');
      return { newcomer, agent };
    };

    try {
      seen.port = (await server.listen(0, '127.0.0.1')).port;
      const first = await connect();
      const agent1 = (await info(first)).agent;

      // The first failure: reported once, replaced at once.
      const { newcomer: second, agent: agent2 } = await hangThenArrive(first, agent1);
      t.is(seen.restarts.length, 1, 'the hung agent is reported once as agentRestart');
      t.like(seen.restarts[0], { agent: agent1, failures: 1, delayMs: 0 });
      t.true(seen.restarts[0]?.reason instanceof AgentUnresponsiveError);

      // The second in a row: counted as such, with its back-off, which the newcomer waits for too.
      const { newcomer: third, agent: agent3 } = await hangThenArrive(second, agent2);
      t.is(seen.restarts.length, 2, 'the second hung agent is reported once as agentRestart');
      t.like(seen.restarts[1], { agent: agent2, failures: 2, delayMs: restartDelayMs(2) });
      t.true(seen.restarts[1]?.reason instanceof AgentUnresponsiveError);
      // Each replacement started after its predecessor's failure was reported (so after the
      // back-off the report announced), none by a connection that arrived meanwhile.
      t.deepEqual(history, [`start ${agent1}`, `restart ${agent1}`, `start ${agent2}`, `restart ${agent2}`, `start ${agent3}`]);

      third.send('ECHO still served');
      t.is(await third.next(), 'still served');
    } finally {
      for (const client of clients) client.socket.destroy();
      await server.close();
    }
    t.is(seen.restarts.length, 2, 'no other replacement');
    census.assertNoneLeft(t, isolation);
  });
}

// --- 2. a socket destroyed while its hand-off waits in Node.js's queue --------------------------

test.serial('process hand-off: a socket that close() destroys while queued for hand-off ends at once; the agent is not left waiting for it', async (t) => {
  t.timeout(180_000);
  const node = new TestNode();
  // The test protocol's `SEQ 7 5` makes the blocking call add(7, 1): its answer is held back,
  // so the agent's main thread is parked and acknowledges no socket meanwhile.
  let parked!: () => void;
  const agentParked = new Promise<void>((resolve) => (parked = resolve));
  let unpark!: () => void;
  const answer = new Promise<void>((resolve) => (unpark = resolve));
  const expose = {
    ...node.api,
    add: (a: number, b: number): number | Promise<number> => {
      if (a !== 7 || b !== 1) return a + b;
      parked();
      return answer.then(() => a + b);
    },
  };
  // Huge: a connection left waiting for its socket would wait for good (no TimeoutError ends it).
  const server = createLineServer({ agent: testProtocol, expose, isolation: 'process', handOffSockets: true, agents: { pool: 1 }, timeoutMs: 2_000_000_000, startupTimeoutMs: 0 });
  const seen = watch(server, node);
  const handOvers: number[] = [];
  const sendHandle = Object.getOwnPropertyDescriptor(AgentHost.prototype, 'sendHandle')!.value as AgentHost['sendHandle'];
  AgentHost.prototype.sendHandle = function (this: AgentHost, message, socket) {
    handOvers.push((message as { id: number }).id);
    changed();
    return sendHandle.call(this, message, socket);
  };
  const clients: LineClient[] = [];
  let closing: Promise<void> | undefined;
  try {
    seen.port = (await server.listen(0, '127.0.0.1')).port;
    const first = await LineClient.connect(seen.port);
    clients.push(first);
    const { id: firstId } = await info(first);
    first.send('SEQ 7 5');
    t.is(await first.next(), '7-1');
    await agentParked;
    // Two more connections for the parked agent: the first one's socket is written to the
    // channel (unacknowledged: the agent is parked), the second waits in Node.js's queue.
    const sent = handOvers.length;
    const written = await LineClient.connect(seen.port);
    const queued = await LineClient.connect(seen.port);
    clients.push(written, queued);
    await until(() => handOvers.length >= sent + 2);
    const [writtenId, queuedId] = handOvers.slice(sent);

    // close() destroys the socket still in the queue: its peer sees it closed.
    closing = server.close();
    await queued.closed;
    // The agent goes on: it acknowledges, and Node.js sends the queued message on — without
    // the socket it no longer has.
    unpark();
    await closing;
    await Promise.all([first.closed, written.closed]);
    // Sessions the agent opened were all closed; the one whose socket never came was never opened.
    const made = node.of('made').map(({ id }) => id);
    const lost = node.of('lost').map(({ id }) => id);
    t.deepEqual([...made].sort(), [firstId, writtenId].sort(), 'the sockets that reached the agent were served');
    t.false(made.includes(queuedId!), 'the queued socket never reached the agent');
    t.deepEqual([...lost].sort(), [...made].sort(), 'every session opened in the agent was closed');
    // Nothing was left waiting in the agent: asked to close, it left by itself (a call still
    // in progress would have held it until it was forced down with SIGKILL).
    const exits = [...census.exited.values()];
    t.is(exits.length, 1);
    t.like(exits[0]?.exit, { code: 0, signal: null });
    t.true(
      seen.errors.every((error) => !(error instanceof ConnectionClosedError)),
      'the connections cut by close() are not reported as failures',
    );
  } finally {
    AgentHost.prototype.sendHandle = sendHandle;
    unpark();
    for (const client of clients) client.socket.destroy();
    await (closing ?? server.close());
  }
  census.assertNoneLeft(t, 'process');
});
