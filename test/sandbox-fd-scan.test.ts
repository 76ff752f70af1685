/**
 * The node's first look for the descriptors a sandboxed agent would inherit (see
 * `inheritedDescriptors`, src/isolation/sandbox-launch.ts). It reads every descriptor's
 * /proc/self/fdinfo: done within a spawn, synchronously, it blocked the node's event loop
 * for the whole table (~180 ms for 10 000 sockets). These tests watch the node's reads of
 * fdinfo files (through `node:fs`, whose exports the library's modules see live) and
 * check that the descriptors without close-on-exec are still closed in the agent.
 *
 * Linux only: elsewhere there is no /proc, and no descriptor is known to be inherited.
 * Each test file runs in a process of its own, so the first sandboxed start here is this
 * process's first look; the tests run in order.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnAgent, type Agent } from '../src/index.ts';

const linux = process.platform === 'linux';
const escapeAgent = new URL('./fixtures/sandbox-escapes/escape-agent.js', import.meta.url);
const builtLibrary = new URL('../dist/index.js', import.meta.url);
const sandboxLaunch = new URL('../src/isolation/sandbox-launch.ts', import.meta.url);
const repository = fileURLToPath(new URL('..', import.meta.url));

interface FdAgent {
  ping(): string;
  fds(): Record<string, unknown>;
}

/** Turns of the event loop so far (a setImmediate chain runs while `ticking`). */
let turns = 0;
let ticking = false;
function tick(): void {
  turns++;
  if (ticking) setImmediate(tick);
}

/** The fdinfo files the node read, by descriptor: synchronously, and (with the turn when opened) asynchronously. */
const syncReads: number[] = [];
const asyncReads: Array<{ fd: number; turn: number }> = [];
const fdinfoOf = (file: unknown): number | undefined => {
  const match = typeof file === 'string' ? /^\/proc\/self\/fdinfo\/(\d+)$/.exec(file) : null;
  return match ? Number(match[1]) : undefined;
};

const originalReadFileSync = fs.readFileSync;
const originalOpen = fs.open;
test.before(() => {
  fs.readFileSync = ((file: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
    const fd = fdinfoOf(file);
    if (fd !== undefined) syncReads.push(fd);
    return (originalReadFileSync as (...args: unknown[]) => unknown)(file, ...rest);
  }) as typeof fs.readFileSync;
  fs.open = ((file: unknown, ...rest: unknown[]) => {
    const fd = fdinfoOf(file);
    if (fd !== undefined) asyncReads.push({ fd, turn: turns });
    return (originalOpen as (...args: unknown[]) => unknown)(file, ...rest);
  }) as typeof fs.open;
  // The library imports named exports of node:fs: make them these.
  syncBuiltinESMExports();
});
test.after.always(() => {
  fs.readFileSync = originalReadFileSync;
  fs.open = originalOpen;
  syncBuiltinESMExports();
});

/** Runs a node with `args` and its descriptors `extraFds` (index → open fd of this process); what it printed. */
async function runNode(args: string[], extraFds: Record<number, number>): Promise<{ code: number | null; out: string; err: string }> {
  const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe'];
  for (const [index, fd] of Object.entries(extraFds)) {
    while (stdio.length <= Number(index)) stdio.push('ignore');
    stdio[Number(index)] = fd;
  }
  const child = spawn(process.execPath, args, { stdio, cwd: repository });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  return { code, out, err };
}

/** Descriptors the node opens itself: close-on-exec, as Node.js opens every descriptor. */
function openMany(count: number): number[] {
  return Array.from({ length: count }, () => fs.openSync('/dev/null', 'r'));
}

const opened: number[] = [];
test.after.always(() => {
  for (const fd of opened) fs.closeSync(fd);
});

test.serial('the first look reads the descriptor table off the event loop, once for concurrent first starts', async (t) => {
  if (!linux) return t.pass('no /proc');
  opened.push(...openMany(300));
  ticking = true;
  setImmediate(tick);
  let agents: Array<Agent<FdAgent>> = [];
  try {
    agents = await Promise.all([1, 2].map(() => spawnAgent<FdAgent>(escapeAgent, { isolation: 'process', sandbox: true })));
  } finally {
    ticking = false;
  }
  try {
    for (const agent of agents) t.is(await agent.remote.ping(), 'pong');
  } finally {
    await Promise.all(agents.map((agent) => agent.close()));
  }
  // Within a spawn, synchronously, the node reads only what the first look found (these
  // descriptors are close-on-exec: not among them).
  t.deepEqual(
    syncReads.filter((fd) => opened.includes(fd)),
    [],
    'descriptors read synchronously, within a spawn',
  );
  // One look for both starts: each descriptor read once.
  const reads = asyncReads.filter(({ fd }) => opened.includes(fd));
  t.deepEqual(reads.map(({ fd }) => fd).sort((a, b) => a - b), [...opened].sort((a, b) => a - b));
  // The event loop turned while the look was reading.
  t.true(reads.length > 0 && reads[reads.length - 1]!.turn > reads[0]!.turn, 'the event loop did not turn during the look');
});

test.serial("later starts check again only the first look's candidates", async (t) => {
  if (!linux) return t.pass('no /proc');
  const before = asyncReads.length;
  const syncBefore = syncReads.length;
  opened.push(...openMany(100));
  const agent = await spawnAgent<FdAgent>(escapeAgent, { isolation: 'process', sandbox: true });
  try {
    t.is(await agent.remote.ping(), 'pong');
  } finally {
    await agent.close();
  }
  t.is(asyncReads.length, before, 'the table was read again');
  t.deepEqual(
    syncReads.slice(syncBefore).filter((fd) => opened.includes(fd)),
    [],
  );
});

test.serial('descriptors the node inherited without close-on-exec are closed in the agent, found among many of its own', async (t) => {
  if (!linux) return t.pass('no /proc');
  // A node of its own (built library, as a deployment runs it) inheriting two descriptors
  // on a secret file, opening hundreds of its own before its first sandboxed start.
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'agent-ipc-fd-scan-'));
  const secret = path.join(dir, 'secret.txt');
  fs.writeFileSync(secret, 'the node only');
  const fd = fs.openSync(secret, 'r');
  const inherited = [30, 700];
  try {
    const node = `
      import { openSync } from 'node:fs';
      import { spawnAgent } from ${JSON.stringify(builtLibrary.href)};
      for (let i = 0; i < 500; i++) openSync('/dev/null', 'r');
      const agent = await spawnAgent(new URL(${JSON.stringify(escapeAgent.href)}), { isolation: 'process', sandbox: true });
      try {
        process.stdout.write(JSON.stringify({ open: Object.keys(await agent.remote.fds()).map(Number), stillServing: await agent.remote.ping() }) + '\\n');
      } finally {
        await agent.close();
      }
    `;
    const { code, out, err } = await runNode(['--input-type=module', '-e', node], Object.fromEntries(inherited.map((index) => [index, fd])));
    t.is(code, 0, err.slice(-2000));
    const result = JSON.parse(out.trim()) as { open: number[]; stillServing: string };
    t.is(result.stillServing, 'pong');
    for (const index of inherited) t.false(result.open.includes(index), `descriptor ${index} of the node is open in the agent`);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('the look without blocking finds what the synchronous one (a start that did not wait for it) does', async (t) => {
  if (!linux) return t.pass('no /proc');
  // In a node inheriting descriptors 30 and 700 (close-on-exec off) among hundreds of its own.
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'agent-ipc-fd-scan-'));
  const fd = fs.openSync(dir, 'r');
  try {
    const look = async (awaited: boolean): Promise<number[]> => {
      const node = `
        import { openSync } from 'node:fs';
        import { inheritedDescriptors, scanInheritedDescriptors } from ${JSON.stringify(sandboxLaunch.href)};
        for (let i = 0; i < 500; i++) openSync('/dev/null', 'r');
        ${awaited ? 'await scanInheritedDescriptors();' : ''}
        process.stdout.write(JSON.stringify(inheritedDescriptors(3)) + '\\n');
      `;
      const { code, out, err } = await runNode(['--import=tsx', '--input-type=module', '-e', node], { 30: fd, 700: fd });
      t.is(code, 0, err.slice(-2000));
      return (JSON.parse(out.trim()) as number[]).sort((a, b) => a - b);
    };
    const [soon, sync] = await Promise.all([look(true), look(false)]);
    t.deepEqual(soon, sync);
    t.true(soon.includes(30) && soon.includes(700), JSON.stringify(soon));
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
