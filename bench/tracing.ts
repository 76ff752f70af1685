/**
 * The cost of tracing: async calls (node → agent, 256 in flight), blocking calls (agent →
 * node, back to back, timed in the agent) and the node's blocking calls into the agent
 * (`agent.blocking`, back to back, timed in the node; thread and inline only), with
 * nobody subscribed to `agent-ipc:call`, with one subscriber (handlers that do nothing),
 * and optionally against other builds of the library (`--baseline [label=]dir`, repeatable:
 * e.g. the commit before the call observer, or this commit with the observer switched
 * off), all in the same process. Rounds are interleaved (every variant measured in every
 * round, in a new random order) and medians of per-round ratios are reported, with the
 * middle half of those ratios (quartiles), because the 2-core machines vary several-fold
 * from minute to minute.
 *
 *   npx tsup && node --expose-gc --import=tsx bench/tracing.ts [--rounds 15] [--isolation thread|inline|process]
 *     [--baseline [label=]<dir with index.js and agent.js>]... [--only <variant>,...]
 *
 * Inline agents run on the node's thread: the least noisy view of the per-call cost.
 * `--only` keeps just the named variants (for `node --cpu-prof`).
 *
 * Not part of `npm run bench` (its suites are in bench/suites/).
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { benchAgentModule, type BuildAgent, type BuildLib } from './harness/build-variants.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    baseline: { type: 'string', multiple: true },
    only: { type: 'string' },
    isolation: { type: 'string', default: 'thread' },
    calls: { type: 'string', default: '50000' },
    blocking: { type: 'string', default: '20000' },
  },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const BLOCKING_CALLS = Number(values.blocking);
const IN_FLIGHT = 256;
const ISOLATION = values.isolation;

type Lib = BuildLib;
type BenchAgent = BuildAgent;

const work = mkdtempSync(path.join(tmpdir(), 'agent-ipc-tracing-bench-'));
// Removed however the run ends: a baseline that fails to load used to leave it behind.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/**
 * A build's entry points, as module instances of their own (a query string per `name`):
 * each variant runs its own copy of the code, so the JIT's feedback from traced calls
 * (context objects where numbers were) does not slow the untraced variant, and each
 * copy is optimised for what it measures, as in a process that never traces.
 */
async function load(dir: string, name: string): Promise<{ lib: Lib; entry: URL }> {
  const lib = (await import(`${pathToFileURL(path.join(dir, 'index.js')).href}?${name}`)) as Lib;
  return { lib, entry: benchAgentModule(work, name, path.join(dir, 'agent.js')) };
}

/** Calls/s of `calls` pipelined `add` calls. */
async function asyncRate(agent: BenchAgent): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const lane = async (): Promise<void> => {
    while (next < CALLS) {
      const i = next++;
      if ((await agent.remote.add(i, 1)) !== i + 1) throw new Error('wrong answer');
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return CALLS / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** µs per blocking call, timed in the agent. */
async function blockingMicros(agent: BenchAgent): Promise<number> {
  return (await agent.remote.burst(BLOCKING_CALLS)) / BLOCKING_CALLS / 1000;
}

/** µs per blocking call of the node into the agent, timed in the node; NaN where there are none. */
function nodeBlockingMicros(agent: BenchAgent): number {
  const blocking = agent.blocking;
  if (!blocking || ISOLATION === 'process') return NaN;
  const start = process.hrtime.bigint();
  for (let i = 0; i < BLOCKING_CALLS; i++) if (blocking.add(i, 1) !== i + 1) throw new Error('wrong answer');
  return Number(process.hrtime.bigint() - start) / BLOCKING_CALLS / 1000;
}

const noop = (): void => undefined;
const subscriber = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
const calls = tracingChannel('agent-ipc:call');

interface Variant {
  name: string;
  agent: BenchAgent;
  traced: boolean;
}

const spawn = (lib: Lib, entry: URL, name: string): Promise<BenchAgent> =>
  lib.spawnAgent(entry, { name, isolation: ISOLATION, expose: { add: (a: number, b: number) => a + b } });
const untraced = await load(path.resolve('dist'), 'untraced');
const traced = await load(path.resolve('dist'), 'traced');
const variants: Variant[] = [];
for (const [k, spec] of (values.baseline ?? []).entries()) {
  const at = spec.indexOf('=');
  const name = at > 0 ? spec.slice(0, at) : k === 0 ? 'baseline build' : `baseline ${k + 1}`;
  const baseline = await load(path.resolve(at > 0 ? spec.slice(at + 1) : spec), `baseline-${k}`);
  variants.push({ name, agent: await spawn(baseline.lib, baseline.entry, `baseline-${k}`), traced: false });
}
variants.push({ name: 'no subscriber', agent: await spawn(untraced.lib, untraced.entry, 'untraced'), traced: false });
variants.push({ name: 'one subscriber', agent: await spawn(traced.lib, traced.entry, 'traced'), traced: true });
const only = values.only?.split(',');
const measured = only ? variants.filter((v) => only.includes(v.name)) : variants;

type Measure = 'async' | 'blocking' | 'nodeBlocking';
const samples = new Map<string, Record<Measure, number[]>>(variants.map((v) => [v.name, { async: [], blocking: [], nodeBlocking: [] }]));
/** xorshift32, seeded: the same orders in every run. */
let seed = 0x9e3779b9;
const random = (n: number): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};
/** `xs` in a new random order (Fisher–Yates). */
const shuffled = <T>(xs: T[]): T[] => {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};
const gc = (globalThis as { gc?: () => void }).gc;
for (let round = -1; round < ROUNDS; round++) {
  // A new order every round, so no variant always runs first or right after another (a
  // rotation would keep each one's predecessor, and the garbage the traced variant
  // leaves would always be collected in the same variant's time). With --expose-gc,
  // each variant starts from a collected heap.
  for (const v of shuffled(measured)) {
    gc?.();
    if (v.traced) calls.subscribe(subscriber);
    try {
      const rate = await asyncRate(v.agent);
      const micros = await blockingMicros(v.agent);
      const nodeMicros = nodeBlockingMicros(v.agent);
      // Round -1 warms up (JIT, spin budgets) and is not kept.
      if (round >= 0) {
        const s = samples.get(v.name)!;
        s.async.push(rate);
        s.blocking.push(micros);
        s.nodeBlocking.push(nodeMicros);
      }
    } finally {
      if (v.traced) calls.unsubscribe(subscriber);
    }
  }
  if (round >= 0) process.stdout.write(`round ${round + 1}/${ROUNDS}\r`);
}
for (const v of variants) await v.agent.close();

/** The q-quantile of `xs` (linear interpolation); NaN for none. */
const quantile = (xs: number[], q: number): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo);
};
const median = (xs: number[]): number => quantile(xs, 0.5);
const reference = samples.get('no subscriber')!;
console.log(
  `\n${ISOLATION} agents, ${ROUNDS} rounds; async: ${CALLS} calls, ${IN_FLIGHT} in flight; blocking: ${BLOCKING_CALLS} back-to-back calls; Node ${process.version}; load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log('Ratios: this variant ÷ no subscriber, per round; median [quartiles]. Async: calls/s (lower is slower); blocking: µs/call (higher is slower).');
const cell = (xs: number[], digits: number): string => median(xs).toFixed(digits);
const ratio = (xs: number[], ref: number[]): string => {
  const r = xs.map((x, i) => x / ref[i]!);
  return Number.isNaN(median(r)) ? '—' : `${median(r).toFixed(3)} [${quantile(r, 0.25).toFixed(2)}–${quantile(r, 0.75).toFixed(2)}]`;
};
console.log(
  `${'variant'.padEnd(18)} ${'async calls/s'.padStart(13)} ${'ratio'.padStart(19)}  ${'agent→node blk µs'.padStart(17)} ${'ratio'.padStart(19)}  ${'node→agent blk µs'.padStart(17)} ${'ratio'.padStart(19)}`,
);
for (const v of measured) {
  const s = samples.get(v.name)!;
  console.log(
    `${v.name.padEnd(18)} ${cell(s.async, 0).padStart(13)} ${ratio(s.async, reference.async).padStart(19)}  ${cell(s.blocking, 3).padStart(17)} ${ratio(s.blocking, reference.blocking).padStart(19)}  ${cell(s.nodeBlocking, 3).padStart(17)} ${ratio(s.nodeBlocking, reference.nodeBlocking).padStart(19)}`,
  );
}
