/**
 * The bench's load conditions (bench/harness/condition-runner.ts): the measuring child
 * really is pinned, the neighbour process runs during the body, and it never outlives
 * the run — whether the body fails or the bench itself is killed.
 */
import { spawn } from 'node:child_process';
import test from 'ava';
import { gone } from './helpers/process-gone.ts';
import { CONDITIONS } from '../bench/harness/condition.ts';
import { runUnderCondition } from '../bench/harness/condition-runner.ts';
import { neighboursOf } from './fixtures/conditions/neighbours.ts';

const fixture = (name: string): URL => new URL(`./fixtures/conditions/${name}`, import.meta.url);

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

test.serial('a pinned condition runs its body in a child that sees one CPU, with no neighbour', async (t) => {
  const run = await runUnderCondition(CONDITIONS.pinned, fixture('cpus-body.ts'), { condition: CONDITIONS.pinned, workPerUs: 1 });
  t.is(run.facts.cpusSeen, 1);
  t.deepEqual(run.result.notes, ['cpus=1', 'neighbours=0']);
  t.is(run.neighbourCpuSeconds, undefined);
});

test.serial('the neighbour condition runs a neighbour beside the body and kills it afterwards', async (t) => {
  const run = await runUnderCondition(CONDITIONS.neighbour, fixture('cpus-body.ts'), { condition: CONDITIONS.neighbour, workPerUs: 1 });
  t.deepEqual(run.result.notes[1], 'neighbours=1');
  t.true(run.neighbourCpuSeconds !== undefined && run.neighbourCpuSeconds >= 0);
  t.deepEqual(neighboursOf(process.pid), []);
});

test.serial('a failing body rejects the run and its neighbour is killed', async (t) => {
  await t.throwsAsync(runUnderCondition(CONDITIONS.neighbour, fixture('throwing-body.ts'), { condition: CONDITIONS.neighbour, workPerUs: 1 }), {
    message: /body failed on purpose; neighbours=1/,
  });
  t.deepEqual(neighboursOf(process.pid), []);
});

test.serial('the neighbour exits by itself when the bench is killed outright', async (t) => {
  const runner = spawn(process.execPath, [...process.execArgv, new URL('./fixtures/conditions/doomed-runner.ts', import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    runner.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('neighbour running')) resolve();
    });
    runner.once('exit', () => reject(new Error('the runner exited before its neighbour started')));
  });
  const neighbours = neighboursOf(runner.pid!);
  t.is(neighbours.length, 1);
  runner.kill('SIGKILL');
  // Orphaned, the neighbour sees its parent change and exits (within a few checks).
  t.true(await until(() => gone(neighbours[0]), 10_000));
});

