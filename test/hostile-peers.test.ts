/**
 * Hostile peers over real TCP: random bytes, invalid UTF-8, NUL bytes, over-long lines,
 * half lines, slow drips, floods of lines, and connections opened and dropped by the
 * thousand — while well-behaved clients keep doing request/response. The node must keep
 * answering them correctly, close each hostile connection with the documented reason,
 * and end up tracking, running and holding nothing more than before.
 *
 * Serial: the heap figures of one server must not include another test's.
 */
import test, { type ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import type { Isolation } from '../src/index.ts';
import type { LineAgents } from '../src/lines/index.ts';
import { LineReceiver } from '../src/lines/shared/line-receiver.ts';
import { Arena } from './fixtures/hostile/arena.ts';
import { agentFootprint, collector, settledHeap, until } from './fixtures/hostile/footprint.ts';
import * as peers from './fixtures/hostile/scenarios.ts';

const MiB = 1024 * 1024;
/** Fixed, so a failure replays; the bench varies it. */
const SEED = 0x5eed;

/** How much of each kind of hostility one round throws. */
interface Round {
  random: number;
  /** connect-and-close peers whose disconnect reason is checked */
  quickCloses: number;
  /** bare connect/close cycles */
  cycles: number;
  parallel: number;
  /** Run the hand-made inputs (invalid UTF-8, NUL, over-long, half lines, drips, floods). */
  handMade: boolean;
}

async function round(t: ExecutionContext, arena: Arena, size: Round, seed: number): Promise<void> {
  const scenarios: Array<() => Promise<peers.ScenarioReport>> = [];
  if (size.handMade) {
    scenarios.push(
      () => peers.invalidUtf8(arena),
      () => peers.nulBytes(arena),
      () => peers.overLong(arena),
      () => peers.halfLines(arena),
      () => peers.slowDrip(arena),
      () => peers.manyLines(arena),
    );
  }
  if (size.random > 0) scenarios.push(() => peers.randomBytes(arena, size.random, seed, size.parallel));
  if (size.quickCloses > 0) scenarios.push(() => peers.connectClose(arena, size.quickCloses, size.parallel, true));
  if (size.cycles > 0) scenarios.push(() => peers.connectClose(arena, size.cycles, size.parallel, false));
  for (const scenario of scenarios) {
    const report = await scenario();
    t.deepEqual(report.problems, [], report.kind);
    t.is(report.closed, report.tried, `${report.kind}: every hostile connection closed`);
    t.true(await arena.stillServing(), `${report.kind}: the good clients are still answered`);
    t.deepEqual(arena.wrongAnswers, [], `${report.kind}: every echo to a good client was right`);
  }
}

/**
 * One server, two good clients: a small warm-up round (so lazily made things exist
 * before the baseline), then the real round; afterwards only the good clients may be
 * left, with no agent above the baseline and a flat heap.
 */
async function hostileRun(t: ExecutionContext, isolation: Isolation, agents: LineAgents, size: Round): Promise<void> {
  const gcAvailable = collector() !== undefined;
  const arena = await Arena.open(isolation, 2, agents);
  try {
    // The good clients' agents (or the pool) are running: that is the baseline.
    const agentsBefore = agentFootprint();
    await round(t, arena, { random: 4, quickCloses: 4, cycles: 0, parallel: 4, handMade: true }, SEED + 1);
    t.deepEqual(await peers.settle(arena, agentsBefore), []);
    const heapBefore = await settledHeap();

    await round(t, arena, size, SEED);

    t.deepEqual(await peers.settle(arena, agentsBefore), [], 'back to the good clients only, no agent left over');
    const goodPorts = arena.good.map((good) => good.localPort).sort();
    t.deepEqual(arena.server.connections.map((info) => info.peer.port).sort(), goodPorts);
    t.is(arena.tracked, arena.good.length, 'no finished connection is still tracked');
    const heapAfter = await settledHeap();
    const growth = heapAfter.heapUsed - heapBefore.heapUsed;
    t.log(
      `${isolation}/${typeof agents === 'string' ? agents : `pool ${agents.pool}`}: good answers ${arena.answered}, hostile connects ${arena.totals.connects - arena.good.length}, ` +
        `disconnects ${arena.totals.disconnects}, errors ${arena.totals.errors}; heap ${(heapBefore.heapUsed / MiB).toFixed(1)} → ${(heapAfter.heapUsed / MiB).toFixed(1)} MiB ` +
        `(${gcAvailable ? 'after gc' : 'no gc: generous bound'})`,
    );
    if (gcAvailable) t.true(growth < 8 * MiB, `heap grew by ${(growth / MiB).toFixed(1)} MiB`);
    else t.true(heapAfter.heapUsed < 2 * heapBefore.heapUsed + 16 * MiB, `heap ${heapBefore.heapUsed} → ${heapAfter.heapUsed}`);
  } finally {
    await arena.close();
  }
  t.deepEqual(arena.server.connections, []);
  t.deepEqual(arena.wrongAnswers, []);
}

test.serial('inline, an agent per connection: every kind of hostile peer, 1,000 connect/close cycles', (t) =>
  hostileRun(t, 'inline', 'per-connection', { random: 200, quickCloses: 20, cycles: 1000, parallel: 50, handMade: true }),
);

// A thread agent per connection costs a worker start each (~0.1–0.3 s of CPU), so this
// round is smaller; the 1,000 cycles run against a thread pool below and in the bench.
test.serial('thread, an agent per connection: every kind of hostile peer; every agent exits', (t) =>
  hostileRun(t, 'thread', 'per-connection', { random: 24, quickCloses: 8, cycles: 40, parallel: 8, handMade: true }),
);

test.serial('thread, a pool of 2 agents: random bytes and 1,000 connect/close cycles', (t) =>
  hostileRun(t, 'thread', { pool: 2 }, { random: 100, quickCloses: 20, cycles: 1000, parallel: 50, handMade: false }),
);

test.serial('process, an agent per connection: invalid UTF-8, over-long lines, random bytes; every process exits', async (t) => {
  const arena = await Arena.open('process', 1);
  try {
    const agentsBefore = agentFootprint();
    for (const scenario of [() => peers.invalidUtf8(arena), () => peers.overLong(arena), () => peers.randomBytes(arena, 6, SEED, 3), () => peers.connectClose(arena, 4, 4, true)]) {
      const report = await scenario();
      t.deepEqual(report.problems, [], report.kind);
      t.true(await arena.stillServing(), `${report.kind}: the good client is still answered`);
    }
    t.deepEqual(await peers.settle(arena, agentsBefore), [], 'back to the good client only, every agent process gone');
    t.deepEqual(arena.wrongAnswers, []);
  } finally {
    await arena.close();
  }
  // The child's handle is released a turn after its exit, which close() awaited.
  await t.notThrowsAsync(until(() => agentFootprint().processes === 0, 'the agent processes to be released', 10_000));
});

// Found by the slow-drip peer: the receiver held an unfinished line as one Buffer per
// TCP read, so a peer sending one byte per segment cost the node ~100 bytes of heap per
// byte — a 64 KiB line held ~6.6 MiB, not 64 KiB. Checked on the receiver, where a
// "read" is exactly what the test makes it, rather than on TCP timing.
test.serial('a slowly dripped unfinished line costs the node about its bytes, not an object per byte', async (t) => {
  if (!collector()) {
    t.log('no gc available: memory cannot be measured precisely; skipped');
    t.pass();
    return;
  }
  const peersHeld = 16;
  const lineBytes = 65_535;
  const before = await settledHeap();
  const receivers: LineReceiver[] = [];
  let lines = 0;
  for (let peer = 0; peer < peersHeld; peer++) {
    const receiver = new LineReceiver({ delimiter: '\r\n', maxLineLength: 65_536 });
    for (let i = 0; i < lineBytes; i++) lines += receiver.push(Buffer.of(0x61)).lines.length;
    receivers.push(receiver);
  }
  const after = await settledHeap();
  t.is(lines, 0);
  t.true(receivers.every((receiver) => receiver.buffered === lineBytes));
  const perPeer = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / peersHeld;
  t.log(`held per dripping peer: ${(perPeer / 1024).toFixed(0)} KiB for a ${(lineBytes / 1024).toFixed(0)} KiB line`);
  // Room for the doubling buffer (up to 2×) and noise; before the fix it was ~100×.
  t.true(perPeer < 4 * lineBytes, `${perPeer} bytes held per peer`);
  // The line still completes, intact.
  const done = receivers[0]!.push(Buffer.from('\r\n'));
  t.is(done.lines.length, 1);
  t.is(done.lines[0], 'a'.repeat(lineBytes));
});
