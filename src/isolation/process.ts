/**
 * Process isolation: the agent runs in a child process of its own (own heap, own
 * event loop, own crash domain), started from `process-bootstrap` with the node's
 * Node.js options. The node and the agent share two Unix sockets carrying stream
 * frames: the child's fd 3 (start-up, then the agent connection, served by the
 * agent's main thread) and fd 4 (blocking calls, served by the agent's I/O thread,
 * which can read while the main thread is parked).
 *
 * Lifetimes are tied both ways: an agent that dies is noticed through its exit
 * status (and the stream's end), and an agent outlives no node — its I/O thread sees
 * the stream end when the node dies, however it dies.
 */
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { AgentExit } from '../errors.ts';
import { StreamChannel } from '../transports/stream-frames.ts';
import { StreamLink, StreamTransport } from '../transports/stream-transport.ts';
import { childExecArgv } from './child-exec-argv.ts';
import type { AgentInit } from './control.ts';
import type { AgentLauncher } from './launcher.ts';
import type { ProcessArgs } from './process-bootstrap.ts';
import { sandboxLaunch } from './sandbox-launch.ts';
import type { ResolvedSandbox } from './sandbox-options.ts';

const here = import.meta.url;
const bootstrapUrl = here.endsWith('.ts') ? new URL('./process-bootstrap.ts', here) : new URL('./process-bootstrap.js', here);

/** After the process has exited, how long its streams may stay open before the exit is reported anyway. */
const STREAM_GRACE_MS = 250;

/** After a stream has ended, how long the process may stay alive before it is killed. */
const EXIT_GRACE_MS = 500;

/** How a process agent is started, beyond its init. */
export interface ProcessOptions {
  /** Heap cap in MiB (`--max-old-space-size`). */
  maxOldGenerationSizeMb?: number;
  /**
   * Open a Node.js IPC channel (the child's fd 5) so that sockets can be handed to the
   * agent (`sendHandle`). Only when asked: every other agent has no such channel.
   */
  handles?: boolean;
  /** Run the agent under Node's permission model, with a scrubbed environment (see `sandbox-launch.ts`). */
  sandbox?: ResolvedSandbox;
}

/** Starts a process agent. */
export function launchProcess(init: AgentInit, start: ProcessOptions = {}): AgentLauncher {
  const args: ProcessArgs = { name: init.name, maxMessageBytes: init.maxMessageBytes };
  // stdout and stderr are the node's (console output of agents shows as a thread's would).
  const stdio: Array<'ignore' | 'inherit' | 'pipe' | 'ipc'> = ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'];
  // The agent unrefs this channel at once: it never keeps the agent alive, and the
  // agent's lifetime stays tied to fd 3 and 4 (it goes when the node goes).
  if (start.handles) stdio.push('ipc');
  // A sandboxed agent starts with its own permission options and only the variables
  // the node passes it (env undefined: the node's environment, as before).
  const sandboxed = start.sandbox ? sandboxLaunch(init.entry, start.sandbox, bootstrapUrl) : undefined;
  const child = spawn(process.execPath, [...childExecArgv(process.execArgv, start.maxOldGenerationSizeMb, sandboxed?.flags), fileURLToPath(sandboxed?.bootstrap ?? bootstrapUrl), JSON.stringify(args)], {
    stdio,
    windowsHide: true,
    env: sandboxed?.env,
  });

  let exitListener: ((exit: AgentExit) => void) | undefined;
  let exit: AgentExit | undefined;
  let status: AgentExit | undefined;
  let streamsOpen = 2;
  let streamGrace: NodeJS.Timeout | undefined;

  const report = (): void => {
    if (exit || !status) return;
    clearTimeout(streamGrace);
    exit = status;
    exitListener?.(exit);
    // The connections closed with the exit (AgentExitedError); release the streams.
    agentLink.fail(undefined);
    blockingLink.fail(undefined);
  };

  // Frames written just before the exit are read before the exit is reported, and
  // calls then reject with AgentExitedError (code, signal) rather than a bare "closed".
  const onEnd = (): void => {
    streamsOpen--;
    if (status) {
      if (streamsOpen === 0) report();
      return;
    }
    setTimeout(() => {
      // The agent let go of a stream but not of its process: it cannot be reached.
      if (!status) child.kill('SIGKILL');
    }, EXIT_GRACE_MS).unref();
  };
  const options = { maxMessageBytes: init.maxMessageBytes, onEnd };
  const agentLink = new StreamLink(child.stdio[3] as Duplex, options);
  const blockingLink = new StreamLink(child.stdio[4] as Duplex, options);

  child.once('exit', (code, signal) => {
    status = { code, signal };
    if (streamsOpen === 0) report();
    // A grandchild may hold the socket open; the exit is reported regardless.
    else streamGrace = setTimeout(report, STREAM_GRACE_MS);
  });
  child.once('error', (error) => {
    // spawn failed (no exit will follow), or a kill failed on a process already gone.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) return;
    status ??= { code: null, signal: null, error };
    report();
  });

  agentLink.send(StreamChannel.SETUP, [init]);

  return {
    isolation: 'process',
    pid: child.pid ?? -1,
    threadId: undefined,
    transport: new StreamTransport(agentLink, StreamChannel.AGENT),
    blockingTransport: new StreamTransport(blockingLink, StreamChannel.BLOCKING),
    sendHandle: start.handles
      ? (message, socket) =>
          new Promise<void>((resolve, reject) => {
            const sent = (error: Error | null): void => (error ? reject(error) : resolve());
            try {
              child.send(message, socket, sent);
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          })
      : undefined,
    onExit(listener) {
      if (exit) listener(exit);
      else exitListener = listener;
    },
    terminate() {
      if (!exit) child.kill('SIGKILL');
    },
  };
}
