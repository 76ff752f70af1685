/**
 * Memory caps: an agent over its heap cap dies alone — its calls reject with
 * `AgentExitedError`, the node and the other agents carry on — and the
 * `resourceLimits` option is checked against what each isolation can enforce.
 */
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { AgentExitedError, spawnAgent } from '../src/index.ts';
import type LifecycleAgent from './fixtures/lifecycle-agent.ts';

const entry = new URL('./fixtures/lifecycle-agent.ts', import.meta.url);

/**
 * No core dump for process `pid` (where util-linux's `prlimit` is there): V8 aborts a
 * process at its heap cap, and CI runs with core dumps on (.ci/run) to catch real
 * crashes; this expected abort would write 0.2–1.2 GB, and into the same file, `core`,
 * as a crash of a test process, which it could overwrite.
 */
function noCoreDump(pid: number): void {
  try {
    execFileSync('prlimit', ['--pid', String(pid), '--core=0'], { stdio: 'ignore' });
  } catch {
    // No prlimit (or not Linux): the core, if dumps are on, is told apart by scripts/report-core-dumps.sh.
  }
}

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: an agent over its heap cap dies alone`, async (t) => {
    const bystander = await spawnAgent<typeof LifecycleAgent>(entry, { isolation, name: `bystander-${isolation}` });
    const glutton = await spawnAgent<typeof LifecycleAgent>(entry, {
      isolation,
      name: `glutton-${isolation}`,
      resourceLimits: { maxOldGenerationSizeMb: 32 },
    });
    if (isolation === 'process') noCoreDump(glutton.pid);
    t.teardown(() => Promise.all([bystander.close(), glutton.close()]));
    const error = await t.throwsAsync(glutton.remote.eatMemory(), { instanceOf: AgentExitedError });
    t.log(error.message);
    const exit = await glutton.exited;
    if (isolation === 'thread') {
      t.is(exit.code, 1);
      t.is((exit.error as Error & { code?: string }).code, 'ERR_WORKER_OUT_OF_MEMORY');
    } else {
      // V8 aborts a process that runs out of heap.
      t.true(exit.signal === 'SIGABRT' || (exit.code !== null && exit.code !== 0), JSON.stringify(exit));
    }
    t.is(await bystander.remote.echo('still here'), 'still here');
    const big = new Array(100_000).fill(1);
    t.is(big.length, 100_000, 'the node itself is fine');
  });
}

test('resourceLimits: TypeErrors that name the limit', async (t) => {
  const bad: Array<[object, RegExp]> = [
    [{ isolation: 'process', resourceLimits: { stackSizeMb: 4 } }, /option 'resourceLimits.stackSizeMb' must be unset under isolation 'process' \(it supports maxOldGenerationSizeMb\)/],
    [{ isolation: 'inline', resourceLimits: { maxOldGenerationSizeMb: 0 } }, /option 'resourceLimits.maxOldGenerationSizeMb' must be a positive number/],
    [{ resourceLimits: { maxOldGenerationSizeMb: -1 } }, /option 'resourceLimits.maxOldGenerationSizeMb' must be a positive number of MiB, got -1/],
    [{ resourceLimits: { maxOldGenerationSizeMb: '64' } }, /option 'resourceLimits.maxOldGenerationSizeMb' must be a positive number/],
    [{ resourceLimits: { heapMb: 64 } }, /option 'resourceLimits.heapMb' must be one of maxOldGenerationSizeMb/],
    [{ resourceLimits: 5 }, /option 'resourceLimits' must be an object/],
    // Below these a worker's start can take the whole process down (Node.js's own behaviour).
    [{ resourceLimits: { maxOldGenerationSizeMb: 2 } }, /option 'resourceLimits.maxOldGenerationSizeMb' must be at least 4 MiB for a thread agent: below that a worker's start can abort the whole process/],
    [{ isolation: 'inline', resourceLimits: { maxOldGenerationSizeMb: 3.5 } }, /must be at least 4 MiB for a thread agent/],
    [{ resourceLimits: { stackSizeMb: 0.2 } }, /option 'resourceLimits.stackSizeMb' must be at least 1 MiB for a thread agent/],
  ];
  for (const [options, message] of bad) {
    await t.throwsAsync(spawnAgent(entry, options as never), { instanceOf: TypeError, message }, JSON.stringify(options));
  }
  // Inline shares the node's heap: valid limits are accepted (and cannot apply), so a
  // deployment can switch to inline to debug with one option.
  const inline = await spawnAgent<typeof LifecycleAgent>(entry, { isolation: 'inline', resourceLimits: { maxOldGenerationSizeMb: 64, stackSizeMb: 4 } });
  t.is(await inline.remote.echo(1), 1);
  await inline.close();
});
