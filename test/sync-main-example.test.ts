/**
 * examples/sync-format runs as documented: synchronous code checks files with prettier
 * through `spawnAgentSync` + `agent.blocking`, the agent's call-back for options is
 * served while the node is parked, a parse error arrives as prettier's SyntaxError, and
 * the process ends by itself (the agent is closed).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const MAIN = fileURLToPath(new URL('../examples/sync-format/main.ts', import.meta.url));
const sample = (name: string): string => fileURLToPath(new URL(`../examples/sync-format/samples/${name}`, import.meta.url));

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import=tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

test('the example checks its samples: formatted, unformatted, per-file options from a call-back, a parse error', async (t) => {
  const { code, stdout, stderr } = await run([]);
  t.is(stderr, '');
  t.deepEqual(stdout.trim().split('\n'), [
    'formatted.js: formatted',
    // Formatted only under semi: false, which the agent gets from the node's optionsFor while the node is parked.
    'no-semicolons.nosemi.js: formatted',
    'syntax-error.js: error (Unexpected token (1:35))',
    'typed.ts: formatted',
    'unformatted.js: unformatted (line 1)',
    '5 files checked, 2 with problems',
  ]);
  t.is(code, 1);
});

test('the example exits 0 when every file given is formatted', async (t) => {
  const { code, stdout } = await run([sample('formatted.js'), sample('typed.ts')]);
  t.deepEqual(stdout.trim().split('\n'), ['formatted.js: formatted', 'typed.ts: formatted', '2 files checked, 0 with problems']);
  t.is(code, 0);
});
