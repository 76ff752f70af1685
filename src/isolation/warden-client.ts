/**
 * The node's side of the warden (`process-warden.ts`), the process that ends the node's
 * agents sandboxed without worker threads if the node dies while one is too busy to
 * notice. One warden per node, started with the first such agent and kept for the
 * node's lifetime; the node writes to its stdin and nothing else (`warden-protocol.ts`).
 *
 * It never keeps the node alive: the child and its stdin are unref'd. It does not
 * outlive the node either: when the node ends, however, its end of the pipe closes and
 * the warden exits (after ending any agent still registered and still running).
 *
 * A warden that dies while agents are registered is started again and told them all
 * (at most once a second, so that one that cannot run is not restarted in a loop); one
 * that cannot be started for a new agent fails that agent's start
 * (`ERR_AGENT_IPC_WARDEN`) rather than leave it running without the backstop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { AgentIpcError } from '../errors.ts';
import { childExecArgv } from './child-exec-argv.ts';
import { HAS_PROC_STAT, processStartTime } from './process-start-time.ts';
import { libraryReadPaths, STREAMS_NEED_NET } from './sandbox-library-needs.ts';
import { permissionFlags, permissionOption } from './sandbox-permission-flags.ts';
import { coveringPaths } from './sandbox-read-paths.ts';
import { NO_START_TIME, registerLine, unregisterLine } from './warden-protocol.ts';

const here = import.meta.url;
const fromSources = here.endsWith('.ts');
const wardenUrl = fromSources ? new URL('./process-warden.ts', here) : new URL('./process-warden.js', here);

/** The shortest time between two starts of a warden. */
const RESTART_INTERVAL_MS = 1000;

/**
 * How the warden is started: the program, its arguments, its environment.
 * @internal Exported for the tests, which run wardens of their own.
 */
export function wardenCommand(): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  const script = fileURLToPath(wardenUrl);
  // Built, the warden is one file that imports only Node's own modules: it gets none of
  // the node's Node.js options or variables (NODE_OPTIONS would run the node's preloads
  // in it), as a sandboxed agent gets none. It runs under the permission model, reading
  // its own files and /proc only: so that a sandboxed agent, which may signal it, cannot
  // open its inspector with SIGUSR1 (Node.js denies the inspector under the model) and
  // run code in a process that is not sandboxed.
  if (!fromSources) return { file: process.execPath, args: [...wardenPermissions(), script, String(process.pid)], env: {} };
  // From the sources (agent-ipc's own tests and examples), it needs the node's loader:
  // it starts the way an unsandboxed process agent's bootstrap does.
  return { file: process.execPath, args: [...childExecArgv(process.execArgv, undefined), script, String(process.pid)], env: process.env };
}

/** The permission options of the built warden: its own files and /proc (start times). */
function wardenPermissions(): string[] {
  if (permissionOption() === undefined) return [];
  // stdin is a pipe opened as a net.Socket: network use where Node.js restricts it (25+).
  return permissionFlags({ read: coveringPaths([...libraryReadPaths(wardenUrl), '/proc']), write: [], childProcess: false, worker: false, addons: false, net: STREAMS_NEED_NET });
}

/** The node's link to its warden. */
export interface WardenLink {
  /**
   * Makes sure the warden runs before the agent `agentName` starts, starting it if
   * needed. Throws an `AgentIpcError` (`ERR_AGENT_IPC_WARDEN`) if it cannot be started:
   * the agent is then not to be started at all.
   */
  require(agentName: string): void;
  /** Puts the agent process `pid`, just started, under the warden's guard. */
  guard(pid: number): void;
  /** Takes the agent process `pid`, which has exited, off the warden's list. */
  release(pid: number): void;
  /** The warden process, if one runs (for the tests). */
  readonly process: ChildProcess | undefined;
}

class Warden implements WardenLink {
  /** The agents under guard, pid → start time: what a new warden is told again. */
  private readonly guarded = new Map<number, string>();
  private child: ChildProcess | undefined;
  private lastStart = -Infinity;
  private restartTimer: NodeJS.Timeout | undefined;

  get process(): ChildProcess | undefined {
    return this.child;
  }

  require(agentName: string): void {
    if (this.child) return;
    const failure = this.start();
    if (failure === undefined) return;
    throw new AgentIpcError(
      `agent '${agentName}' was not started: it is sandboxed without worker threads, so the node's warden process must guard it (it ends the agent if the node dies while the agent is busy), and the warden could not be started (${process.execPath} ${fileURLToPath(wardenUrl)})`,
      'ERR_AGENT_IPC_WARDEN',
      { cause: failure },
    );
  }

  guard(pid: number): void {
    const start = HAS_PROC_STAT ? processStartTime(pid) : NO_START_TIME;
    // Already gone: nothing to guard, and its pid may soon be another process's.
    if (start === undefined) return;
    this.guarded.set(pid, start);
    if (this.child) this.send(registerLine(pid, start));
    else this.restartLater();
  }

  release(pid: number): void {
    if (this.guarded.delete(pid)) this.send(unregisterLine(pid));
  }

  private send(line: string): void {
    (this.child?.stdin as Socket | undefined)?.write(line);
  }

  /** Starts a warden and tells it every guarded agent; if it could not be started, why. */
  private start(): Error | undefined {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.lastStart = Date.now();
    // A missing script (a bundle without agent-ipc's dist files beside it) would start a
    // process that exits at once: no warden, and no error to tell.
    if (!existsSync(wardenUrl)) return new Error(`no such file: ${fileURLToPath(wardenUrl)}`);
    const { file, args, env } = wardenCommand();
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: ['pipe', 'ignore', 'inherit'], env, windowsHide: true });
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    const lost = (): void => {
      if (this.child !== child) return;
      this.child = undefined;
      this.restartLater();
    };
    child.once('exit', lost);
    // A failed spawn (ENOENT, EAGAIN, …) is reported here after this returns, as is a
    // failed kill; the missing pid below, or the 'exit', has it covered.
    child.on('error', lost);
    // Its error (ENOENT, EAGAIN, …) is emitted later; the missing pid is what is known now.
    if (child.pid === undefined) return new Error('the warden process was not created (no pid)');
    this.child = child;
    const stdin = child.stdin as Socket;
    // A write to a warden that has just died fails; its 'exit' starts another.
    stdin.on('error', () => undefined);
    child.unref();
    stdin.unref();
    for (const [pid, start] of this.guarded) stdin.write(registerLine(pid, start));
    return undefined;
  }

  /** Starts the warden again if agents are still guarded, no sooner than a second after the last start. */
  private restartLater(): void {
    if (this.guarded.size === 0 || this.child || this.restartTimer) return;
    this.restartTimer = setTimeout(
      () => {
        this.restartTimer = undefined;
        if (this.guarded.size > 0 && !this.child && this.start() !== undefined) this.restartLater();
      },
      Math.max(0, this.lastStart + RESTART_INTERVAL_MS - Date.now()),
    );
    // Waiting to restart it keeps the node alive no more than the warden itself would.
    this.restartTimer.unref();
  }
}

/**
 * Where the node's warden is kept: a global under a registered symbol, so that every
 * copy of agent-ipc in the thread (its ESM and CJS builds, `agent-ipc` and
 * `agent-ipc/lines`, which each bundle this file) shares one warden. The `v1` is the
 * shape of {@link WardenLink}: a copy that needs another shape uses another key.
 */
const WARDEN = Symbol.for('agent-ipc.warden.v1');

/** The node's warden link (one per thread: globals are). */
export function nodeWarden(): WardenLink {
  const global = globalThis as { [WARDEN]?: WardenLink };
  return (global[WARDEN] ??= new Warden());
}
