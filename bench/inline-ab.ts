/**
 * An inline agent's blocking call into the node (`main.blocking.add(i, 1)` back to back),
 * in ns a call, for this build and other builds of the library, **each build in
 * processes of its own**: a round starts one process per build, in a new random order,
 * and each process reports the median of its bursts; the table gives the median of those
 * per-process figures, with quartiles, and each other build's median ratio to this one
 * over the rounds (the paired figure, which the machine's drift between rounds cancels).
 *
 *   npx tsup && node --import=tsx bench/inline-ab.ts [--rounds 12] [--calls 1000000] [--bursts 9]
 *     [--node <path to another node binary>] [--baseline [label=]<dir with index.js and agent.js>]...
 *
 * Why processes: an inline call is ~30–100 ns, most of it decided by what V8 inlines into
 * the agent's calling loop (see "Hot paths" in docs/blocking-calls.md). That decision
 * differs between runs of the same code, and two builds in one process also share the
 * runtime's own functions and their feedback. One process per measurement takes both out
 * of the comparison; `bench/tracing.ts` (one process, interleaved) is the view with the
 * other call kinds.
 *
 * Not part of `npm run bench` (its suites are in bench/suites/).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadBuild } from './harness/build-variants.ts';
import { summarize } from './harness/stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '12' },
    calls: { type: 'string', default: '1000000' },
    bursts: { type: 'string', default: '9' },
    node: { type: 'string', default: process.execPath },
    baseline: { type: 'string', multiple: true },
    child: { type: 'string' },
  },
});
const CALLS = Number(values.calls);
const BURSTS = Number(values.bursts);

if (values.child !== undefined) {
  // One build, one process: the median ns a call of BURSTS bursts (the first warms up).
  const work = mkdtempSync(path.join(tmpdir(), 'agent-ipc-inline-ab-'));
  try {
    const { lib, entry } = await loadBuild(values.child, 'build', work);
    const agent = await lib.spawnAgent(entry, { isolation: 'inline', expose: { add: (a: number, b: number) => a + b } });
    const perCall: number[] = [];
    await agent.remote.burst(CALLS);
    for (let i = 0; i < BURSTS; i++) perCall.push((await agent.remote.burst(CALLS)) / CALLS);
    await agent.close();
    process.stdout.write(`${summarize(perCall).median}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
} else {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const builds: Array<{ label: string; dir: string }> = [{ label: 'this build', dir: path.join(here, '..', 'dist') }];
  for (const given of values.baseline ?? []) {
    const at = given.indexOf('=');
    builds.push(at > 0 ? { label: given.slice(0, at), dir: given.slice(at + 1) } : { label: path.basename(given), dir: given });
  }
  const rounds = Number(values.rounds);
  const figures = new Map(builds.map((b) => [b.label, [] as number[]]));
  const load = loadavg()[0]!.toFixed(1);
  for (let round = 0; round < rounds; round++) {
    const order = [...builds];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const build of order) {
      const out = execFileSync(values.node, ['--import=tsx', fileURLToPath(import.meta.url), '--child', build.dir, '--calls', String(CALLS), '--bursts', String(BURSTS)], {
        encoding: 'utf8',
      });
      figures.get(build.label)!.push(Number(out.trim()));
    }
    process.stdout.write(`round ${round + 1}/${rounds}\r`);
  }
  const version = execFileSync(values.node, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`inline agent, main.blocking.add back to back: ${rounds} rounds of one process per build, ${BURSTS} bursts of ${CALLS} calls each; Node ${version}; load ${load} → ${loadavg()[0]!.toFixed(1)}`);
  // Per-round ratios as well: the machine's speed drifts between rounds (this VM's by
  // 1.5× within minutes), and a ratio of two builds measured in the same round cancels it.
  const ours = figures.get(builds[0]!.label)!;
  console.log('build'.padEnd(24) + 'ns/call median'.padStart(16) + '   quartiles' + '   ÷ this build, per round: median [quartiles]');
  for (const { label } of builds) {
    const s = summarize(figures.get(label)!);
    const ratio = summarize(figures.get(label)!.map((ns, round) => ns / ours[round]!));
    const ratioText = label === builds[0]!.label ? '' : `   ${ratio.median.toFixed(3)} [${ratio.q1.toFixed(3)}–${ratio.q3.toFixed(3)}]`;
    console.log(label.padEnd(24) + s.median.toFixed(1).padStart(16) + `   ${s.q1.toFixed(1)}–${s.q3.toFixed(1)}`.padEnd(14) + ratioText);
  }
}
