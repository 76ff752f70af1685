/**
 * Escape attempts from a sandboxed process agent beyond
 * those of test/sandbox.test.ts. Each attempt must fail (with the runtime's own error
 * where there is one) while the agent goes on serving calls.
 *
 * Attempts that need a node of their own (signals to the node or to its warden, the
 * node's inherited descriptors) run test/fixtures/sandbox-escapes/node.mjs as a separate
 * process, on the built library.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnAgent, type Agent } from '../src/index.ts';

interface ReviewAgent {
  ping(): string;
  fds(): Record<string, { ino: number; file: boolean; socket: boolean; fifo: boolean }>;
  readFd(fd: number): string;
  writeFd(fd: number, text: string): number;
  debugAndEvaluate(pid: number, port: number, expression: string, waitMs: number): { reached: boolean; value?: unknown };
  realpath(file: string): string;
  realpathNative(file: string): string;
  readlink(file: string): string;
  read(file: string): string;
  readdir(dir: string): string[];
  requireFile(file: string): string;
  importFile(specifier: string): string[];
  binding(name: string): string;
  registerHooks(): string;
  wasi(): string;
  inspectorOpen(): string;
  spawnViaBuiltin(): string;
  evalWorker(): string;
  fdChmod(file: string): string;
  tamperExecArgv(): boolean;
  env(): Record<string, string>;
}

const escapeAgent = new URL('./fixtures/sandbox-escapes/escape-agent.js', import.meta.url);
const nodeFixture = fileURLToPath(new URL('./fixtures/sandbox-escapes/node.mjs', import.meta.url));
const ownPackage = fileURLToPath(new URL('./fixtures/sandbox-escapes', import.meta.url));
const repository = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

const outside = realpathSync(mkdtempSync(path.join(tmpdir(), 'agent-ipc-sandbox-escapes-')));
const secret = path.join(outside, 'secret.txt');
writeFileSync(secret, 'the node only');
const SECRET_VAR = 'AGENT_IPC_ESCAPES_SECRET';

let shared: Agent<ReviewAgent>;
test.before(async () => {
  shared = await spawnAgent<ReviewAgent>(escapeAgent, { isolation: 'process', sandbox: true });
});
test.after.always(async () => {
  await shared?.close();
  rmSync(outside, { recursive: true, force: true });
});

async function stillServing(t: { is(a: unknown, b: unknown): void }, agent: Agent<ReviewAgent>): Promise<void> {
  t.is(await agent.remote.ping(), 'pong');
}

/** A TCP port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs the fixture node with `args`, its descriptors `extraFds` (index → open fd), and returns the JSON line it printed. */
function runNode(nodeOptions: string[], args: string[], extraFds: Record<number, number> = {}): Promise<Record<string, unknown>> {
  const stdio: Array<'ignore' | 'pipe' | 'inherit' | number> = ['ignore', 'pipe', 'pipe'];
  for (const [index, fd] of Object.entries(extraFds)) {
    while (stdio.length < Number(index)) stdio.push('ignore');
    stdio[Number(index)] = fd;
  }
  const child = spawn(process.execPath, [...nodeOptions, nodeFixture, ...args], { stdio, env: { ...process.env, [SECRET_VAR]: 'token-of-the-node' } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`fixture node exited ${code}, stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(err.slice(-2000))}`));
      }
    });
  });
}

// --- findings -----------------------------------------------------------------------------

// Not stopped, and documented (the threat model, *Signals*): agent-ipc cannot change how
// the node's process answers signals. This test holds the documentation to it: it fails
// once the runtime stops the attempt, and the threat model must then say so.
test('documented, not stopped: SIGUSR1 to a node without a listener opens its inspector, and the agent runs code in the node', async (t) => {
  // process._debugProcess(pid) is process.kill(pid, 'SIGUSR1'): a Node.js not under the
  // permission model answers it by opening its inspector (127.0.0.1:9229 by default; here
  // --inspect-port, so as not to collide with anything else on the machine), and the
  // network is open to the agent.
  const port = await freePort();
  const result = await runNode([`--inspect-port=${port}`], ['inspect-node', secret]);
  t.is(result.stillServing, 'pong');
  t.true(result.reached, JSON.stringify(result));
  t.like(result.value as Record<string, unknown>, { pid: result.nodePid, secret: 'the node only', env: 'token-of-the-node' });
});

test('mitigation: a node with a SIGUSR1 listener does not open its inspector', async (t) => {
  const port = await freePort();
  const result = await runNode([`--inspect-port=${port}`, '--import=data:text/javascript,process.on("SIGUSR1",()=>{})'], ['inspect-node', secret]);
  t.is(result.stillServing, 'pong');
  t.false(result.reached);
});

test("escape stopped: SIGUSR1 to the node's warden opens no inspector there", async (t) => {
  // The warden is agent-ipc's own process: the node cannot harden it (it gets none of the
  // node's options). It listens on the default port, 9229.
  const result = await runNode([], ['inspect-warden', secret]);
  t.is(result.stillServing, 'pong');
  // Only the warden's own inspector counts: another process may hold the default port.
  const reachedWarden = result.reached === true && (result.value as { pid?: unknown } | undefined)?.pid === result.wardenPid;
  t.false(reachedWarden, `the agent reached the warden's inspector and ran code there: ${JSON.stringify(result)}`);
});

test('escape stopped: a descriptor the node inherited (not close-on-exec) is closed in the agent before its module loads', async (t) => {
  // As a supervisor, a shell redirection (`node app.js 30<key`) or a careless parent leaves
  // it. Node marks low inherited descriptors close-on-exec at start-up, not higher ones.
  const fd = openSync(secret, 'r');
  try {
    const result = await runNode([], ['fd', '30'], { 30: fd });
    t.log(JSON.stringify(result));
    t.is(result.stillServing, 'pong');
    t.false((result.open as number[]).includes(30), 'descriptor 30 of the node is open in the agent');
    t.not(result.read, 'the node only');
  } finally {
    closeSync(fd);
  }
});

test("escape stopped: a dependency's manifest naming '..' does not widen the sandbox", async (t) => {
  // The node's project (its .env among it) holds the agent's package; the agent's package
  // depends on `evil`, whose package.json names a "dependency" four levels up.
  const app = path.join(outside, 'app');
  const agentPackage = path.join(app, 'agent');
  mkdirSync(path.join(agentPackage, 'node_modules', 'evil'), { recursive: true });
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app' }));
  writeFileSync(path.join(app, '.env'), 'DB_PASSWORD=hunter2');
  writeFileSync(path.join(agentPackage, 'package.json'), JSON.stringify({ name: 'agent', type: 'module', dependencies: { evil: '1' } }));
  writeFileSync(path.join(agentPackage, 'node_modules', 'evil', 'package.json'), JSON.stringify({ name: 'evil', dependencies: { '../../../..': '1' } }));
  const library = pathToFileURL(path.join(repository, 'dist', 'agent.js')).href;
  writeFileSync(
    path.join(agentPackage, 'agent.js'),
    `import { readFileSync } from 'node:fs';\nimport { defineAgent } from ${JSON.stringify(library)};\nexport default defineAgent(() => ({ read: (file) => readFileSync(file, 'utf8') }));\n`,
  );
  const agent = await spawnAgent<{ read(file: string): string }>(pathToFileURL(path.join(agentPackage, 'agent.js')), { isolation: 'process', sandbox: true });
  try {
    await t.throwsAsync(agent.remote.read(path.join(app, '.env')), { code: 'ERR_ACCESS_DENIED' });
  } finally {
    await agent.close();
  }
});

test('not stopped on Node.js 20: realpath outside the sandbox tells whether a path exists and where a link leads', async (t) => {
  // Node.js 20's fs.realpathSync (the JavaScript one) is not checked: an oracle for paths
  // outside the sandbox. Later releases deny it.
  const node20 = process.versions.node.startsWith('20.');
  if (node20) {
    t.is(await shared.remote.realpath(secret), secret);
    await t.throwsAsync(shared.remote.realpath(path.join(outside, 'nope')), { code: 'ENOENT' });
  } else {
    await t.throwsAsync(shared.remote.realpath(secret), { code: 'ERR_ACCESS_DENIED' });
  }
  // The native one is checked everywhere.
  await t.throwsAsync(shared.remote.realpathNative(secret), { code: 'ERR_ACCESS_DENIED' });
  await stillServing(t, shared);
});

// --- attempts that held ---------------------------------------------------------------------

test('held: reading outside through ../, Buffer and URL paths, /proc, the library’s repository', async (t) => {
  const attempts = [
    path.join(ownPackage, '..', '..', 'sandbox.test.ts'),
    `${ownPackage}/./../sandbox-escapes/../../../README.md`,
    '/proc/self/environ',
    `/proc/${process.pid}/environ`,
    `/proc/${process.pid}/cmdline`,
    '/proc/self/fd/1',
    path.join(repository, '.git', 'config'),
    path.join(repository, 'node_modules', '.package-lock.json'),
    path.join(repository, 'src', 'index.ts'),
    secret,
  ];
  for (const file of attempts) {
    await t.throwsAsync(shared.remote.read(file), { code: 'ERR_ACCESS_DENIED' }, file);
    await stillServing(t, shared);
  }
  for (const dir of ['/', tmpdir(), '/proc', path.join(repository, 'node_modules'), path.dirname(process.execPath)]) {
    await t.throwsAsync(shared.remote.readdir(dir), { code: 'ERR_ACCESS_DENIED' }, dir);
  }
  await t.throwsAsync(shared.remote.readlink('/proc/self/exe'), { code: 'ERR_ACCESS_DENIED' });
  await t.throwsAsync(shared.remote.requireFile(path.join(repository, 'package-lock.json')), { code: 'ERR_ACCESS_DENIED' });
  await t.throwsAsync(shared.remote.importFile(pathToFileURL(path.join(repository, 'eslint.config.js')).href), { code: 'ERR_ACCESS_DENIED' });
  await stillServing(t, shared);
});

test('held: internals, loader hooks, WASI, the inspector, child processes and eval workers through other doors', async (t) => {
  for (const name of ['spawn_sync', 'fs', 'natives', 'process_wrap']) await t.throwsAsync(shared.remote.binding(name), { code: 'ERR_ACCESS_DENIED' }, name);
  // module.register runs hooks on a thread: denied as a worker.
  await t.throwsAsync(shared.remote.registerHooks(), { code: 'ERR_ACCESS_DENIED' });
  await t.throwsAsync(shared.remote.wasi(), { code: 'ERR_ACCESS_DENIED' });
  await t.throwsAsync(shared.remote.inspectorOpen(), { code: 'ERR_ACCESS_DENIED' });
  await t.throwsAsync(shared.remote.spawnViaBuiltin(), { code: 'ERR_ACCESS_DENIED' });
  await t.throwsAsync(shared.remote.evalWorker(), { code: 'ERR_ACCESS_DENIED' });
  // Changing a file through a descriptor opened for reading.
  await t.throwsAsync(shared.remote.fdChmod(path.join(ownPackage, 'package.json')), { code: 'ERR_ACCESS_DENIED' });
  // Rewriting process.execArgv changes no permission.
  t.false(await shared.remote.tamperExecArgv());
  t.deepEqual(await shared.remote.env(), {});
  await stillServing(t, shared);
});

test('held: SIGUSR1 to another sandboxed agent opens no inspector there (the permission model denies it)', async (t) => {
  const other = await spawnAgent<ReviewAgent>(escapeAgent, { isolation: 'process', sandbox: true });
  try {
    // Default port: whatever answers there, if anything, is asked its pid only.
    const result = await shared.remote.debugAndEvaluate(other.pid!, 9229, 'process.pid', 2000);
    t.false(result.reached && result.value === other.pid);
    await stillServing(t, other);
    await stillServing(t, shared);
  } finally {
    await other.close();
  }
});

test("held: the agent's descriptors are its streams and the node's stdout/stderr (fds 0–4), plus its own runtime's", async (t) => {
  const fds = await shared.remote.fds();
  t.true(fds['3']?.socket && fds['4']?.socket);
  // Writing to its own blocking socket something that is not a request is a protocol
  // error on the node's side, for this agent alone (see test/process-blocking.test.ts).
  await stillServing(t, shared);
});
