/**
 * A syntax error in an agent's module names the file, line and column (Node's own
 * SyntaxError for an ES module names none), in thread and process agents and in
 * spawnAgentSync; the error is still a SyntaxError, with Node's message kept whole.
 * Nothing here asserts on timing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { spawnAgent, spawnAgentSync } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'agent-ipc-syntax-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `source` to `name` in the test's folder; its absolute path. */
function file(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

// Line 3, column 8: the second comma.
const broken = file('broken.mjs', 'export const a = 1;\nexport default {\n  x: 1,,\n};\n');
const importsBroken = file('imports-broken.mjs', "import './broken.mjs';\nexport default 1;\n");
const parsesJsonBadly = file('parses-json.mjs', "JSON.parse('{');\nexport default 1;\n");

/** The checks every syntax error of `broken.mjs` passes, whichever way the agent started. */
function assertNamesBroken(t: { is(a: unknown, b: unknown): void; true(v: boolean): void; regex(s: string, r: RegExp): void }, error: unknown): void {
  t.true(error instanceof SyntaxError);
  const { message, cause } = error as SyntaxError;
  t.regex(message, /^\[agent-ipc\] /);
  t.true(message.includes(`${broken}:3:8`));
  // Node's message is kept whole, and Node's error is the cause.
  t.true(message.endsWith(": Unexpected token ','"));
  t.true(cause instanceof SyntaxError);
  t.is((cause as SyntaxError).message, "Unexpected token ','");
}

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: a syntax error in the agent's module names the file, line and column`, async (t) => {
    assertNamesBroken(t, await t.throwsAsync(spawnAgent(broken, { isolation })));
  });

  test(`${isolation}: a syntax error in a module the agent's module imports names the agent's module, not as the culprit`, async (t) => {
    const error = await t.throwsAsync(spawnAgent(pathToFileURL(importsBroken), { isolation }), { instanceOf: SyntaxError });
    t.regex(error.message, /^\[agent-ipc\] /);
    t.true(error.message.includes(importsBroken));
    t.regex(error.message, /syntax error in a module it imports \(the file itself parses\): Unexpected token ','$/);
  });
}

test('a SyntaxError thrown while the module runs (JSON.parse) is left as it is: its stack says where', async (t) => {
  const error = await t.throwsAsync(spawnAgent(parsesJsonBadly), { instanceOf: SyntaxError });
  t.false(error.message.startsWith('[agent-ipc]'));
  t.regex(error.stack ?? '', /parses-json\.mjs/);
});

test('spawnAgentSync: a syntax error names the file, line and column', (t) => {
  assertNamesBroken(
    t,
    t.throws(() => spawnAgentSync(broken)),
  );
});
