/**
 * Runs a condition's cases in a child process: `node` under `taskset -c` when the
 * condition pins, beside a CPU-bound neighbour process when it has one. The neighbour
 * runs from before the child starts until after it ended, and is always killed: in a
 * `finally`, on this process's exit and on SIGINT/SIGTERM, and, should this process be
 * killed outright, by itself (it exits once its parent is gone).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readProcStat } from '../../src/isolation/proc-stat.ts';
import { fileURLToPath } from 'node:url';
import type { ChildReply, ChildRequest } from './condition-child.ts';
import type { Condition, ConditionContext, ConditionFacts } from './condition.ts';
import type { SuiteResult } from './suite.ts';

const childEntry = fileURLToPath(new URL('./condition-child.ts', import.meta.url));

/**
 * A busy loop that checks about every million iterations whether its parent is still
 * the one that started it (its pid is the first argument); an orphan is re-parented
 * and then exits. The parent is passed, not read from `process.ppid`, because on a busy
 * machine the bench may already be gone when the loop starts; and it is re-read from
 * /proc each time, since `process.ppid` is a value taken once. Where /proc is missing,
 * a parent that no longer exists ends the loop too. The marker comment lets tests find
 * these processes.
 */
const NEIGHBOUR_SOURCE = [
  '/* agent-ipc-bench-neighbour */',
  "const fs = require('node:fs');",
  'const parent = Number(process.argv[1]);',
  'function parentNow() {',
  "  try { const s = fs.readFileSync('/proc/self/stat', 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]); }",
  '  catch { try { process.kill(parent, 0); return parent; } catch { return -1; } }',
  '}',
  'for (let i = 0; ; i++) { if ((i & 0xfffff) === 0 && parentNow() !== parent) process.exit(0); }',
].join('\n');

/** CPU seconds (user + system) a process has used, from /proc; undefined elsewhere. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const fields = readProcStat(`/proc/${pid}/stat`);
  if (fields === undefined) return undefined;
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 of readProcStat's array; clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface ConditionRun {
  result: SuiteResult;
  facts: ConditionFacts;
  /** Wall seconds of the child and CPU seconds the neighbour used meanwhile. */
  seconds: number;
  neighbourCpuSeconds?: number;
}

export async function runUnderCondition(condition: Condition, body: URL, context: ConditionContext): Promise<ConditionRun> {
  if (condition.pinCpus !== undefined && !hasTaskset()) {
    throw new Error(`condition ${condition.key} needs taskset (util-linux), which is not installed`);
  }
  let neighbour: ChildProcess | undefined;
  let child: ChildProcess | undefined;
  const killAll = (): void => {
    child?.kill('SIGKILL');
    neighbour?.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll();
    process.kill(process.pid, signal);
  };
  process.on('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (condition.neighbour) {
      neighbour = spawn(process.execPath, ['-e', NEIGHBOUR_SOURCE, String(process.pid)], { stdio: 'ignore' });
      await new Promise<void>((resolve, reject) => {
        neighbour!.once('spawn', resolve);
        neighbour!.once('error', reject);
      });
    }
    const nodeArgs = [...process.execArgv, childEntry];
    const [command, args] = condition.pinCpus === undefined ? [process.execPath, nodeArgs] : ['taskset', ['-c', condition.pinCpus, process.execPath, ...nodeArgs]];
    const started = process.hrtime.bigint();
    const neighbourCpuBefore = cpuSeconds(neighbour?.pid);
    const running = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child = running;
    const reply = await new Promise<ChildReply>((resolve, reject) => {
      running.once('message', (m: ChildReply) => resolve(m));
      running.once('error', reject);
      running.once('exit', (code, signal) => reject(new Error(`condition ${condition.key}: child exited (${signal ?? code}) before sending results`)));
      const request: ChildRequest = { body: body.href, context };
      running.send(request);
    });
    await exited(running);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const neighbourCpuAfter = cpuSeconds(neighbour?.pid);
    if (neighbour !== undefined && (neighbour.exitCode !== null || neighbour.signalCode !== null)) {
      throw new Error(`condition ${condition.key}: the neighbour process ended during the run`);
    }
    if ('error' in reply) throw new Error(`condition ${condition.key}: ${reply.error}`);
    const neighbourCpuSeconds = neighbourCpuBefore !== undefined && neighbourCpuAfter !== undefined ? neighbourCpuAfter - neighbourCpuBefore : undefined;
    return { result: reply.result, facts: reply.facts, seconds, ...(neighbourCpuSeconds === undefined ? {} : { neighbourCpuSeconds }) };
  } finally {
    killAll();
    await Promise.all([child, neighbour].map((p) => (p === undefined ? undefined : exited(p))));
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
