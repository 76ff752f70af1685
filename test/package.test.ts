/**
 * The package as users get it: pack the tarball, install it into a scratch project,
 * and run an ESM consumer, a CommonJS consumer, and a TypeScript consumer that
 * type-checks (`agent.remote.x` typed from the agent; a wrong name is a type error).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
// Consumers run as plain Node, without the test's TypeScript loader.
const plainEnv = { ...process.env, NODE_OPTIONS: '' };

let scratch: string;

/** The package's entry points; the committed list of what each exports is test/public-api.json. */
const ENTRY_POINTS = ['agent-ipc', 'agent-ipc/agent', 'agent-ipc/lines', 'agent-ipc/lines/agent', 'agent-ipc/connection'];

/** What an entry point exports: run-time values, and names that exist only as types. */
interface EntryExports {
  values: string[];
  types: string[];
}

/** Reads the exports of each entry point's declaration file with the TypeScript checker. */
function declaredExports(packageDir: string): Record<string, EntryExports> {
  const manifest = JSON.parse(ts.sys.readFile(path.join(packageDir, 'package.json'))!) as {
    exports: Record<string, { import?: { types: string } }>;
  };
  const files = ENTRY_POINTS.map((entry) => path.join(packageDir, manifest.exports['.' + entry.slice('agent-ipc'.length)]!.import!.types));
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true });
  const checker = program.getTypeChecker();
  const result: Record<string, EntryExports> = {};
  for (const [i, entry] of ENTRY_POINTS.entries()) {
    const symbol = checker.getSymbolAtLocation(program.getSourceFile(files[i]!)!)!;
    const values: string[] = [];
    const types: string[] = [];
    for (const exported of checker.getExportsOfModule(symbol)) {
      const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      (target.flags & ts.SymbolFlags.Value ? values : types).push(exported.name);
    }
    result[entry] = { values: values.sort(), types: types.sort() };
  }
  return result;
}

test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'agent-ipc-consumer-'));
  await run('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: root });
  const tarball = (await readdir(scratch)).find((file) => file.endsWith('.tgz'))!;
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    'agent.mjs': `import { defineAgent, registerError, UnknownMethodError } from 'agent-ipc/agent';
class LedgerError extends Error { constructor(m) { super(m); this.name = 'LedgerError'; } }
registerError(LedgerError);
export default defineAgent((main) => ({
  greet: (who) => 'hello ' + who + ' #' + main.blocking.count(),
  // Errors built by the library's own bundled copy must still be instances here.
  async check() {
    const seen = [];
    try { await main.async.nope(); } catch (e) { seen.push(e instanceof UnknownMethodError); }
    try { main.blocking.nope(); } catch (e) { seen.push(e instanceof UnknownMethodError); }
    try { main.blocking.ledger(); } catch (e) { seen.push(e instanceof LedgerError); }
    try { await main.async.ledger(); } catch (e) { seen.push(e instanceof LedgerError); }
    return seen.join(',');
  },
}));`,
    'consumer.mjs': `import { spawnAgent, TimeoutError } from 'agent-ipc';
class LedgerError extends Error { constructor(m) { super(m); this.name = 'LedgerError'; } }
let n = 0;
const expose = { count: () => ++n, ledger() { throw new LedgerError('gap'); } };
for (const isolation of ['thread', 'process', 'inline']) {
  const agent = await spawnAgent(new URL('./agent.mjs', import.meta.url), { isolation, expose });
  if (isolation === 'thread') console.log(await agent.remote.greet('esm'), typeof TimeoutError);
  console.log(isolation, await agent.remote.check());
  await agent.close();
}
// A sandboxed agent: the node starts the package's own warden process beside it.
const sandboxed = await spawnAgent(new URL('./agent.mjs', import.meta.url), { isolation: 'process', sandbox: true, expose });
console.log('sandboxed', await sandboxed.remote.check());
await sandboxed.close();`,
    // The byte layer: an IpcServer subclass from agent-ipc/connection as spawnAgent's
    // expose (each entry point bundles its own copy of the class).
    'bytes-agent.mjs': `import { defineAgent } from 'agent-ipc/agent';
const text = (bytes) => new TextDecoder().decode(bytes);
export default defineAgent((main) => ({
  async both() { return [text(await main.call('hello', new TextEncoder().encode('async'))), text(main.callBlocking('hello', new TextEncoder().encode('blocking')))].join(', '); },
}));`,
    'ipc-server.mjs': `import { spawnAgent } from 'agent-ipc';
import { IpcServer } from 'agent-ipc/connection';
class Node extends IpcServer {
  getCommandMap() { return { hello: (bytes) => new TextEncoder().encode('hello ' + new TextDecoder().decode(bytes)) }; }
}
const node = new Node();
console.log(node instanceof IpcServer, node instanceof Node, {} instanceof IpcServer);
for (const isolation of ['thread', 'process', 'inline']) {
  const agent = await spawnAgent(new URL('./bytes-agent.mjs', import.meta.url), { isolation, expose: node });
  console.log(isolation, await agent.remote.both());
  await agent.close();
}`,
    'ipc-server.cjs': `const { spawnAgent } = require('agent-ipc');
const { IpcServer } = require('agent-ipc/connection');
class Node extends IpcServer {
  getCommandMap() { return { hello: (bytes) => new TextEncoder().encode('hello ' + new TextDecoder().decode(bytes)) }; }
}
spawnAgent(require('node:path').join(__dirname, 'bytes-agent.mjs'), { expose: new Node() }).then(async (agent) => {
  console.log(await agent.remote.both());
  await agent.close();
});`,
    'agent.cjs': `const { defineAgent } = require('agent-ipc/agent');
module.exports = defineAgent((main) => ({ greet: (who) => 'hello ' + who + ' #' + main.blocking.count() }));`,
    'consumer.cjs': `const { spawnAgent } = require('agent-ipc');
const path = require('node:path');
let n = 10;
spawnAgent(path.join(__dirname, 'agent.cjs'), { expose: { count: () => ++n } }).then(async (agent) => {
  console.log(await agent.remote.greet('cjs'));
  await agent.close();
  const sandboxed = await spawnAgent(path.join(__dirname, 'agent.cjs'), { isolation: 'process', sandbox: true, expose: { count: () => ++n } });
  console.log(await sandboxed.remote.greet('sandboxed cjs'));
  await sandboxed.close();
});`,
    'typed-agent.ts': `import { defineAgent, type AgentContext, type MainHandle } from 'agent-ipc/agent';
export interface NodeApi { count(): number }
export default defineAgent((main: MainHandle<NodeApi>, ctx: AgentContext) => ({
  greet(who: string): string { return 'hello ' + who + ' from ' + ctx.name + ' #' + main.blocking.count(); },
}));`,
    'typed-consumer.ts': `import { spawnAgent } from 'agent-ipc';
import type TypedAgent from './typed-agent.ts';
const agent = await spawnAgent<typeof TypedAgent>(new URL('./typed-agent.ts', import.meta.url), { expose: { count: () => 1 } });
const greeting: string = await agent.remote.greet('ts');
console.log(greeting);
await agent.close();`,
    'wrong-consumer.ts': `import { spawnAgent } from 'agent-ipc';
import type TypedAgent from './typed-agent.ts';
const agent = await spawnAgent<typeof TypedAgent>(new URL('./typed-agent.ts', import.meta.url));
await agent.remote.greeet('typo');
const n: number = await agent.remote.greet('wrong result type');
export { n };`,
    // Every entry point's run-time exports, as ESM and as CommonJS see them.
    'list-exports.mjs': `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const out = {};
for (const entry of ${JSON.stringify(ENTRY_POINTS)}) {
  out[entry] = { esm: Object.keys(await import(entry)).sort(), cjs: Object.keys(require(entry)).sort() };
}
console.log(JSON.stringify(out));`,
    'tsconfig.json': JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        skipLibCheck: false,
        // A real consumer has @types/node; use the repo's rather than download it again.
        typeRoots: [path.join(root, 'node_modules', '@types')],
        types: ['node'],
        lib: ['ES2023'],
      },
    }),
  };
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(scratch, name), content);
  await run('npm', ['install', '--silent', '--no-audit', '--no-fund', path.join(scratch, tarball)], { cwd: scratch, env: plainEnv });
});

test.after.always(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('the tarball holds what users need and nothing else', async (t) => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: root });
  const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  t.true(files.includes('dist/index.js') && files.includes('dist/index.cjs') && files.includes('dist/agent.js'));
  t.true(files.includes('dist/index.d.ts') && files.includes('dist/index.d.cts'));
  // What agents' threads and processes start from, and the node's warden process.
  for (const entry of ['thread-bootstrap', 'process-bootstrap', 'process-watchdog', 'process-warden']) t.true(files.includes(`dist/${entry}.js`), entry);
  for (const required of ['README.md', 'CHANGELOG.md', 'LICENSE', 'package.json']) t.true(files.includes(required), required);
  t.deepEqual(
    files.filter((f) => /^(src|test|bench|examples|docs)\//.test(f)),
    [],
    'no sources, tests, benchmarks, examples or docs in the package',
  );
});

test('an ESM consumer runs agents from the installed package; error classes work on the agent side', async (t) => {
  const { stdout } = await run(process.execPath, ['consumer.mjs'], { cwd: scratch, env: plainEnv });
  t.deepEqual(stdout.trim().split('\n'), ['hello esm #1 function', 'thread true,true,true,true', 'process true,true,true,true', 'inline true,true,true,true', 'sandboxed true,true,true,true']);
});

test('a CommonJS consumer runs a CommonJS agent from the installed package, sandboxed too', async (t) => {
  const { stdout } = await run(process.execPath, ['consumer.cjs'], { cwd: scratch, env: plainEnv });
  t.is(stdout.trim(), 'hello cjs #11\nhello sandboxed cjs #12');
});

test("an IpcServer subclass from agent-ipc/connection serves spawnAgent's byte-layer calls, in ESM and CommonJS (each entry point bundles its own copy of the class)", async (t) => {
  const esm = await run(process.execPath, ['ipc-server.mjs'], { cwd: scratch, env: plainEnv });
  t.deepEqual(esm.stdout.trim().split('\n'), ['true true false', 'thread hello async, hello blocking', 'process hello async, hello blocking', 'inline hello async, hello blocking']);
  const cjs = await run(process.execPath, ['ipc-server.cjs'], { cwd: scratch, env: plainEnv });
  t.is(cjs.stdout.trim(), 'hello async, hello blocking');
});

test('a TypeScript consumer type-checks: remote methods are typed from the agent', async (t) => {
  const good = await run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], { cwd: scratch }).then(
    () => '',
    (error: { stdout: string }) => error.stdout,
  );
  // The project includes both consumers: only the deliberate mistakes may be reported.
  const lines = good.split('\n').filter((line) => line.includes('error TS'));
  t.true(lines.length >= 2, good);
  t.true(lines.every((line) => line.startsWith('wrong-consumer.ts')), good);
  t.regex(good, /Property 'greeet' does not exist/);
  t.regex(good, /Type 'string' is not assignable to type 'number'/);
});

test('each entry point exports exactly the committed list (test/public-api.json), in ESM, CommonJS and types', async (t) => {
  const expected = JSON.parse(await readFile(path.join(root, 'test', 'public-api.json'), 'utf8')) as Record<string, EntryExports>;
  const { stdout } = await run(process.execPath, ['list-exports.mjs'], { cwd: scratch, env: plainEnv });
  const runtime = JSON.parse(stdout) as Record<string, { esm: string[]; cjs: string[] }>;
  const declared = declaredExports(path.join(scratch, 'node_modules', 'agent-ipc'));
  const hint = 'a new or removed export is a reviewed decision: update test/public-api.json and CHANGELOG.md';
  t.deepEqual(Object.keys(expected).sort(), [...ENTRY_POINTS].sort(), 'every entry point has a committed list');
  for (const entry of ENTRY_POINTS) {
    t.deepEqual(runtime[entry]!.esm, expected[entry]!.values, `${entry} (ESM): ${hint}`);
    t.deepEqual(runtime[entry]!.cjs, expected[entry]!.values, `${entry} (CommonJS): ${hint}`);
    t.deepEqual(declared[entry], expected[entry], `${entry} (types): ${hint}`);
  }
});
