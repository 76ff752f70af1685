/**
 * The spin policy of blocking calls (src/blocking/spin-budget.ts): its state machine with
 * a fake clock, and its behaviour through real worker threads — a parked agent is still
 * woken by close, timeout and the death of its thread after the sides have learned to
 * spin, several agents bursting at once are all served, and nothing spins while idle;
 * and one server driven in-process, for what its after-wake spin learns from.
 * Never its timing: the machine may be loaded.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import test from 'ava';
import { AgentExitedError, ProtocolError, spawnAgent, type Agent } from '../src/index.ts';
import { FIRST_CHECKS_NS, HAS_ATOMICS_PAUSE, MAX_LEVEL, SpinEnd, SpinPolicy, confinedToOneCpu, lastSpin, spinUntil, type SpinClock, type SpinLimits } from '../src/blocking/spin-budget.ts';
import { Slot, seqOf, withdrawCall } from '../src/blocking/mailbox.ts';
import { MailboxServer, type ServedMailbox } from '../src/blocking/server.ts';
import { MAX_REQUEST_ID } from '../src/wire.ts';
import type BlockingAgent from './fixtures/blocking-agent.ts';
import { oneThreadMailbox } from './helpers/one-thread-mailbox.ts';
import type { BlockingNodeApi } from './fixtures/blocking-agent.ts';

const LIMITS: SpinLimits = { initialNs: 20_000, maxNs: 200_000, probeNs: 10_000, missesBeforeBackOff: 3 };

/** Waits until a policy spins again; returns how many waits parked before that. */
function parkedWaitsBeforeSpin(policy: SpinPolicy): number {
  let parked = 0;
  while (policy.nextBudget() === 0) parked++;
  return parked;
}

test('policy: spins from the start; a caught event trains the budget, within the ceiling', (t) => {
  const policy = new SpinPolicy(LIMITS);
  t.is(policy.nextBudget(), 20_000);
  policy.caught(1_000);
  const trained = policy.nextBudget();
  t.true(trained > 0 && trained < 20_000, `budget follows short delays down (${trained})`);
  for (let i = 0; i < 10; i++) policy.caught(150_000);
  t.is(policy.nextBudget(), LIMITS.maxNs, 'never above the ceiling');
  t.is(policy.level, 0);
});

test('policy: plain misses in a row back off, and the parked waits double per level', (t) => {
  const policy = new SpinPolicy(LIMITS);
  // Two plain misses (late, but not far off) do not stop spinning yet.
  policy.missed(20_000, 30_000, false);
  policy.missed(20_000, 30_000, false);
  t.true(policy.nextBudget() > 0);
  policy.missed(20_000, 30_000, false);
  t.is(policy.level, 1);
  t.is(parkedWaitsBeforeSpin(policy), 2);
  // That wait is a probe: shorter than the learned budget.
  // A probe that misses backs off further at once.
  policy.missed(LIMITS.probeNs, 30_000, false);
  t.is(policy.level, 2);
  t.is(parkedWaitsBeforeSpin(policy), 4);
});

test('policy: evidence that the awaited thread has no core backs off at once', (t) => {
  const stalled = new SpinPolicy(LIMITS);
  stalled.missed(20_000, 25_000, true);
  t.is(stalled.level, 1);
  t.is(stalled.nextBudget(), 0);
  // An event far later than the spin lasted: spinning could not have caught it.
  const late = new SpinPolicy(LIMITS);
  late.missed(20_000, 5_000_000, false);
  t.is(late.level, 1);
  t.is(late.nextBudget(), 0);
});

test('policy: the back-off is bounded, probes stay short, and a caught probe brings spinning back within a few waits', (t) => {
  const policy = new SpinPolicy(LIMITS);
  for (let i = 0; i < 20; i++) {
    parkedWaitsBeforeSpin(policy);
    policy.missed(LIMITS.probeNs, 1_000_000, true);
  }
  t.is(policy.level, MAX_LEVEL);
  t.is(parkedWaitsBeforeSpin(policy), 2 ** MAX_LEVEL, 'probes at most every 2^MAX_LEVEL waits');
  // The probe (this wait) is no longer than probeNs, whatever was learned before.
  policy.caught(2_000);
  let waits = 0;
  while (policy.level > 0) {
    const budget = policy.nextBudget();
    t.true(budget > 0, 'after a caught probe, every wait spins again');
    t.true(budget <= LIMITS.probeNs);
    policy.caught(2_000);
    waits++;
  }
  t.true(waits <= MAX_LEVEL / 2, `back to spinning after ${waits} more caught spins`);
  t.true(policy.nextBudget() > 0);
});

test('policy: a probe spins for the probe budget, however short the learned one is', (t) => {
  // Learned in a fast regime: events within ~0.1 µs, so a budget of a few µs.
  const policy = new SpinPolicy(LIMITS);
  for (let i = 0; i < 20; i++) policy.caught(100);
  const learned = policy.nextBudget();
  t.true(learned < LIMITS.probeNs, `learned ${learned}`);
  policy.missed(learned, 1_000_000, true);
  parkedWaitsBeforeSpin(policy);
  // The first event of a recovering regime comes later than a burst's (the other side was
  // parked or just woken): a probe as short as the learned budget would always miss it.
  t.is(policy.nextBudget(), LIMITS.probeNs);
});

test('policy: there is no floor — a site whose events come late stops spinning', (t) => {
  const policy = new SpinPolicy(LIMITS);
  for (let i = 0; i < 3; i++) policy.missed(policy.nextBudget() || 20_000, 400_000, false);
  t.is(policy.nextBudget(), 0);
});

test('confinedToOneCpu: follows the thread\'s CPU affinity, also when it changes while running', (t) => {
  t.is(confinedToOneCpu(performance.now()), availableParallelism() <= 1);
  // A child that pins itself to one CPU mid-run (as `taskset -p` would): seen within the re-check interval.
  const script = `
    import { execFileSync } from 'node:child_process';
    import { confinedToOneCpu } from ${JSON.stringify(new URL('../src/blocking/spin-budget.ts', import.meta.url).href)};
    // The caller's clock readings, fixed: taskset itself took over the 100 ms re-check
    // interval under a load average of ~20, which made "soon" a re-check.
    const start = performance.now();
    const before = confinedToOneCpu(start);
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    const soon = confinedToOneCpu(start + 1);
    const later = confinedToOneCpu(start + 1_000);
    console.log(JSON.stringify({ before, soon, later }));`;
  const out = execFileSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  const seen = JSON.parse(out) as { before: boolean; soon: boolean; later: boolean };
  t.is(seen.before, availableParallelism() <= 1);
  t.is(seen.soon, seen.before, 'cached between checks (a system call each time would cost ~1 µs a call)');
  t.true(seen.later, 'pinned to one CPU');
});

/** A clock that moves only when read: `step` ms per read, or the next of `jumps`. */
function fakeClock(step: number, jumps: number[] = []): SpinClock & { reads: number } {
  let now = 0;
  return {
    reads: 0,
    now() {
      this.reads++;
      now += jumps.shift() ?? step;
      return now;
    },
  };
}

test('spinUntil: caught, timed out, given up, and preempted', (t) => {
  const never = (): boolean => false;
  let checks = 0;
  t.is(spinUntil(() => ++checks > 40, never, 0, 1_000_000, fakeClock(0.001)), SpinEnd.CAUGHT);
  // 1 µs per 32 checks: a 10 µs budget runs out after ~10 clock reads.
  const clock = fakeClock(0.001);
  t.is(spinUntil(never, never, 0, 10_000, clock), SpinEnd.TIMED_OUT);
  t.true(clock.reads >= 10 && clock.reads <= 12, `${clock.reads} clock reads`);
  t.is(spinUntil(never, () => true, 0, 10_000, fakeClock(0.001)), SpinEnd.GAVE_UP);
  // A gap of 5 ms between two reads: the spinner was descheduled.
  t.is(spinUntil(never, never, 0, 100_000_000, fakeClock(0.001, [0.001, 5])), SpinEnd.PREEMPTED);
  // Caught right after such a gap is not a success of spinning either.
  let armed = false;
  const gapClock = fakeClock(0.001, [0.001, 5]);
  const result = spinUntil(() => armed, () => ((armed = gapClock.reads >= 1), false), 0, 100_000_000, gapClock);
  t.is(result, SpinEnd.PREEMPTED);
});

test('spinUntil: a catch within the first checks is untimed only when asked', (t) => {
  const never = (): boolean => false;
  let checks = 0;
  const clock = fakeClock(0.001);
  t.is(spinUntil(() => ++checks > 5, never, 10, 1_000_000, clock, true), SpinEnd.CAUGHT);
  t.is(clock.reads, 0, 'no clock read');
  t.is(lastSpin.endedAt, 10 + FIRST_CHECKS_NS / 1e6);
  checks = 0;
  t.is(spinUntil(() => ++checks > 5, never, 10, 1_000_000, clock, false), SpinEnd.CAUGHT);
  t.is(clock.reads, 1, 'timed');
  // Past the first checks, every catch is timed, and a gap still means preempted.
  let armed = false;
  const gapClock = fakeClock(0.001, [0.001, 5]);
  t.is(spinUntil(() => armed, () => ((armed = gapClock.reads >= 1), false), 0, 100_000_000, gapClock, true), SpinEnd.PREEMPTED);
});

/**
 * A forward mailbox with both sides on this thread, for the server's tests: `publish`
 * sends `add(a, 1)` as call `seq`, as an agent would; `answer` reads the answer in the
 * mailbox now, with its call's seq.
 */
function addMailbox() {
  const box = oneThreadMailbox();
  return {
    ...box,
    publish: (seq: number, a: number): void => box.publish(seq, 'add', [a, 1]),
    answer: (): [number, number] => box.answer() as [number, number],
  };
}

/** Runs `server` until `done`, then closes it and the mailbox's ports, whatever happened. */
async function serveUntil(server: MailboxServer, box: { close(): void }, done: Promise<void>): Promise<void> {
  try {
    server.start();
    await done;
  } finally {
    server.close();
    box.close();
  }
}

/** A server of `mailbox` whose only method adds its two arguments; `served` collects the first of each call's. */
function addServer(mailbox: ServedMailbox, port: MessagePort, served: number[] = []): MailboxServer {
  return new MailboxServer(mailbox, port, {
    dispatch: (_command, payload) => {
      const [a, b] = payload as [number, number];
      served.push(a);
      return a + b;
    },
    asyncCallsStarted: () => undefined,
    maxMessageBytes: 1 << 20,
  });
}

test('server: a woken caller whose next request is already there is served, and its after-wake spin learns nothing from it', async (t) => {
  // One thread plays both sides: the mailbox's wakeCaller hook stands for a parked agent
  // that was woken by the answer and published its next request at once (it took the
  // node's core). Such requests are no evidence that spinning pays (see server.ts).
  const box = addMailbox();
  const calls = 50;
  let seq = 0;
  const answers: number[] = [];
  let allAnswered!: () => void;
  const done = new Promise<void>((resolve) => (allAnswered = resolve));
  const mailbox: ServedMailbox = {
    ...box.forward,
    wakeCaller() {
      answers.push(box.answer()[1]);
      if (answers.length < calls) box.publish(++seq, seq);
      else allAnswered();
      return true; // "the caller was parked, and has been woken"
    },
  };
  const server = addServer(mailbox, box.serverPort);
  const afterWake = (server as unknown as { policyAfterWake: SpinPolicy }).policyAfterWake;
  let asked = 0;
  let caught = 0;
  const nextBudget = afterWake.nextBudget.bind(afterWake);
  const caughtAt = afterWake.caught.bind(afterWake);
  afterWake.nextBudget = () => (asked++, nextBudget());
  afterWake.caught = (delayNs) => (caught++, caughtAt(delayNs));
  box.publish(++seq, seq);
  await serveUntil(server, box, done);
  t.deepEqual(answers, Array.from({ length: calls }, (_, i) => i + 2), 'every call answered, in order');
  t.is(caught, 0, 'no request that was already there counted as a catch');
  // Only after the last answer (no next request) may the policy be asked.
  t.true(asked <= 1, `the after-wake policy was asked ${asked} times`);
});

test('server: a caller whose next request is always there still lets the event loop turn', async (t) => {
  // The agent of an endless burst: each answer is followed at once by the next request,
  // and the caller spun for it (so the server spins for the next one too). The server
  // must still hand its thread back to the event loop every TURN_BUDGET_MS, or the
  // node's timers, sockets and HTTP server would starve for as long as the burst lasts.
  // Deterministic, unlike a burst between two threads (there a spinner that loses its
  // core parks, which yields whether or not the budget works).
  const box = addMailbox();
  const cap = 2_000_000; // far beyond one turn's calls: reaching it means the server never yielded
  let seq = 0;
  let served = 0;
  let turned = false;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const mailbox: ServedMailbox = {
    ...box.forward,
    wakeCaller() {
      served++;
      if (!turned && served < cap) box.publish(++seq, seq);
      else finish();
      return false; // the caller was spinning, not parked
    },
  };
  const server = new MailboxServer(mailbox, box.serverPort, {
    dispatch: (_command, payload) => (payload as [number, number])[0] + 1,
    asyncCallsStarted: () => undefined,
    maxMessageBytes: 1 << 20,
  });
  setImmediate(() => (turned = true));
  box.publish(++seq, seq);
  await serveUntil(server, box, done);
  t.true(turned, `the event loop did not turn during ${served} calls`);
  t.true(served < cap);
});

test('server: a request withdrawn while the server reads it is dropped, and the one sent in its place is served', async (t) => {
  // The server reads a body in the area before it claims the call (one CAS to SERVING).
  // Here the caller gives up on call 1 (a timeout: REQUEST → IDLE) and writes call 2
  // into the area while the server is reading call 1: the server's claim must fail, and
  // call 2 must be served from its own bytes, call 1 never answered.
  const box = addMailbox();
  const { forward, header } = box;
  let raced = false;
  const answers: Array<[number, number]> = [];
  let answered!: () => void;
  const done = new Promise<void>((resolve) => (answered = resolve));
  const mailbox: ServedMailbox = {
    ...forward,
    area: {
      current(end?: number) {
        if (!raced) {
          // Mid-read: call 1 is withdrawn and call 2 written over its bytes.
          raced = true;
          t.true(withdrawCall(header, 1), 'call 1 could still be withdrawn');
          box.publish(2, 41);
        }
        return forward.area.current(end);
      },
      encode: (value, limit) => forward.area.encode(value, limit),
    },
    wakeCaller() {
      answers.push(box.answer());
      answered();
      return false;
    },
  };
  const served: number[] = [];
  const server = addServer(mailbox, box.serverPort, served);
  box.publish(1, 9);
  await serveUntil(server, box, done);
  t.true(raced);
  t.deepEqual(served, [41], 'only call 2 reached its handler');
  t.deepEqual(answers, [[2, 42]], 'and only call 2 was answered');
});

// The fence (the id of the caller's last async request) is written by the caller: from
// an agent, untrusted. One that is no request id is refused for that call, on the event
// loop's path (start) and on a parked node's (serveNow), and never reaches the
// connection's whenIncomingStarted (whose TypeError is for its own callers).
for (const path of ['event loop', 'parked node'] as const) {
  test(`server (${path}): a request whose fence is no request id is answered with ProtocolError, not served; the next call is`, async (t) => {
    for (const fence of [-1, MAX_REQUEST_ID + 1, 2 ** 31 - 1]) {
      const box = addMailbox();
      const answers: Array<[number, unknown]> = [];
      const fences: number[] = [];
      let answered!: () => void;
      const done = new Promise<void>((resolve) => (answered = resolve));
      const mailbox: ServedMailbox = {
        ...box.forward,
        wakeCaller() {
          const seq = seqOf(Atomics.load(box.header, Slot.STATE));
          let answer: unknown;
          try {
            answer = box.answer()[1];
          } catch (error) {
            answer = error;
          }
          answers.push([seq, answer]);
          if (answers.length === 1) box.publish(2, 41);
          else answered();
          return false;
        },
      };
      const served: number[] = [];
      const dispatch = (_command: string, payload: unknown): number => {
        served.push((payload as number[])[0]!);
        return (payload as number[])[0]! + 1;
      };
      const server = new MailboxServer(mailbox, box.serverPort, {
        dispatch,
        asyncCallsStarted: (id) => {
          fences.push(id);
          return undefined;
        },
        maxMessageBytes: 1 << 20,
      });
      box.publish(1, 9);
      box.header[Slot.FENCE] = fence;
      if (path === 'parked node') {
        t.true(server.serveNow(dispatch), `fence ${fence}: answered at once`);
        t.true(server.serveNow(dispatch));
        server.close();
        box.close();
      } else {
        await serveUntil(server, box, done);
      }
      t.is(answers.length, 2, `fence ${fence}`);
      const [first, second] = answers;
      t.is(first![0], 1);
      t.true(first![1] instanceof ProtocolError, `fence ${fence}: ${String(first![1])}`);
      t.regex((first![1] as Error).message, /^\[agent-ipc\] blocking request from the agent with ordering fence -?\d+: not a request id/);
      t.deepEqual(second, [2, 42]);
      t.deepEqual(served, [41], `fence ${fence}: only the second call reached its handler`);
      t.deepEqual(fences, [0], `fence ${fence}: only the valid fence was looked up`);
    }
  });
}

test('Atomics.pause is used exactly where the runtime has it (not on Node.js 20 or 22)', (t) => {
  t.is(HAS_ATOMICS_PAUSE, typeof (Atomics as unknown as { pause?: unknown }).pause === 'function');
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) t.false(HAS_ATOMICS_PAUSE);
});

// ---- behaviour through real worker threads ----

const entry = new URL('./fixtures/blocking-agent.ts', import.meta.url);

/** The node's side; `parked` resolves once the agent's never-answered call reached the node. */
function nodeApi(): { api: BlockingNodeApi; parked: Promise<void> } {
  let reached!: () => void;
  const parked = new Promise<void>((resolve) => (reached = resolve));
  const api = {
    add: (a: number, b: number) => a + b,
    never: () => {
      reached();
      return new Promise<never>(() => undefined);
    },
  } as Partial<BlockingNodeApi> as BlockingNodeApi;
  return { api, parked };
}

async function start(t: { teardown(fn: () => unknown): void }): Promise<Agent<typeof BlockingAgent> & { parked: Promise<void> }> {
  const { api, parked } = nodeApi();
  const agent = await spawnAgent<typeof BlockingAgent>(entry, { isolation: 'thread', expose: api });
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return Object.assign(agent, { parked });
}

test('after a burst, a call the node never answers still times out', async (t) => {
  const agent = await start(t);
  const result = (await agent.remote.burstThenTimeout(3000, 50)) as Record<string, unknown>;
  t.is(result.sum, 3000);
  t.is(result.name, 'TimeoutError');
  // The mailbox stays usable, with the policy in whatever state the timeout left it.
  t.is(await agent.remote.burst(500), 500);
});

test('after a burst, close() wakes the parked agent', async (t) => {
  const agent = await start(t);
  const parked = agent.remote.burstThenParkForever(3000);
  await agent.parked;
  await new Promise((resolve) => setTimeout(resolve, 50));
  // A 30 s grace period: the agent must wake and leave by itself, long before it would be forced.
  await agent.close({ timeoutMs: 30_000 });
  t.is((await agent.exited).code, 0, 'exited by itself, not terminated');
  // Its method returned (woken with an error) or its answer was cut off by the close.
  const woke = (await parked.catch((error: Error) => ({ rejected: error.name }))) as Record<string, unknown>;
  t.true(woke.name === 'ConnectionClosedError' || woke.rejected === 'ConnectionClosedError' || woke.rejected === 'AgentExitedError', JSON.stringify(woke));
});

test('after a burst, a parked agent whose thread dies rejects the in-flight call', async (t) => {
  const agent = await start(t);
  const parked = agent.remote.burstThenParkForever(3000);
  await agent.parked;
  await new Promise((resolve) => setTimeout(resolve, 50));
  (agent as unknown as { terminate(): void }).terminate();
  await t.throwsAsync(parked, { instanceOf: AgentExitedError });
});

test('eight agents bursting at once against one node thread are all served, with right answers', async (t) => {
  const agents = await Promise.all(Array.from({ length: 8 }, () => start(t)));
  const sums = await Promise.all(agents.map((agent) => agent.remote.burst(2000)));
  t.deepEqual(sums, Array.from({ length: 8 }, () => 2000));
});

// Serial: ava runs serial tests before the others, so no other test's threads are busy meanwhile.
test.serial('nothing spins while idle: after bursts, an idle second costs next to no CPU', async (t) => {
  const agents = await Promise.all([start(t), start(t)]);
  // Bursts train both sides to spin; then everyone is idle.
  await Promise.all(agents.map((agent) => agent.remote.burst(5000)));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const before = process.cpuUsage();
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const used = process.cpuUsage(before);
  const cpuMs = (used.user + used.system) / 1000;
  const wallMs = performance.now() - started;
  // A spinning thread would use about the whole second (three threads could spin). The
  // bound is generous for a loaded machine: idle means timers and GC only.
  t.true(cpuMs < wallMs * 0.25, `used ${cpuMs.toFixed(0)} ms of CPU in ${wallMs.toFixed(0)} ms idle`);
});
