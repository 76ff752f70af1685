/**
 * `npm run bench`            runs every suite in bench/suites/ in file-name order;
 * `npm run bench -- async`   runs only the suite named `async` (several names allowed).
 *
 * Each suite's tables go to stdout, its figures to bench/results/<suite>.json; at the
 * end docs/benchmarks.md and docs/charts/ are regenerated from every results file (the
 * suites not run keep their previous figures), as `npm run bench:report` does.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Suite } from './harness/suite.ts';
import { clearProgress, machineSummary, printSuite, setProgressSuite, writeResults } from './harness/report.ts';
import { generateReport } from './report/generate.ts';

const suitesDir = new URL('./suites/', import.meta.url);

function isSuite(value: unknown): value is Suite {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === 'string' && typeof v.description === 'string' && typeof v.run === 'function';
}

async function loadSuites(): Promise<Suite[]> {
  const files = (await readdir(suitesDir)).filter((f) => f.endsWith('.ts')).sort();
  const suites: Suite[] = [];
  for (const file of files) {
    const mod = (await import(new URL(file, suitesDir).href)) as { default?: unknown };
    if (!isSuite(mod.default)) throw new Error(`bench/suites/${file} must default-export { name, description, run }`);
    suites.push(mod.default);
  }
  return suites;
}

/**
 * The process must end by itself once the suites are done; if a worker or handle was
 * leaked it would not. Name the culprits instead of hanging silently. The timer is
 * unref'd, so it never keeps a clean process alive.
 */
function watchForLeaks(): void {
  setTimeout(() => {
    process.stderr.write(`bench: still running 10 s after the last suite; open handles: ${process.getActiveResourcesInfo().join(', ')}\n`);
    process.exit(1);
  }, 10_000).unref();
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const all = await loadSuites();
  const unknown = wanted.filter((w) => !all.some((s) => s.name === w));
  if (unknown.length > 0) {
    process.stderr.write(`unknown suite ${unknown.join(', ')}; available: ${all.map((s) => s.name).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const selected = wanted.length === 0 ? all : all.filter((s) => wanted.includes(s.name));
  process.stdout.write(`agent-ipc benchmarks on ${machineSummary()}\n`);

  const runStart = performance.now();
  for (const [index, suite] of selected.entries()) {
    setProgressSuite(suite.name, index, selected.length);
    const start = performance.now();
    const result = await suite.run();
    const seconds = (performance.now() - start) / 1000;
    printSuite(suite.name, suite.description, result, seconds);
    const file = await writeResults(suite.name, suite.description, result, seconds);
    process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
  }
  clearProgress();
  process.stdout.write(`\nall suites: ${((performance.now() - runStart) / 1000).toFixed(0)} s\n`);
  const report = await generateReport();
  process.stdout.write(`report: ${path.relative(process.cwd(), report.markdown)} (+ ${report.charts.length} charts in docs/charts/)\n`);
}

main().then(watchForLeaks, (error: unknown) => {
  clearProgress();
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
  watchForLeaks();
});
