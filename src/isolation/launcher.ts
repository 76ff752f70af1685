/**
 * What the node needs from an isolation: a transport to the agent, an optional
 * blocking mailbox to serve, the agent's identity, a way to force it down, and
 * notice of its exit. `thread.ts`, `inline.ts` and `process.ts` provide it.
 */
import type { Socket } from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import type { ServedCallHooks } from '../blocking/server.ts';
import type { AgentExit } from '../errors.ts';
import type { Transport } from '../transports/transport.ts';
import type { Isolation } from '../types.ts';

/**
 * How the node serves one blocking call, whatever carried it: the one seam every
 * launcher's blocking path plugs into (a thread agent's mailbox, a process agent's
 * blocking socket, an inline agent's direct call). Behind it, `AgentHost` counts and
 * traces the call and runs it where a call back into the agent is a `DeadlockError`.
 *
 * A server that encodes the answer owns the call's lifecycle (`ServedCallHooks`):
 * `begin` before the handler runs, `dispatch` to run it, and `end` once the answer is
 * written, with the outcome the agent sees — an answer over `maxMessageBytes` or one
 * that cannot be encoded is replaced by that error after the handler returned, so only
 * the server knows the call failed. An inline agent's direct call encodes nothing:
 * `dispatchNow` reports the whole call itself.
 */
export interface BlockingService extends ServedCallHooks {
  /**
   * Runs the handler of `command` for a caller on the node's own thread, which cannot
   * wait for a promise (an inline agent): throws, or returns a value; a promise from the
   * handler is refused with `BlockingNotAllowedError` (`DeadlockError` while the node's
   * thread is itself in a blocking call into the agent). Begins and ends the call itself.
   */
  dispatchNow(command: string, payload: unknown): unknown;
  /**
   * A promise that settles once the agent's async request `fence` has started, or
   * `undefined` if it has. A wait of `owner` (a server) replaces its earlier one, which
   * never settles (see IpcConnection.whenIncomingStarted).
   */
  asyncCallsStarted(fence: number, owner: object): Promise<void> | undefined;
  /** Largest answer body the agent accepts. */
  maxMessageBytes: number;
  /** Most of the agent's handlers running at once (see `ServedCallOptions.maxRunning`). */
  maxRunning: number;
}

/** A started agent, before the typed layer is put on top. */
export interface AgentLauncher {
  readonly isolation: Isolation;
  /** OS process id the agent runs in. */
  readonly pid: number;
  /** Worker thread id (`undefined` for process agents, the node's own for inline). */
  readonly threadId: number | undefined;
  readonly transport: Transport;
  /** The mailbox the node serves blocking calls from (thread agents). */
  readonly mailbox?: { memory: SharedArrayBuffer; sidePort: MessagePort };
  /**
   * Starts serving the agent's blocking calls where they do not come through a mailbox
   * (a process agent's blocking socket, an inline agent's direct calls), with the same
   * handler seam as a mailbox.
   */
  serveBlocking?(service: BlockingService): { close(): void };
  /**
   * A thread agent's reverse mailbox: the node's thread parks on it in `agent.blocking.x()`
   * and `spawnAgentSync` (see `src/blocking/reverse-mailbox.ts`).
   */
  readonly reverse?: ReverseMailboxLink;
  /** An inline agent's blocking path: runs the agent's method directly (it must be synchronous). */
  callDirect?(command: string, payload: unknown): unknown;
  /**
   * Sends `message` with a socket's descriptor to a process agent started with a handle
   * channel; resolves once it was written (the node's copy is closed when the agent has
   * it), rejects with `AgentExitedError` once the agent is gone (its channel closed, or it
   * died before the send went out). Absent for every other agent.
   */
  sendHandle?(message: object, socket: Socket): Promise<void>;
  /** Calls `listener` once, when the agent has exited. */
  onExit(listener: (exit: AgentExit) => void): void;
  /** Ends the agent now (the "then forced" of a graceful close). */
  terminate(): void;
  /**
   * Whether the agent's thread or process and the node's ends of its channels keep the
   * node's event loop alive (`true`, the default) or not. Absent for inline agents,
   * which have nothing of their own.
   */
  setRef?(ref: boolean): void;
}

/** A handle of the node's event loop (a worker, a child process, a socket, a port). */
export interface LoopHandle {
  ref?(): unknown;
  unref?(): unknown;
}

/** Refs or unrefs each of `handles` (absent ones skipped): every launcher's `setRef`. */
export function setHandlesRef(handles: ReadonlyArray<LoopHandle | null | undefined>, ref: boolean): void {
  for (const handle of handles) {
    if (ref) handle?.ref?.();
    else handle?.unref?.();
  }
}

/** What the node needs to park on a thread agent. */
export interface ReverseMailboxLink {
  memory: SharedArrayBuffer;
  /** Bodies of the node's calls and the agent's answers too large for the call area. */
  sidePort: MessagePort;
  /** Bodies of the agent's call-backs and their answers too large for the call-back area. */
  callbackPort: MessagePort;
  /**
   * Delivers the frames the agent posted, now (the node's event loop is not running): at
   * most `limit` batches (default: all). True if it stopped at the limit with more waiting.
   */
  drain(limit?: number): boolean;
  /**
   * True once the agent's thread has stopped. `started`: the caller knows it ran (see
   * `thread-liveness.ts`: without that, only a thread seen running before counts).
   */
  threadStopped(started: boolean): boolean;
}
