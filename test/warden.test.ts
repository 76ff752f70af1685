/**
 * The warden: the one process per node that ends agents sandboxed without worker
 * threads (which have no watchdog thread) when the node dies while they are busy.
 *
 * First the warden on its own, driven through its stdin as the node drives it:
 * who it kills when that ends (the registered agents whose start time still matches,
 * nobody else), what it ignores, its parent-pid backstop. Then through the library: a
 * killed warden is replaced and told every agent again; a node killed while its
 * sandboxed agent spins leaves nothing behind; a node that closes its agent exits by
 * itself (the warden keeps nothing alive); a warden that cannot start fails the
 * agent's start. Every process started here is ended here.
 *
 * Sandboxed agents start from the built bootstrap: `npm test` builds first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import test, { type ExecutionContext } from 'ava';
import { spawnAgent } from '../src/index.ts';
import { processStartTime } from '../src/isolation/process-start-time.ts';
import { nodeWarden, wardenCommand } from '../src/isolation/warden-client.ts';
import { lineSplitter, parseWardenLine } from '../src/isolation/warden-protocol.ts';
import { within } from './helpers/agents.ts';
import { gone } from './helpers/process-gone.ts';

interface BusyAgent {
  ping(): string;
  spinSoon(): string;
}

const busyAgent = new URL('./fixtures/sandbox/busy-agent.js', import.meta.url);
const sandboxedNode = new URL('./fixtures/sandboxed-node.ts', import.meta.url);

/** SIGKILLs every pid when the test ends, whatever happened. */
function killAtEnd(t: ExecutionContext, pids: ReadonlyArray<number | undefined>): void {
  t.teardown(() => {
    for (const pid of pids) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** A process that does nothing until killed: an agent, as far as the warden can tell. */
function standIn(t: ExecutionContext, options: { detached?: boolean } = {}): ChildProcess & { pid: number } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore', detached: options.detached });
  killAtEnd(t, [child.pid]);
  return child as ChildProcess & { pid: number };
}

/** Resolves with `promise`'s value, or with 'still running' after a generous 15 s. */
function bounded<T>(promise: Promise<T>): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 15_000)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** How a child process ended (at once if it already has), or 'still running' after 15 s. */
function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return bounded(once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null })));
}

/**
 * A warden of the test's own, as the node starts one. In a process group of its own,
 * so that a bug making it signal group 0 could not reach the test runner.
 */
function startWarden(t: ExecutionContext): ChildProcess {
  const { file, args, env } = wardenCommand();
  const warden = spawn(file, args, { stdio: ['pipe', 'ignore', 'inherit'], env, detached: true });
  killAtEnd(t, [warden.pid]);
  return warden;
}

// --- the warden on its own ----------------------------------------------------------------

test('the protocol: two commands, everything else ignored, never a pid that signals a group or init', (t) => {
  t.deepEqual(parseWardenLine('register 1234 98765'), { op: 'register', pid: 1234, start: '98765' });
  t.deepEqual(parseWardenLine('register 1234 -'), { op: 'register', pid: 1234, start: '-' });
  t.deepEqual(parseWardenLine('unregister 1234'), { op: 'unregister', pid: 1234 });
  const malformed = [
    '',
    'register',
    'register 1234',
    'register 1234 -1',
    'register 1234 12x',
    'register 1234 - extra',
    'register  1234 -',
    ' register 1234 -',
    'Register 1234 -',
    'register 01234 -',
    'register 0x10 -',
    'register 1e3 -',
    'register 12.5 -',
    'unregister 1234 now',
    'kill 1234',
    // 0 and negative pids signal process groups; 1 is init; beyond 2^31-1 is no pid.
    'register 0 -',
    'register -1 -',
    'register -1234 -',
    'register 1 -',
    'unregister 1',
    'register 2147483648 -',
    'register 99999999999 -',
    `register 1234 ${'1'.repeat(21)}`,
  ];
  for (const line of malformed) t.is(parseWardenLine(line), undefined, JSON.stringify(line));
  t.deepEqual(parseWardenLine('register 2 -'), { op: 'register', pid: 2, start: '-' });
  t.deepEqual(parseWardenLine('register 2147483647 -'), { op: 'register', pid: 2147483647, start: '-' });
});

test('lines are read across chunks; an over-long line is skipped whole and costs no memory', (t) => {
  const lines: string[] = [];
  const feed = lineSplitter((line) => lines.push(line));
  feed('regis');
  feed('ter 12 -\nunreg');
  feed('ister 12\n');
  feed('x'.repeat(50));
  feed('x'.repeat(50)); // over 64 characters, still no end of line
  feed('y'.repeat(100_000));
  feed('\nregister 13 -\n');
  feed(`${'z'.repeat(70)}\nregister 14 -\n`);
  t.deepEqual(lines, ['register 12 -', 'unregister 12', 'register 13 -', 'register 14 -']);
});

test('when its stdin ends, the warden kills the registered processes whose start time still matches, and no other', async (t) => {
  const killed = standIn(t);
  const unregistered = standIn(t);
  const reused = standIn(t);
  const noStartTime = standIn(t);
  const named = standIn(t, { detached: true });
  const warden = startWarden(t);
  const input = warden.stdin!;
  input.write(`register ${killed.pid} ${processStartTime(killed.pid)}\n`);
  input.write(`register ${unregistered.pid} ${processStartTime(unregistered.pid)}\n`);
  input.write(`unregister ${unregistered.pid}\n`);
  // A start time that no longer matches: the pid is taken to belong to another process by now.
  t.not(processStartTime(reused.pid), '1');
  input.write(`register ${reused.pid} 1\n`);
  // Malformed lines naming a process (in a group of its own, so a group kill would show too).
  for (const line of [`register ${named.pid}`, `register ${named.pid} -1`, `Register ${named.pid} -`, `register -${named.pid} -`, `register ${named.pid} - now`, 'register 0 -']) {
    input.write(`${line}\n`);
  }
  // An over-long line is skipped; the line after it is read. '-': kill by pid alone.
  input.write(`${'x'.repeat(100_000)}\nregister ${noStartTime.pid} -\n`);
  input.end();

  t.deepEqual(await exitOf(warden), { code: 0, signal: null });
  t.deepEqual(await exitOf(killed), { code: null, signal: 'SIGKILL' });
  t.deepEqual(await exitOf(noStartTime), { code: null, signal: 'SIGKILL' });
  for (const alive of [unregistered, reused, named]) t.false(gone(alive.pid), `pid ${alive.pid} was killed`);
});

test('the warden with nothing registered exits once its stdin ends', async (t) => {
  const warden = startWarden(t);
  warden.stdin!.end();
  t.deepEqual(await exitOf(warden), { code: 0, signal: null });
});

test('backstop: the warden ends the registered processes when its parent is no longer the node, though its stdin stays open', async (t) => {
  const agent = standIn(t);
  const { file, args, env } = wardenCommand();
  // A stand-in node that starts the warden with its own stdin, a pipe this test keeps
  // open: only the parent pid can tell the warden that its node is gone.
  const middle = spawn(
    process.execPath,
    [
      '-e',
      `const { spawn } = require('node:child_process');
       const [file, args] = JSON.parse(process.argv[1]);
       const warden = spawn(file, [...args.slice(0, -1), String(process.pid)], { stdio: ['inherit', 'ignore', 'inherit'], detached: true });
       console.log(warden.pid);
       setInterval(() => {}, 1e9);`,
      JSON.stringify([file, args]),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], env },
  );
  killAtEnd(t, [middle.pid]);
  const [line] = (await once(middle.stdout!, 'data')) as [Buffer];
  const wardenPid = Number(line.toString().trim());
  killAtEnd(t, [wardenPid]);
  middle.stdin!.write(`register ${agent.pid} ${processStartTime(agent.pid)}\n`);
  t.false(gone(agent.pid));
  // Likely before the warden has even read the line (or started): it still reads what
  // the node wrote before dying.
  middle.kill('SIGKILL');
  t.deepEqual(await exitOf(agent), { code: null, signal: 'SIGKILL' });
  t.true(await within(15_000, () => gone(wardenPid)), 'the warden exits after');
  middle.stdin!.end();
});

// --- through the library ----------------------------------------------------------------------

test.serial('a warden that dies is replaced and told every guarded agent; agents with a watchdog thread are not its to end', async (t) => {
  const guarded = await spawnAgent<BusyAgent>(busyAgent, { isolation: 'process', sandbox: true, name: 'guarded' });
  const watched = await spawnAgent<BusyAgent>(busyAgent, { isolation: 'process', sandbox: { allowWorker: true }, name: 'watched' });
  const unsandboxed = await spawnAgent<BusyAgent>(busyAgent, { isolation: 'process', name: 'unsandboxed' });
  t.teardown(() => Promise.all([guarded, watched, unsandboxed].map((agent) => agent.close({ timeoutMs: 1000 }))));
  const first = nodeWarden().process;
  t.truthy(first?.pid);
  killAtEnd(t, [first?.pid]);

  first!.kill('SIGKILL');
  t.true(await within(15_000, () => nodeWarden().process !== undefined && nodeWarden().process !== first), 'a new warden runs');
  const second = nodeWarden().process!;
  killAtEnd(t, [second.pid]);
  t.not(second.pid, first!.pid);
  t.is(await guarded.remote.ping(), 'pong');

  // As far as the new warden can tell, the node is now gone: it ends what it was told of.
  second.stdin!.end();
  t.deepEqual(await bounded(guarded.exited), { code: null, signal: 'SIGKILL' });
  t.is(await watched.remote.ping(), 'pong');
  t.is(await unsandboxed.remote.ping(), 'pong');
});

test.serial('when the node is killed while its sandboxed agent spins, the agent and the warden are gone soon after', async (t) => {
  const node = spawn(process.execPath, [...process.execArgv, new URL(sandboxedNode).pathname, 'doomed'], { stdio: ['ignore', 'pipe', 'inherit'] });
  killAtEnd(t, [node.pid]);
  const [line] = (await once(node.stdout!, 'data')) as [Buffer];
  const { agents, warden } = JSON.parse(line.toString()) as { agents: number[]; warden: number };
  killAtEnd(t, [...agents, warden]);
  t.is(agents.length, 2);
  t.true(Number.isInteger(warden));
  t.true([...agents, warden].every((pid) => !gone(pid)), 'all run before the node dies');

  node.kill('SIGKILL');
  t.true(await within(15_000, () => gone(node.pid!)), 'the node is gone');
  const died = Date.now();
  // The spinning one cannot notice anything: only the warden can end it.
  t.true(await within(15_000, () => agents.every(gone)), `agents still running: ${agents.filter((pid) => !gone(pid)).join(', ')}`);
  t.true(await within(15_000, () => gone(warden)), 'the warden exits after');
  t.log(`agents gone ${Date.now() - died} ms after the node`);
});

/** Runs the sandboxed node fixture in `mode` to its end, checks that it exited with 0, and returns what it printed. */
async function runSandboxedNode(t: ExecutionContext, mode: 'close' | 'no-warden'): Promise<string> {
  const node = spawn(process.execPath, [...process.execArgv, new URL(sandboxedNode).pathname, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  killAtEnd(t, [node.pid]);
  let out = '';
  node.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  t.deepEqual(await exitOf(node), { code: 0, signal: null });
  return out;
}

test('a node that closes its sandboxed agent exits by itself, and its warden with it', async (t) => {
  // Nothing of agent-ipc keeps it alive: it ends by itself, well within the test's timeout.
  const out = await runSandboxedNode(t, 'close');
  const { warden } = JSON.parse(out) as { warden: number };
  killAtEnd(t, [warden]);
  t.true(Number.isInteger(warden));
  t.true(await within(15_000, () => gone(warden)), 'the warden exits when its node does');
});

test('a warden that cannot be started fails the sandboxed agent’s start with ERR_AGENT_IPC_WARDEN', async (t) => {
  const out = await runSandboxedNode(t, 'no-warden');
  const failure = JSON.parse(out) as { name: string; code: string; message: string; isAgentIpcError: boolean; cause: unknown };
  t.like(failure, { name: 'AgentIpcError', code: 'ERR_AGENT_IPC_WARDEN', isAgentIpcError: true });
  t.regex(failure.message, /^\[agent-ipc\] agent 'unguarded' was not started: .*warden could not be started/);
  // Why it could not, as the runtime told it (here: no process was created).
  t.regex(String(failure.cause), /warden process was not created/);
});
