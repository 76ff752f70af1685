/** `npm run bench:report`: regenerate docs/benchmarks.md and its charts from bench/results/. */
import path from 'node:path';
import { generateReport } from './generate.ts';

generateReport().then(
  ({ markdown, charts }) => {
    for (const file of [markdown, ...charts]) process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
  },
  (error: unknown) => {
    process.stderr.write(`bench:report failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
