/**
 * What the hardening of issue #14 costs on the hot paths: pipelined async calls (node →
 * agent, 256 in flight), the same the other way (agent → node, `main.async`, answered by
 * the node: "served") and back-to-back blocking calls (agent → node, `main.blocking`),
 * this build against a build of the commit before the hardening landed (before the
 * sandbox, lifecycle and hostile merges: `9495a7a` by default), both in the same process.
 * Rounds are interleaved and medians of per-round ratios reported (see
 * bench/harness/build-variants.ts): the 2-core machines vary several-fold from minute to
 * minute. Inline agents give the least noisy view of the per-call cost (no second
 * thread); thread agents the usual one. Target: within 5% on both.
 *
 *   npx tsup && node --import=tsx bench/hardening.ts [--rounds 15] [--isolation inline,thread]
 *     [--baseline-rev 9495a7a | --baseline <dir with index.js and agent.js>] [--current <dir>]
 *
 * This build carries more than the hardening (later work on spin policy, observation,
 * blocking calls from the node). `--current` measures another build instead of `dist/`:
 * a build of the hostile merge (`6bc011a`) against `9495a7a` isolates the hardening.
 *
 * Not part of `npm run bench` (its suites are in bench/suites/).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { blockingMicros, buildCommit, interleavedRounds, loadBuild, pipelinedRate, roundRatios, servedRate, type BuildAgent } from './harness/build-variants.ts';
import { describeMachine, machineLine } from './harness/machine.ts';
import { summarize } from './harness/stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    isolation: { type: 'string', default: 'inline,thread' },
    baseline: { type: 'string' },
    current: { type: 'string', default: 'dist' },
    'baseline-rev': { type: 'string', default: '9495a7a' },
    calls: { type: 'string', default: '50000' },
    blocking: { type: 'string', default: '20000' },
  },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const BLOCKING_CALLS = Number(values.blocking);
const IN_FLIGHT = 256;

const work = mkdtempSync(path.join(os.tmpdir(), 'agent-ipc-hardening-bench-'));
const built = values.baseline ? undefined : buildCommit(process.cwd(), values['baseline-rev']);
try {
  const current = await loadBuild(path.resolve(values.current), 'current', work);
  const baseline = await loadBuild(values.baseline ? path.resolve(values.baseline) : built!.distDir, 'baseline', work);
  const load0 = os.loadavg()[0];
  console.log(`${machineLine(describeMachine())}; load average at start ${load0.toFixed(1)}`);
  console.log(`baseline: ${values.baseline ?? values['baseline-rev']}; this build: ${values.current}; ${ROUNDS} rounds; async: ${CALLS} calls, ${IN_FLIGHT} in flight; blocking: ${BLOCKING_CALLS} back-to-back calls`);
  for (const isolation of values.isolation.split(',')) {
    const expose = { add: (a: number, b: number) => a + b };
    const variants: { name: string; agent: BuildAgent }[] = [
      { name: 'before hardening', agent: await baseline.lib.spawnAgent(baseline.entry, { name: 'baseline', isolation, expose }) },
      { name: 'this build', agent: await current.lib.spawnAgent(current.entry, { name: 'current', isolation, expose }) },
    ];
    const samples = await interleavedRounds(variants, ['async', 'served', 'blocking'] as const, ROUNDS, async (v) => ({
      async: await pipelinedRate(v.agent, CALLS, IN_FLIGHT),
      served: await servedRate(v.agent, CALLS, IN_FLIGHT),
      blocking: await blockingMicros(v.agent, BLOCKING_CALLS),
    }));
    for (const v of variants) await v.agent.close();
    const before = samples.get('before hardening')!;
    const after = samples.get('this build')!;
    // Cost as a fraction: async is a rate (lower is worse), blocking a time (higher is worse).
    const asyncCost = roundRatios(before.async, after.async);
    const servedCost = roundRatios(before.served, after.served);
    const blockingCost = roundRatios(after.blocking, before.blocking);
    const pct = (r: number): string => `${((r - 1) * 100).toFixed(1)}%`;
    console.log(`\n${isolation} agents (load average now ${os.loadavg()[0].toFixed(1)}):`);
    console.log(
      `  async calls/s     before ${summarize(before.async).median.toFixed(0)}, this build ${summarize(after.async).median.toFixed(0)}; ` +
        `cost (median of per-round ratios) ${pct(asyncCost.median)}, middle half ${pct(asyncCost.q1)} … ${pct(asyncCost.q3)}`,
    );
    console.log(
      `  served calls/s    before ${summarize(before.served).median.toFixed(0)}, this build ${summarize(after.served).median.toFixed(0)}; ` +
        `cost (median of per-round ratios) ${pct(servedCost.median)}, middle half ${pct(servedCost.q1)} … ${pct(servedCost.q3)}`,
    );
    console.log(
      `  blocking µs/call  before ${summarize(before.blocking).median.toFixed(2)}, this build ${summarize(after.blocking).median.toFixed(2)}; ` +
        `cost (median of per-round ratios) ${pct(blockingCost.median)}, middle half ${pct(blockingCost.q1)} … ${pct(blockingCost.q3)}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
  built?.remove();
}
