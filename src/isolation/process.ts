/**
 * Process isolation: the agent runs in a child process of its own (own heap, own
 * event loop, own crash domain), started from `process-bootstrap` with the node's
 * Node.js options. The node and the agent share two Unix sockets: the child's fd 3
 * carries stream frames (start-up, then the agent connection), fd 4 the blocking
 * calls, which the agent's main thread writes and reads itself with blocking system
 * calls (see `process-caller.ts`; the node's side is `process-server.ts`).
 *
 * Lifetimes are tied both ways: an agent that dies is noticed through its exit
 * status (and the streams' end), and an agent outlives no node — a parked call sees
 * fd 4 end, the main thread sees fd 3 end, and a main thread too busy to notice is
 * ended by the agent's watchdog thread (`process-watchdog.ts`) or, for an agent
 * sandboxed without worker threads, by the node's warden process (`warden-client.ts`).
 */
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AgentExitedError, ProtocolError, type AgentExit } from '../errors.ts';
import { ProcessBlockingServer } from '../blocking/process-server.ts';
import { StreamChannel } from '../transports/stream-frames.ts';
import { StreamLink, StreamTransport } from '../transports/stream-transport.ts';
import { childExecArgv } from './child-exec-argv.ts';
import type { AgentInit } from './control.ts';
import { guardHandleChannel } from './handle-channel-guard.ts';
import { setHandlesRef, type AgentLauncher, type LoopHandle } from './launcher.ts';
import type { ProcessArgs } from './process-bootstrap.ts';
import { inheritedDescriptors, sandboxLaunch, scanInheritedDescriptors } from './sandbox-launch.ts';
import { startsWatchdogThread } from './sandbox-library-needs.ts';
import type { ResolvedSandbox } from './sandbox-options.ts';
import { nodeWarden } from './warden-client.ts';

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
   * Open a Node.js IPC channel (the child's fd 6) so that sockets can be handed to the
   * agent (`sendHandle`). Only when asked: every other agent has no such channel.
   */
  handles?: boolean;
  /** Run the agent under Node's permission model, with a scrubbed environment (see `sandbox-launch.ts`). */
  sandbox?: ResolvedSandbox;
}

/**
 * What {@link launchProcess} needs done first, and can have done without blocking the
 * event loop: for a sandboxed agent, the node's first look for the descriptors it would
 * inherit (the whole descriptor table; see `inheritedDescriptors`). Await it before
 * launching: `launchProcess` itself runs synchronously, within one turn of the event loop.
 */
export function beforeLaunchProcess(start: ProcessOptions): Promise<void> {
  return start.sandbox ? scanInheritedDescriptors() : Promise.resolve();
}

/** Starts a process agent (after {@link beforeLaunchProcess}). */
export function launchProcess(init: AgentInit, start: ProcessOptions = {}): AgentLauncher {
  // A sandboxed agent starts with its own permission options and only the variables
  // the node passes it (env undefined: the node's environment, as before).
  const sandboxed = start.sandbox ? sandboxLaunch(init.entry, start.sandbox, bootstrapUrl) : undefined;
  // An agent that may not start threads has no watchdog thread: the node's warden stands
  // in for it, and must run before the agent does (if it cannot, this throws).
  const watchdog = startsWatchdogThread(start.sandbox);
  const warden = watchdog ? undefined : nodeWarden();
  warden?.require(init.name);
  // stdout and stderr are the node's (console output of agents shows as a thread's would).
  // fd 3: agent connection, fd 4: blocking calls, fd 5: the lifeline of the watchdog
  // thread, if any (never written; its end tells the watchdog that the node is gone,
  // see process-watchdog.ts).
  const stdio: Array<'ignore' | 'inherit' | 'pipe' | 'ipc'> = ['ignore', 'inherit', 'inherit', 'pipe', 'pipe', watchdog ? 'pipe' : 'ignore'];
  // The agent unrefs this channel at once: it never keeps the agent alive, and the
  // agent's lifetime stays tied to its sockets (it goes when the node goes).
  if (start.handles) stdio.push('ipc');
  const args: ProcessArgs = { name: init.name, maxMessageBytes: init.maxMessageBytes, watchdog };
  // Descriptors of the node the child inherits beyond its stdio: a sandboxed agent closes them before its module loads.
  if (sandboxed) args.closeFds = inheritedDescriptors(stdio.length);
  const child = spawn(process.execPath, [...childExecArgv(process.execArgv, start.maxOldGenerationSizeMb, sandboxed?.flags), fileURLToPath(sandboxed?.bootstrap ?? bootstrapUrl), JSON.stringify(args)], {
    stdio,
    windowsHide: true,
    env: sandboxed?.env,
  });
  const pid = child.pid;
  if (warden && pid !== undefined) warden.guard(pid);

  let exitListener: ((exit: AgentExit) => void) | undefined;
  let exit: AgentExit | undefined;
  let status: AgentExit | undefined;
  let streamsOpen = 2;
  let streamGrace: NodeJS.Timeout | undefined;
  /** Why the node killed the agent, if for breaking its handle channel: the cause its exit reports. */
  let brokenBy: ProtocolError | undefined;
  /** Rejects the hand-offs not yet written (or failed), once the exit is known. */
  const handOffs = new Set<(error: AgentExitedError) => void>();

  // An agent that broke its handle channel, or closed it while it runs, can be handed no
  // more sockets and is not trusted to go on: it is killed, and its exit says why.
  const stopBroken = (error: ProtocolError): void => {
    if (status || brokenBy) return;
    brokenBy = error;
    child.kill('SIGKILL');
  };
  if (start.handles) {
    guardHandleChannel(child, init.name, {
      onBroken: stopBroken,
      // The end of a channel is also how an agent's exit shows there; the kill of a
      // process that has exited changes nothing of its exit status.
      onClosed: () => stopBroken(new ProtocolError(`agent '${init.name}' closed its handle channel while running`)),
    });
  }

  /**
   * Rejects hand-offs with the agent's exit, on a later turn: after the exit's own
   * reactions (a line agent's, which races its hand-off with the exit) ran. The one error
   * of a hand-off to an agent that is gone, never Node.js's "Channel closed".
   */
  const rejectWithExit = (rejects: Array<(error: AgentExitedError) => void>, ended: AgentExit): void => {
    const error = new AgentExitedError(init.name, ended);
    setImmediate(() => {
      for (const reject of rejects) reject(error);
    });
  };

  const report = (): void => {
    if (exit || !status) return;
    clearTimeout(streamGrace);
    exit = status;
    exitListener?.(exit);
    if (handOffs.size > 0) {
      rejectWithExit([...handOffs], exit);
      handOffs.clear();
    }
    // The connections closed with the exit (AgentExitedError); release the streams.
    agentLink.fail(undefined);
    blockingSocket.destroy();
    lifeline?.destroy();
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
  // The node bounds what it holds for an agent that does not read (see read-while-drained.ts).
  const agentLink = new StreamLink(child.stdio[3] as Duplex, { maxMessageBytes: init.maxMessageBytes, onEnd, pauseWhileBacklogged: true });
  // The blocking socket is read by the ProcessBlockingServer; its end counts here.
  const blockingSocket = child.stdio[4] as Duplex;
  let blockingEnded = false;
  const onBlockingEnd = (): void => {
    if (blockingEnded) return;
    blockingEnded = true;
    onEnd();
  };
  blockingSocket.on('end', onBlockingEnd);
  blockingSocket.on('close', onBlockingEnd);
  blockingSocket.on('error', onBlockingEnd);
  // The node only holds the lifeline open (never reads or writes it); an error on it changes nothing.
  const lifeline = (child.stdio as unknown as Array<Duplex | null>)[5] ?? undefined;
  lifeline?.on('error', () => undefined);

  child.once('exit', (code, signal) => {
    // Killed for breaking its handle channel: the break is the cause (an exit of its own is told as it was).
    status = brokenBy && signal === 'SIGKILL' ? { code, signal, error: brokenBy } : { code, signal };
    if (warden && pid !== undefined) warden.release(pid);
    if (streamsOpen === 0) report();
    // A grandchild may hold the socket open; the exit is reported regardless. Through
    // setImmediate: if this thread was starved past the grace (a loaded machine), the
    // timer runs first in the loop's next turn, before the poll that reads what the agent
    // wrote before it died; the check phase runs after it, so a CRASHED frame already
    // in the socket still gives the exit its cause (and the streams' end reports it).
    else streamGrace = setTimeout(() => setImmediate(report), STREAM_GRACE_MS);
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
    pid: pid ?? -1,
    threadId: undefined,
    transport: new StreamTransport(agentLink, StreamChannel.AGENT),
    serveBlocking: (service) =>
      new ProcessBlockingServer(blockingSocket, {
        ...service,
        // An agent that broke the protocol is not trusted to go on (as on its other socket).
        onBroken: () => child.kill('SIGKILL'),
      }),
    sendHandle: start.handles
      ? (message, socket) =>
          new Promise<void>((resolve, reject) => {
            // A send queued behind one the agent never acknowledged is called back only once
            // it is: never, if the agent died first. The exit settles it then.
            handOffs.add(reject);
            const sent = (error: Error | null): void => {
              if (!error) {
                handOffs.delete(reject);
                resolve();
                return;
              }
              // The channel closed or broke (Node.js's ERR_IPC_CHANNEL_CLOSED, EPIPE): the
              // agent can take no more sockets. It is stopped if it still runs, and the
              // hand-off fails with its exit, as a call into it does: now if the exit was
              // reported, else with it (it stays in handOffs).
              if (!status) stopBroken(new ProtocolError(`agent '${init.name}' cannot be handed a socket: its handle channel failed (${error.message})`, { cause: error }));
              if (exit && handOffs.delete(reject)) rejectWithExit([reject], exit);
            };
            try {
              // keepOpen: the node keeps its copy of the descriptor until the caller closes it
              // (once written, the message holds its own reference). Without it Node.js closes
              // its copy only on the agent's acknowledgement, so an agent that dies or hangs
              // before acknowledging leaves the peer's connection open in the node for good.
              child.send(message, socket, { keepOpen: true }, sent);
            } catch (error) {
              handOffs.delete(reject);
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
    setRef(ref) {
      // The child, its sockets (the agent's link, the blocking socket, the lifeline if any) and
      // the handle channel, if any. The stdio pipes are net.Sockets (typed as plain streams).
      setHandlesRef([child, child.stdio[3] as LoopHandle | null, blockingSocket as LoopHandle, lifeline as LoopHandle | undefined, child.channel], ref);
    },
  };
}
