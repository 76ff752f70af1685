/**
 * The cost of tracing: async calls (node → agent, 256 in flight) and blocking calls
 * (agent → node, back to back) on thread agents, with nobody subscribed to
 * `agent-ipc:call`, with one subscriber (handlers that do nothing), and optionally
 * against another build of the library (`--baseline`, e.g. the commit before the call
 * observer), all in the same process. Rounds are interleaved (every variant measured in
 * every round, in a rotating order) and medians of per-round ratios are reported,
 * because the 2-core machines vary several-fold from minute to minute.
 *
 *   npx tsup && node --import=tsx bench/tracing.ts [--rounds 15] [--isolation thread|inline|process] [--baseline <dir with index.js and agent.js>]
 *
 * Inline agents run on the node's thread: the least noisy view of the per-call cost.
 *
 * Not part of `npm run bench` (its suites are in bench/suites/).
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, baseline: { type: 'string' }, isolation: { type: 'string', default: 'thread' }, calls: { type: 'string', default: '50000' }, blocking: { type: 'string', default: '20000' } } });
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const BLOCKING_CALLS = Number(values.blocking);
const IN_FLIGHT = 256;
const ISOLATION = values.isolation;

interface Lib {
  spawnAgent(entry: URL, options: object): Promise<BenchAgent>;
}
interface BenchAgent {
  remote: { add(a: number, b: number): Promise<number>; burst(calls: number): Promise<number> };
  close(): Promise<void>;
}

const work = mkdtempSync(path.join(tmpdir(), 'agent-ipc-tracing-bench-'));

/** An agent module (plain JS, so any build can load it) importing `agentEntry`. */
function agentModule(name: string, agentEntry: string): URL {
  const file = path.join(work, `${name}.mjs`);
  writeFileSync(
    file,
    `import { defineAgent } from ${JSON.stringify(pathToFileURL(agentEntry).href)};
export default defineAgent((main) => ({
  add: (a, b) => a + b,
  burst(calls) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) if (main.blocking.add(i, 1) !== i + 1) throw new Error('wrong answer');
    return Number(process.hrtime.bigint() - start);
  },
}));
`,
  );
  return pathToFileURL(file);
}

async function load(dir: string, name: string): Promise<{ lib: Lib; entry: URL }> {
  const lib = (await import(pathToFileURL(path.join(dir, 'index.js')).href)) as Lib;
  return { lib, entry: agentModule(name, path.join(dir, 'agent.js')) };
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

const noop = (): void => undefined;
const subscriber = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
const calls = tracingChannel('agent-ipc:call');

interface Variant {
  name: string;
  agent: BenchAgent;
  traced: boolean;
}

const current = await load(path.resolve('dist'), 'current');
const variants: Variant[] = [
  { name: 'no subscriber', agent: await current.lib.spawnAgent(current.entry, { name: 'untraced', isolation: ISOLATION, expose: { add: (a: number, b: number) => a + b } }), traced: false },
  { name: 'one subscriber', agent: await current.lib.spawnAgent(current.entry, { name: 'traced', isolation: ISOLATION, expose: { add: (a: number, b: number) => a + b } }), traced: true },
];
if (values.baseline) {
  const baseline = await load(path.resolve(values.baseline), 'baseline');
  variants.unshift({ name: 'baseline build', agent: await baseline.lib.spawnAgent(baseline.entry, { name: 'baseline', isolation: ISOLATION, expose: { add: (a: number, b: number) => a + b } }), traced: false });
}

const samples = new Map<string, { async: number[]; blocking: number[] }>(variants.map((v) => [v.name, { async: [], blocking: [] }]));
for (let round = -1; round < ROUNDS; round++) {
  // Rotate the order so no variant always runs first (or right after another).
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(k + Math.max(round, 0)) % variants.length]!;
    if (v.traced) calls.subscribe(subscriber);
    try {
      const rate = await asyncRate(v.agent);
      const micros = await blockingMicros(v.agent);
      // Round -1 warms up (JIT, spin budgets) and is not kept.
      if (round >= 0) {
        samples.get(v.name)!.async.push(rate);
        samples.get(v.name)!.blocking.push(micros);
      }
    } finally {
      if (v.traced) calls.unsubscribe(subscriber);
    }
  }
  if (round >= 0) process.stdout.write(`round ${round + 1}/${ROUNDS}\r`);
}
for (const v of variants) await v.agent.close();
rmSync(work, { recursive: true, force: true });

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const reference = variants.find((v) => v.name === 'no subscriber')!.name;
console.log(`\n${ISOLATION} agents, ${ROUNDS} rounds; async: ${CALLS} calls, ${IN_FLIGHT} in flight; blocking: ${BLOCKING_CALLS} back-to-back calls; Node ${process.version}`);
console.log('variant            async calls/s   vs no-sub   blocking µs/call   vs no-sub');
for (const v of variants) {
  const s = samples.get(v.name)!;
  const ref = samples.get(reference)!;
  // Ratios are taken per round (both measured within seconds), then the median.
  const asyncRatio = median(s.async.map((x, i) => x / ref.async[i]!));
  const blockingRatio = median(s.blocking.map((x, i) => x / ref.blocking[i]!));
  console.log(
    `${v.name.padEnd(18)} ${median(s.async).toFixed(0).padStart(13)}   ${asyncRatio.toFixed(3).padStart(9)}   ${median(s.blocking).toFixed(2).padStart(16)}   ${blockingRatio.toFixed(3).padStart(9)}`,
  );
}
