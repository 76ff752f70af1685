/**
 * The node's handle on one agent: the typed proxy, the byte layer, the blocking
 * mailbox server, lifecycle (ready, close, exit) and deadlock detection. It is the
 * same for every isolation; the launcher supplies what differs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { MailboxServer } from './blocking/server.ts';
import { IpcConnection, type CallOptions, type HandlerTable, type IncomingCall } from './connection.ts';
import { deserializeError, type WireError } from './error-codec.ts';
import { AgentExitedError, ConnectionClosedError, DeadlockError, UnknownMethodError, type AgentExit } from './errors.ts';
import { Control } from './isolation/control.ts';
import type { AgentLauncher } from './isolation/launcher.ts';
import { methodProxy } from './rpc.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, checkMs, type CloseOptions } from './spawn-options.ts';
import type { Isolation, Promisified, RemoteMethods } from './types.ts';
import { MAX_REQUEST_ID } from './wire.ts';

/** Counters for metrics. */
export interface AgentStats {
  /** Calls the node made into the agent. */
  callsOut: number;
  /** Async calls the agent made into the node. */
  callsIn: number;
  /** Blocking calls the node served for the agent. */
  blockingCalls: number;
}

/** A running agent, as the node sees it. */
export interface Agent<Remote = unknown> {
  /** The agent's name. */
  readonly name: string;
  /** Where it runs. */
  readonly isolation: Isolation;
  /** The OS process it runs in. */
  readonly pid: number;
  /** Its worker thread id (`undefined` for a process agent). */
  readonly threadId: number | undefined;
  /** The agent's methods: `await agent.remote.method(...args)`. */
  readonly remote: Promisified<RemoteMethods<Remote>>;
  /** The byte layer: sends `payload` to the agent's `command`, resolves with its answer bytes. */
  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array>;
  /** Resolves once the agent has exited, with how. */
  readonly exited: Promise<AgentExit>;
  /**
   * Asks the agent to finish (its `ctx.signal` aborts, calls in progress may answer,
   * a blocked call wakes with an error) and forces it down after `timeoutMs`. Calls
   * still in flight at exit reject with `AgentExitedError`.
   */
  close(options?: CloseOptions): Promise<void>;
  /** Counters for metrics. */
  readonly stats: Readonly<AgentStats>;
}

/**
 * Which agent's blocking call the current async context is serving. Created on the
 * first blocking call only: an active AsyncLocalStorage costs every promise a hook.
 */
let servingBlocking: AsyncLocalStorage<AgentHost> | undefined;

/** @internal The implementation behind {@link Agent}. */
export class AgentHost implements Agent<unknown> {
  readonly name: string;
  readonly isolation: Isolation;
  readonly pid: number;
  readonly threadId: number | undefined;
  readonly remote: Promisified<unknown>;
  readonly exited: Promise<AgentExit>;
  /** Resolves when the agent reported READY; rejects if it failed to start. */
  readonly ready: Promise<void>;
  private readonly connection: IpcConnection;
  private readonly mailbox: MailboxServer | undefined;
  private readonly counters: AgentStats = { callsOut: 0, callsIn: 0, blockingCalls: 0 };
  private closing: Promise<void> | undefined;
  private startupError: Error | undefined;

  constructor(
    private readonly launcher: AgentLauncher,
    handlers: HandlerTable,
    name: string,
    timeoutMs: number,
    maxMessageBytes: number,
  ) {
    this.name = name;
    this.isolation = launcher.isolation;
    this.pid = launcher.pid;
    this.threadId = launcher.isolation === 'process' ? undefined : launcher.threadId;
    const counted: HandlerTable = {
      get: (command) => {
        const handler = handlers.get(command);
        if (handler) this.counters.callsIn++;
        return handler;
      },
    };
    let onReady!: () => void;
    let onStartupFailed!: (error: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onStartupFailed = reject;
    });
    this.connection = new IpcConnection(launcher.transport, {
      handlers: counted,
      timeoutMs,
      peerName: `agent '${name}'`,
      onNotify: (command, payload) => {
        if (command === Control.READY) onReady();
        else if (command === Control.STARTUP_FAILED) this.startupError = deserializeError(payload as WireError, `agent '${name}'`);
      },
    });
    if (launcher.mailbox) {
      this.mailbox = new MailboxServer(launcher.mailbox.memory, launcher.mailbox.sidePort, {
        dispatch: (command, payload) => this.dispatchBlocking(handlers, command, payload),
        lastAsyncRequestId: () => this.connection.lastIncomingRequestId,
        onAsyncBatch: (listener) => this.connection.onBatchDispatched(listener),
        asyncIdModulus: MAX_REQUEST_ID + 1,
        maxMessageBytes,
      });
      this.mailbox.start();
    }
    this.exited = new Promise<AgentExit>((resolve) => {
      launcher.onExit((exit) => {
        const reported: AgentExit = this.startupError && !exit.error ? { ...exit, error: this.startupError } : exit;
        this.mailbox?.close();
        this.connection.close(new AgentExitedError(name, reported));
        onStartupFailed(this.startupError ?? new AgentExitedError(name, reported));
        resolve(reported);
      });
    });
    this.remote = methodProxy((method, args) => this.invoke(method, args));
  }

  get stats(): Readonly<AgentStats> {
    return { ...this.counters, blockingCalls: this.mailbox?.served ?? 0 };
  }

  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array> {
    const refused = this.refuse(command);
    if (refused) return Promise.reject(refused);
    this.counters.callsOut++;
    return this.connection.call(command, payload, options);
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw new TypeError('[agent-ipc] close options must be an object');
    const graceMs = options.timeoutMs === undefined ? DEFAULT_CLOSE_TIMEOUT_MS : checkMs('timeoutMs', options.timeoutMs);
    this.closing ??= (async () => {
      // A blocked agent wakes with an error now rather than after the grace period.
      this.mailbox?.close();
      this.connection.notify(Control.CLOSE);
      this.connection.flush();
      const force = setTimeout(() => this.launcher.terminate(), graceMs);
      await this.exited;
      clearTimeout(force);
    })();
    return this.closing;
  }

  /** Forces the agent down at once (used when startup fails). */
  terminate(): void {
    this.launcher.terminate();
  }

  private invoke(method: string, args: unknown[]): Promise<unknown> {
    const refused = this.refuse(method);
    if (refused) return Promise.reject(refused);
    this.counters.callsOut++;
    return this.connection.request(method, args);
  }

  /** Why a call into the agent must not be made now, if it must not. */
  private refuse(command: string): Error | undefined {
    if (this.closing) return new ConnectionClosedError(`agent '${this.name}' is closing`);
    if (servingBlocking?.getStore() === this) return new DeadlockError(this.name, command);
    return undefined;
  }

  private dispatchBlocking(handlers: HandlerTable, command: string, payload: unknown): unknown {
    const handler = handlers.get(command);
    if (!handler) throw new UnknownMethodError(command);
    servingBlocking ??= new AsyncLocalStorage<AgentHost>();
    return servingBlocking.run(this, handler, payload, undefined as unknown as IncomingCall);
  }
}
