/**
 * The sync-format example's command line: checks files with the synchronous
 * `checkFormatting` and prints one line per file. Run with `npm run example:sync-format`
 * (its sample files) or `npm run example:sync-format -- a.ts b.js`. Exit code 1 when a
 * file is not formatted or cannot be parsed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFormatting, closeFormatter } from './check-formatting.ts';

const samples = fileURLToPath(new URL('./samples/', import.meta.url));
const files = process.argv.length > 2 ? process.argv.slice(2) : readdirSync(samples).sort().map((name) => path.join(samples, name));

let problems = 0;
for (const file of files) {
  // The loop is plain synchronous code: each check waits for prettier's answer.
  const finding = checkFormatting(file, readFileSync(file, 'utf8'));
  if (finding.status !== 'formatted') problems++;
  console.log(`${path.basename(file)}: ${finding.status}${finding.detail ? ` (${finding.detail})` : ''}`);
}
await closeFormatter();
console.log(`${files.length} files checked, ${problems} with problems`);
process.exitCode = problems > 0 ? 1 : 0;
