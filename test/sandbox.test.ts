/**
 * Sandboxed process agents (`sandbox`): a suite of escape attempts from an agent under
 * Node's permission model — each must fail with the runtime's own error while the agent
 * goes on serving calls — then each option that widens the sandbox, the scrubbed
 * environment, the line server, and the option's validation.
 *
 * The agents are JavaScript (test/fixtures/sandbox, a package of its own) and import the
 * built library: a sandboxed agent gets no TypeScript loader. `npm test` builds first.
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLineServer } from '../src/lines/index.ts';
import { spawnAgent, type Agent, type SandboxOptions } from '../src/index.ts';
import { STREAMS_NEED_NET } from '../src/isolation/sandbox-library-needs.ts';
import { resolveSpawnOptions } from '../src/spawn-options.ts';
import { LineClient } from './fixtures/lines/line-client.ts';

interface EscapeAgent {
  ping(): string;
  read(file: string): string;
  write(file: string, text: string): string;
  shell(): string;
  worker(file: string): { started: boolean; read: string };
  dlopen(file: string): string;
  requireAddon(file: string): string;
  binding(): string;
  inspector(): string;
  signal(pid: number): boolean;
  env(): Record<string, string>;
  execArgv(): string[];
  workerPermission(): boolean;
}

const escapeAgent = new URL('./fixtures/sandbox/escape-agent.js', import.meta.url);
const lineProtocol = new URL('./fixtures/sandbox/line-protocol.js', import.meta.url);
const typescriptAgent = new URL('./fixtures/sandbox/typescript-agent.ts', import.meta.url);
const outsideImportAgent = new URL('./fixtures/sandbox/outside-import-agent.js', import.meta.url);
/** The agent's package: the directory it may read by default. */
const ownPackage = fileURLToPath(new URL('./fixtures/sandbox', import.meta.url));
/** In the repository, outside the agent's package. */
const besidePackage = fileURLToPath(new URL('./fixtures/echo-agent.ts', import.meta.url));
const repository = fileURLToPath(new URL('..', import.meta.url));

/** Files outside everything the agent may read. */
const outside = mkdtempSync(path.join(tmpdir(), 'agent-ipc-sandbox-'));
const secret = path.join(outside, 'secret.txt');
writeFileSync(secret, 'the node only');
const elsewhere = mkdtempSync(path.join(tmpdir(), 'agent-ipc-sandbox-elsewhere-'));
const otherSecret = path.join(elsewhere, 'secret.txt');
writeFileSync(otherSecret, 'the node only, too');

// A variable of the node that a sandboxed agent must not see.
process.env.AGENT_IPC_SANDBOX_TEST_SECRET = 'token-of-the-node';

/** A native addon that loads in this (unsandboxed) process: lmdb's prebuilt binary. */
function findAddon(): string {
  const scope = path.join(repository, 'node_modules', '@lmdb');
  const candidates = readdirSync(scope).flatMap((dir) =>
    readdirSync(path.join(scope, dir))
      .filter((file) => file.endsWith('.node'))
      .map((file) => path.join(scope, dir, file)),
  );
  // N-API builds first: they load on every Node.js.
  candidates.sort((a, b) => Number(b.includes('napi')) - Number(a.includes('napi')));
  for (const file of candidates) {
    try {
      process.dlopen({ exports: {} }, file);
      return file;
    } catch {
      // not for this platform or Node.js; try the next
    }
  }
  throw new Error(`no loadable native addon among ${candidates.join(', ')}`);
}
const addon = findAddon();

/** Permission options of this Node.js. */
const permissionOption = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';

function spawnSandboxed(sandbox: boolean | SandboxOptions = true): Promise<Agent<EscapeAgent>> {
  return spawnAgent<EscapeAgent>(escapeAgent, { isolation: 'process', sandbox });
}

let shared: Agent<EscapeAgent>;
test.before(async () => {
  shared = await spawnSandboxed();
});
test.after.always(async () => {
  await shared?.close();
  rmSync(outside, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

/** The agent answers after an attempt: a failed escape did not cost it its service. */
async function stillServing(t: { is(a: unknown, b: unknown): void }, agent: Agent<EscapeAgent>): Promise<void> {
  t.is(await agent.remote.ping(), 'pong');
}

// --- escape attempts with the default sandbox -------------------------------------------

test('escape: reading a file outside its package fails with ERR_ACCESS_DENIED', async (t) => {
  for (const file of [secret, besidePackage, path.join(ownPackage, '..', 'echo-agent.ts'), '/etc/passwd', path.join(repository, 'README.md')]) {
    const error = await t.throwsAsync(shared.remote.read(file), { code: 'ERR_ACCESS_DENIED' }, file);
    t.is((error as Error & { permission?: string }).permission, 'FileSystemRead');
    await stillServing(t, shared);
  }
  // Its own package stays readable.
  t.is(JSON.parse(await shared.remote.read(path.join(ownPackage, 'package.json'))).name, 'sandboxed-agent-fixture');
});

test('escape: writing a file fails with ERR_ACCESS_DENIED, inside its package as outside', async (t) => {
  for (const file of [path.join(outside, 'written.txt'), path.join(ownPackage, 'written.txt')]) {
    const error = await t.throwsAsync(shared.remote.write(file, 'escaped'), { code: 'ERR_ACCESS_DENIED' }, file);
    t.is((error as Error & { permission?: string }).permission, 'FileSystemWrite');
    t.false(existsSync(file));
    await stillServing(t, shared);
  }
});

test('escape: spawning a shell fails with ERR_ACCESS_DENIED', async (t) => {
  const error = await t.throwsAsync(shared.remote.shell(), { code: 'ERR_ACCESS_DENIED' });
  t.is((error as Error & { permission?: string }).permission, 'ChildProcess');
  await stillServing(t, shared);
});

test('escape: starting a worker thread fails with ERR_ACCESS_DENIED', async (t) => {
  // On every Node.js: agent-ipc starts no thread in an agent sandboxed without
  // allowWorker (the node's warden process stands in for its watchdog thread), so the
  // permission is never granted.
  t.false(await shared.remote.workerPermission());
  const error = await t.throwsAsync(shared.remote.worker(secret), { code: 'ERR_ACCESS_DENIED' });
  t.is((error as Error & { permission?: string }).permission, 'WorkerThreads');
  await stillServing(t, shared);
});

test('escape: loading a native addon fails with ERR_DLOPEN_DISABLED', async (t) => {
  // Node's own error for addons under the permission model (on 20, 22 and 24 alike).
  await t.throwsAsync(shared.remote.dlopen(addon), { code: 'ERR_DLOPEN_DISABLED' });
  await stillServing(t, shared);
  // Through require(), Node 22+ first reads the file (outside the agent's package:
  // ERR_ACCESS_DENIED), Node 20 goes straight to the loader; see allowRead below.
  const error = await t.throwsAsync(shared.remote.requireAddon(addon));
  t.true(['ERR_DLOPEN_DISABLED', 'ERR_ACCESS_DENIED'].includes((error as Error & { code?: string }).code ?? ''), String(error));
  await stillServing(t, shared);
});

test("escape: Node's internal bindings and the inspector fail with ERR_ACCESS_DENIED", async (t) => {
  await t.throwsAsync(shared.remote.binding(), { code: 'ERR_ACCESS_DENIED' });
  await stillServing(t, shared);
  await t.throwsAsync(shared.remote.inspector(), { code: 'ERR_ACCESS_DENIED' });
  await stillServing(t, shared);
});

test('not stopped: the agent can signal processes of its OS user, the node included (see the threat model)', async (t) => {
  // The permission model does not cover signals. Signal 0 delivers nothing; if a
  // Node.js ever denies this, the threat model's list of what is not stopped changes.
  t.true(await shared.remote.signal(process.pid));
  await stillServing(t, shared);
});

test("the agent's environment is empty: none of the node's variables reach it", async (t) => {
  t.is(process.env.AGENT_IPC_SANDBOX_TEST_SECRET, 'token-of-the-node');
  t.deepEqual(await shared.remote.env(), {});
});

test("the agent runs under the permission model, without the node's preloads", async (t) => {
  const argv = await shared.remote.execArgv();
  t.true(argv.includes(permissionOption));
  t.true(argv.includes(`--allow-fs-read=${ownPackage}`));
  // The node runs under tsx; the sandboxed agent does not.
  t.true(process.execArgv.some((option) => option.includes('tsx')));
  t.false(argv.some((option) => option.includes('tsx')));
  // Nothing is granted for agent-ipc's own sake: workers only when the node asks (allowWorker, below).
  for (const denied of ['--allow-child-process', '--allow-addons', '--allow-fs-write', '--allow-worker']) t.false(argv.some((option) => option.startsWith(denied)), denied);
  // Node.js 25+ counts the agent's streams to the node (net.Sockets on fds) as network use.
  t.is(argv.includes('--allow-net'), STREAMS_NEED_NET);
  // Not the repository: only the library's built files, its manifest and its dependencies.
  t.false(argv.includes(`--allow-fs-read=${repository.replace(/\/$/, '')}`));
});

test('an agent whose module imports a file outside its package fails to start with ERR_ACCESS_DENIED', async (t) => {
  await t.throwsAsync(spawnAgent(outsideImportAgent, { isolation: 'process', sandbox: true }), { code: 'ERR_ACCESS_DENIED' });
  // The same module starts unsandboxed: the sandbox was the only obstacle.
  const agent = await spawnAgent<{ ping(): string }>(outsideImportAgent, { isolation: 'process' });
  t.is(await agent.remote.ping(), 'pong');
  await agent.close();
});

// --- each option widens one thing ----------------------------------------------------------

test('allowRead: the agent reads what it lists, and still nothing else', async (t) => {
  // A path that does not exist (yet) is accepted too.
  const agent = await spawnSandboxed({ allowRead: [outside, path.dirname(addon), path.join(outside, 'not-yet')] });
  try {
    // Readable, but still no addon.
    await t.throwsAsync(agent.remote.requireAddon(addon), { code: 'ERR_DLOPEN_DISABLED' });
    t.is(await agent.remote.read(secret), 'the node only');
    await t.throwsAsync(agent.remote.read(otherSecret), { code: 'ERR_ACCESS_DENIED' });
    await t.throwsAsync(agent.remote.write(path.join(outside, 'x.txt'), 'x'), { code: 'ERR_ACCESS_DENIED' });
  } finally {
    await agent.close();
  }
});

test('allowWrite: the agent writes where it lists, and still nowhere else', async (t) => {
  const target = path.join(outside, 'writable');
  mkdirSync(target);
  const agent = await spawnSandboxed({ allowWrite: [pathToUrl(target)] });
  try {
    t.is(await agent.remote.write(path.join(target, 'out.txt'), 'from the agent'), 'written');
    t.is(readFileSync(path.join(target, 'out.txt'), 'utf8'), 'from the agent');
    await t.throwsAsync(agent.remote.write(path.join(elsewhere, 'out.txt'), 'x'), { code: 'ERR_ACCESS_DENIED' });
    await t.throwsAsync(agent.remote.write(path.join(ownPackage, 'out.txt'), 'x'), { code: 'ERR_ACCESS_DENIED' });
  } finally {
    await agent.close();
  }
});

function pathToUrl(file: string): URL {
  return new URL(`file://${file}`);
}

test('allowChildProcess: the agent may start a shell', async (t) => {
  const agent = await spawnSandboxed({ allowChildProcess: true });
  try {
    t.is(await agent.remote.shell(), 'escaped');
    await t.throwsAsync(agent.remote.read(secret), { code: 'ERR_ACCESS_DENIED' });
  } finally {
    await agent.close();
  }
});

test('allowWorker: the agent may start a worker thread, which stays confined', async (t) => {
  const agent = await spawnSandboxed({ allowWorker: true });
  try {
    t.true(await agent.remote.workerPermission());
    t.deepEqual(await agent.remote.worker(secret), { started: true, read: 'ERR_ACCESS_DENIED' });
    t.true((await agent.remote.execArgv()).includes('--allow-worker'));
  } finally {
    await agent.close();
  }
});

test('allowAddons: the agent may load a native addon', async (t) => {
  const agent = await spawnSandboxed({ allowAddons: true });
  try {
    t.is(await agent.remote.dlopen(addon), 'object');
    await t.throwsAsync(agent.remote.shell(), { code: 'ERR_ACCESS_DENIED' });
  } finally {
    await agent.close();
  }
});

test('env: the agent gets exactly the variables the node passes', async (t) => {
  const agent = await spawnSandboxed({ env: { GREETING: 'hello', EMPTY: '' } });
  try {
    t.deepEqual(await agent.remote.env(), { GREETING: 'hello', EMPTY: '' });
  } finally {
    await agent.close();
  }
});

test('a TypeScript agent: refused where Node.js cannot strip types, run where it can', async (t) => {
  const typescript = (process.features as { typescript?: unknown }).typescript;
  if (!typescript) {
    await t.throwsAsync(spawnAgent(typescriptAgent, { isolation: 'process', sandbox: true }), {
      instanceOf: TypeError,
      message: /^\[agent-ipc\] option 'sandbox' must be unset for a TypeScript agent module on Node\.js .*tsx/,
    });
  } else {
    const agent = await spawnAgent<{ ping(): string }>(typescriptAgent, { isolation: 'process', sandbox: true });
    t.is(await agent.remote.ping(), 'pong');
    await agent.close();
  }
});

// --- the line server ------------------------------------------------------------------------

for (const handOffSockets of [false, true]) {
  test(`line server (handOffSockets ${handOffSockets}): sandboxed agents serve lines and cannot read outside`, async (t) => {
    const server = createLineServer({ agent: lineProtocol, isolation: 'process', sandbox: true, handOffSockets });
    try {
      const { port } = await server.listen(0, '127.0.0.1');
      const client = await LineClient.connect(port);
      client.send('hello');
      t.is(await client.next(), 'ECHO hello');
      client.send(`READ ${secret}`);
      t.is(await client.next(), 'READ ERR_ACCESS_DENIED');
      client.send(`READ ${fileURLToPath(lineProtocol)}`);
      t.is(await client.next(), 'READ ok');
      client.send('again');
      t.is(await client.next(), 'ECHO again');
      await client.close();
    } finally {
      await server.close();
    }
  });
}

// --- validation -----------------------------------------------------------------------------

test('sandbox with a thread or inline agent is a TypeError that says why', async (t) => {
  for (const isolation of [undefined, 'thread', 'inline'] as const) {
    await t.throwsAsync(spawnAgent(escapeAgent, { isolation, sandbox: true }), {
      instanceOf: TypeError,
      message: /^\[agent-ipc\] option 'sandbox' must be unset or false under isolation '(thread|inline)' \(a thread or inline agent shares the node's process/,
    });
    t.throws(() => createLineServer({ agent: lineProtocol, isolation, sandbox: {} }), { instanceOf: TypeError, message: /option 'sandbox'.*shares the node's process/ });
  }
  t.is(resolveSpawnOptions({ isolation: 'thread', sandbox: false }).sandbox, undefined);
  t.is(resolveSpawnOptions({ isolation: 'process' }).sandbox, undefined);
});

test('sandbox options are validated, each TypeError naming its option', (t) => {
  const bad: Array<[unknown, RegExp]> = [
    ['yes', /option 'sandbox' must be a boolean or an object of SandboxOptions/],
    [null, /option 'sandbox' must be a boolean or an object/],
    [[], /option 'sandbox' must be a boolean or an object/],
    [{ allowNet: true }, /option 'sandbox\.allowNet' must be one of allowRead, allowWrite, allowChildProcess, allowWorker, allowAddons, env/],
    [{ allowRead: '/tmp' }, /option 'sandbox\.allowRead' must be an array of paths/],
    [{ allowRead: [''] }, /option 'sandbox\.allowRead\[0\]' must be a non-empty path/],
    [{ allowWrite: ['/tmp', 7] }, /option 'sandbox\.allowWrite\[1\]' must be a non-empty path/],
    [{ allowWrite: ['/tmp/a\0b'] }, /option 'sandbox\.allowWrite\[0\]' must be a non-empty path without NUL/],
    [{ allowRead: [new URL('https://example.com/')] }, /option 'sandbox\.allowRead\[0\]' must be a path or a file: URL/],
    [{ allowChildProcess: 1 }, /option 'sandbox\.allowChildProcess' must be a boolean/],
    [{ allowWorker: 'true' }, /option 'sandbox\.allowWorker' must be a boolean/],
    [{ allowAddons: null }, /option 'sandbox\.allowAddons' must be a boolean/],
    [{ env: 'A=1' }, /option 'sandbox\.env' must be an object of strings/],
    [{ env: { A: 1 } }, /option 'sandbox\.env\.A' must be a string/],
    [{ env: { 'A=B': 'x' } }, /option 'sandbox\.env' must be an object whose keys are variable names/],
    [{ env: { NODE_OPTIONS: '--allow-fs-read=*' } }, /option 'sandbox\.env\.NODE_OPTIONS' must be unset \(the sandbox sets the agent's Node\.js options\)/],
  ];
  for (const [sandbox, message] of bad) {
    t.throws(() => resolveSpawnOptions({ isolation: 'process', sandbox }), { instanceOf: TypeError, message }, JSON.stringify(sandbox));
  }
  // Relative paths are taken from the node's working directory; file: URLs become paths.
  const resolved = resolveSpawnOptions({ isolation: 'process', sandbox: { allowRead: ['data', 'file:///srv/x'], env: { A: 'b' } } }).sandbox;
  t.deepEqual(resolved, {
    allowRead: [path.resolve('data'), '/srv/x'],
    allowWrite: [],
    allowChildProcess: false,
    allowWorker: false,
    allowAddons: false,
    env: { A: 'b' },
  });
});

test('a bad sandbox option rejects spawnAgent before anything starts', async (t) => {
  await t.throwsAsync(spawnAgent(escapeAgent, { isolation: 'process', sandbox: { allowRead: 'nope' as unknown as string[] } }), {
    instanceOf: TypeError,
    message: /option 'sandbox\.allowRead'/,
  });
});
