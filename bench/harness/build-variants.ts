/**
 * Builds of agent-ipc side by side in one process, for benchmarks that compare this
 * build with another (an older commit, a branch): load a built `dist/` directory, give
 * it an agent module of its own, build a commit into a temporary worktree, and measure
 * the two hot paths every such comparison wants — pipelined async calls (node → agent)
 * and back-to-back blocking calls (agent → node, `main.blocking`) — in interleaved rounds.
 *
 * The agent modules are plain JavaScript that import the build's own `agent.js`, so any
 * build can load them, old or new.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { summarize, type Summary } from './stats.ts';

/** What the benches need of a build's `agent-ipc` entry point. */
export interface BuildLib {
  spawnAgent(entry: URL, options: object): Promise<BuildAgent>;
}

/** An agent spawned from {@link benchAgentModule}. */
export interface BuildAgent {
  remote: { add(a: number, b: number): Promise<number>; burst(calls: number): Promise<number>; served(calls: number, inFlight: number): Promise<number> };
  /** Absent in builds before `agent.blocking`. */
  blocking?: { add(a: number, b: number): number };
  close(): Promise<void>;
}

/** A loaded build: its entry point and an agent module bound to its `agent.js`. */
export interface LoadedBuild {
  lib: BuildLib;
  entry: URL;
}

/**
 * Writes the bench agent module into `workDir`: `add(a, b)`, and `burst(n)`, which makes
 * `n` blocking calls to the node's `add` and returns the nanoseconds they took (timed in
 * the agent, so the node's scheduling of the async call around it does not count). It
 * imports `agentEntry` as a module instance of its own (`?name`), so variants of one
 * build do not share JIT feedback.
 */
export function benchAgentModule(workDir: string, name: string, agentEntry: string): URL {
  const file = path.join(workDir, `${name}.mjs`);
  writeFileSync(
    file,
    `import { defineAgent } from ${JSON.stringify(`${pathToFileURL(agentEntry).href}?${name}`)};
export default defineAgent((main) => ({
  add: (a, b) => a + b,
  burst(calls) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) if (main.blocking.add(i, 1) !== i + 1) throw new Error('wrong answer');
    return Number(process.hrtime.bigint() - start);
  },
  async served(calls, inFlight) {
    let next = 0;
    const lane = async () => {
      while (next < calls) {
        const i = next++;
        if ((await main.async.add(i, 1)) !== i + 1) throw new Error('wrong answer');
      }
    };
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, lane));
    return Number(process.hrtime.bigint() - start);
  },
}));
`,
  );
  return pathToFileURL(file);
}

/** Imports the build in `distDir` (with `index.js` and `agent.js`) and writes its agent module. */
export async function loadBuild(distDir: string, name: string, workDir: string): Promise<LoadedBuild> {
  const lib = (await import(pathToFileURL(path.join(distDir, 'index.js')).href)) as BuildLib;
  return { lib, entry: benchAgentModule(workDir, name, path.join(distDir, 'agent.js')) };
}

/**
 * Builds `rev` of the repository at `repoDir` into a temporary detached worktree (sharing
 * this checkout's node_modules) and returns its `dist/`; `remove` deletes the worktree.
 */
export function buildCommit(repoDir: string, rev: string): { distDir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-ipc-build-'));
  rmSync(dir, { recursive: true, force: true });
  execFileSync('git', ['-C', repoDir, 'worktree', 'add', '--detach', dir, rev], { stdio: 'ignore' });
  const remove = (): void => {
    execFileSync('git', ['-C', repoDir, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' });
  };
  try {
    symlinkSync(path.join(repoDir, 'node_modules'), path.join(dir, 'node_modules'));
    execFileSync('npx', ['tsup', '--silent'], { cwd: dir, stdio: 'inherit' });
    if (!existsSync(path.join(dir, 'dist', 'index.js'))) throw new Error(`building ${rev} left no dist/index.js`);
  } catch (error) {
    remove();
    throw error;
  }
  return { distDir: path.join(dir, 'dist'), remove };
}

/** Calls/s of `calls` `add` calls, `inFlight` at a time. */
export async function pipelinedRate(agent: BuildAgent, calls: number, inFlight: number): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const lane = async (): Promise<void> => {
    while (next < calls) {
      const i = next++;
      if ((await agent.remote.add(i, 1)) !== i + 1) throw new Error('wrong answer');
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return calls / (Number(process.hrtime.bigint() - start) / 1e9);
}

/**
 * Calls/s of `calls` agent → node async calls (`main.async.add`, served by the node's
 * `expose`), `inFlight` at a time, timed in the agent: the path on which the node
 * answers, which the node → agent {@link pipelinedRate} does not take.
 */
export async function servedRate(agent: BuildAgent, calls: number, inFlight: number): Promise<number> {
  const ns = await agent.remote.served(calls, inFlight);
  return calls / (ns / 1e9);
}

/** µs per blocking call over `calls` back-to-back calls, timed in the agent. */
export async function blockingMicros(agent: BuildAgent, calls: number): Promise<number> {
  return (await agent.remote.burst(calls)) / calls / 1000;
}

/** Samples of each metric, per variant, one per measured round. */
export type RoundSamples<M extends string> = Map<string, Record<M, number[]>>;

/**
 * Runs `measure` for every variant in every round, rotating the order so no variant
 * always runs first or right after another; round -1 warms up (JIT, spin budgets) and
 * is not kept.
 */
export async function interleavedRounds<V extends { name: string }, M extends string>(
  variants: readonly V[],
  metrics: readonly M[],
  rounds: number,
  measure: (variant: V) => Promise<Record<M, number>>,
): Promise<RoundSamples<M>> {
  const samples: RoundSamples<M> = new Map(variants.map((v) => [v.name, Object.fromEntries(metrics.map((m) => [m, [] as number[]])) as Record<M, number[]>]));
  for (let round = -1; round < rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(k + Math.max(round, 0)) % variants.length]!;
      const got = await measure(variant);
      if (round >= 0) for (const m of metrics) samples.get(variant.name)![m].push(got[m]);
    }
    if (round >= 0) process.stdout.write(`round ${round + 1}/${rounds}\r`);
  }
  return samples;
}

/** Per-round ratios `of / to` (both measured in the same round), summarised. */
export function roundRatios(of: readonly number[], to: readonly number[]): Summary {
  return summarize(of.map((x, i) => x / to[i]!));
}
