/**
 * The real workload of issue #16: prettier 3's async `format` called synchronously from
 * main-thread code, one file per call, over about 300 real source files (see
 * bench/realcode-sync/corpus.ts), as an ESLint rule would. agent-ipc
 * (`spawnAgentSync` + `agent.blocking.format`) against synckit, make-synchronized and
 * sync-message-port, and `await prettier.format` on the main thread as the reference.
 *
 * Every runner's output must equal the reference's, file by file; a difference fails the
 * round. The same work is timed on the machine as it is ("calm") and with the whole
 * process pinned to one core (`taskset -a -p -c 0`) for the measured part of each round.
 * Rounds interleave the runners; ratios are per round.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import * as prettier from 'prettier';
import type { Case, Measurement } from '../harness/case.ts';
import { withFixtures } from '../harness/fixture.ts';
import { runRounds, type GroupResult } from '../harness/rounds.ts';
import type { Suite } from '../harness/suite.ts';
import { speedupTarget } from '../harness/targets.ts';
import { formatOptions, loadCorpus, type SourceFile } from '../realcode-sync/corpus.ts';
import { allRunners, type PrettierRunner } from '../realcode-sync/runners.ts';

const ROUNDS = Number(process.env.SYNC_PRETTIER_ROUNDS ?? 7);
// Two warm-up rounds: prettier's own code keeps getting faster over its first few hundred files in each thread.
const WARMUP_ROUNDS = Number(process.env.SYNC_PRETTIER_WARMUP ?? 2);
/** Fewer files for a quick look (`SYNC_PRETTIER_FILES=50`); the default is the whole corpus. */
const FILE_LIMIT = Number(process.env.SYNC_PRETTIER_FILES ?? Infinity);

interface Job {
  file: SourceFile;
  options: prettier.Options;
  /** `prettier.format`'s output, called directly: what every runner must return. */
  expected: string;
}

function mismatch(runner: string, file: string, got: unknown): Error {
  return new Error(`${runner}: output for ${file} differs from prettier.format's (${typeof got === 'string' ? `${got.length} chars` : typeof got})`);
}

async function formatAll(runner: PrettierRunner, jobs: readonly Job[]): Promise<Measurement> {
  let bytes = 0;
  const start = process.hrtime.bigint();
  if (runner.kind === 'sync') {
    // Synchronous code, as a lint rule's visitor is: no await between the files.
    for (const job of jobs) {
      const out = runner.format(job.file.source, job.options);
      if (out !== job.expected) throw mismatch(runner.name, job.file.file, out);
      bytes += job.file.source.length;
    }
  } else {
    for (const job of jobs) {
      const out = await runner.format(job.file.source, job.options);
      if (out !== job.expected) throw mismatch(runner.name, job.file.file, out);
      bytes += job.file.source.length;
    }
  }
  return { ops: jobs.length, ns: Number(process.hrtime.bigint() - start), bytes };
}

const ALL_CPUS = `0-${os.cpus().length - 1}`;

/** Pins every thread of this process (the workers are threads of it) to `cpus`. */
function setAffinity(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}

function runnerCase(runner: PrettierRunner, jobs: readonly Job[], pinned: boolean, startError: unknown): Case {
  return {
    name: runner.name,
    setup() {
      if (startError !== undefined) throw startError instanceof Error ? startError : new Error(String(startError));
    },
    async run() {
      if (!pinned) return formatAll(runner, jobs);
      setAffinity('0');
      try {
        return await formatAll(runner, jobs);
      } finally {
        setAffinity(ALL_CPUS);
      }
    },
  };
}

const suite: Suite = {
  name: 'sync-main-prettier',
  description: "a real workload for the main thread blocking on a worker: prettier 3's format over ~300 real files, called synchronously; agent-ipc vs synckit, make-synchronized, sync-message-port and the direct async call",
  async run() {
    const loadBefore = os.loadavg()[0]!;
    const corpus = loadCorpus(FILE_LIMIT);
    // The reference outputs, computed once, outside any timed region.
    const jobs: Job[] = [];
    for (const file of corpus) {
      const options = formatOptions(file.file);
      jobs.push({ file, options, expected: await prettier.format(file.source, options) });
    }
    const totalBytes = jobs.reduce((sum, job) => sum + job.file.source.length, 0);
    const runners = allRunners();
    return withFixtures(runners, async (startErrors) => {
      const table = (key: string, title: string, pinned: boolean): Promise<GroupResult> =>
        runRounds({
          key,
          title,
          unit: 'µs/call',
          cases: runners.map((r) => runnerCase(r, jobs, pinned, startErrors.get(r))),
          rounds: ROUNDS,
          warmupRounds: WARMUP_ROUNDS,
          subject: 'agent-ipc',
        });
      const what = `${jobs.length} files (${(totalBytes / 1024).toFixed(0)} KiB), one format call each, per round`;
      const calm = await table('prettier-calm', `prettier.format, calm: ${what}`, false);
      const pinned = await table('prettier-pinned', `prettier.format, pinned to one core: ${what}`, true);
      const targets = [];
      for (const [group, label] of [
        [calm, 'calm'],
        [pinned, 'pinned'],
      ] as const) {
        for (const baseline of ['synckit', 'make-synchronized']) {
          targets.push(speedupTarget(group, 'agent-ipc', baseline, { atLeast: 1 }, `prettier, ${label}: agent-ipc total time ≤ 1.0× ${baseline}'s (speed ratio ≥ 1)`));
        }
      }
      return {
        groups: [calm, pinned],
        targets,
        notes: [
          `Corpus: ${jobs.length} files read from node_modules (ESLint's lib/*.js and typescript-eslint's dist/*.d.ts, each ≤ 6 KB, sorted; bench/realcode-sync/corpus.ts); options { printWidth: 100, singleQuote: true, trailingComma: 'all' }, the parser inferred from the file path.`,
          "Every runner's output is compared with prettier.format called directly on the main thread, file by file, in every round; a difference fails the round.",
          'direct: `await prettier.format` on the main thread — the work itself; the others add a worker hop per file. µs/call is the time per file; total time per round is that × the file count.',
          'agent-ipc: spawnAgentSync + agent.blocking.format (the agent method returns prettier\'s promise); synckit: createSyncFn on a plain-JS worker; make-synchronized: makeSynchronized(prettier) as @prettier/sync does; sync-message-port: postMessage + receiveMessage() on a SyncMessagePort pair.',
          "pinned: `taskset -a -p -c 0` on the bench process for the measured part of each round (every thread, the workers' included), restored after it.",
          `machine load (1-min load average on ${os.cpus().length} cores): ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end.`,
        ],
      };
    });
  },
};

export default suite;
