/**
 * The node's handle on one agent: the typed proxy, the byte layer, the blocking
 * server (the mailbox of a thread agent, the blocking socket of a process agent), lifecycle (ready, close, exit), deadlock detection, the agent's log
 * records and its counters. It is the same for every isolation; the launcher
 * supplies what differs.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { serveBlocking, servingBlockingOf } from './blocking-context.ts';
import { MailboxServer } from './blocking/server.ts';
import { IpcConnection, type CallOptions, type HandlerTable } from './connection.ts';
import { deserializeError, type WireError } from './error-codec.ts';
import { AgentExitedError, ConnectionClosedError, DeadlockError, ProtocolError, UnknownMethodError, type AgentExit } from './errors.ts';
import { Control } from './isolation/control.ts';
import type { AgentLauncher } from './isolation/launcher.ts';
import { AgentLogWriter } from './logging/agent-log-writer.ts';
import { methodProxy } from './rpc.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, checkMs, type CloseOptions } from './spawn-options.ts';
import { AgentCallObserver, SERVING_COMMAND } from './observability/agent-observer.ts';
import { exitChannel, spawnChannel } from './observability/channels.ts';
import { callMetrics, type AgentMetrics } from './observability/agent-metrics.ts';
import { checkedSample, type AgentRuntimeSample } from './observability/runtime-sample.ts';
import type { Isolation, Promisified, RemoteMethods } from './types.ts';
import { isPromiseLike } from './promise-like.ts';

/** Counters for metrics. */
export interface AgentStats {
  /** Calls the node sent to the agent (not those refused at the call site). */
  callsOut: number;
  /** Async calls the agent made into the node (an unknown method's included). */
  callsIn: number;
  /** Blocking calls the node served for the agent. */
  blockingCalls: number;
  /**
   * Calls answered with an error, either way: node → agent calls the agent failed, and
   * agent → node calls (async or blocking) the node failed. Calls that timed out, were
   * aborted or were cut short by an exit got no answer and are not counted here.
   */
  errors: number;
}

/** A running agent, as the node sees it. */
export interface Agent<Remote = unknown> {
  /** The agent's name. */
  readonly name: string;
  /** Where it runs. */
  readonly isolation: Isolation;
  /** The OS process it runs in (the node's own for thread and inline agents). */
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
  /** Counters for metrics (a snapshot). */
  readonly stats: Readonly<AgentStats>;
  /**
   * A snapshot of the agent's metrics: calls by direction and kind with their outcomes
   * and latency, time parked in blocking calls, and the agent's runtime (event-loop
   * utilisation, CPU time, heap) as it measures it. The agent is asked for its runtime
   * and given `timeoutMs` (default 1000) to answer; an agent that is parked or busy
   * gets its last answer reported instead. Never rejects. See docs/observability.md.
   */
  metrics(options?: MetricsOptions): Promise<AgentMetrics>;
}

/** Options of {@link Agent.metrics}. */
export interface MetricsOptions {
  /** How long to wait for the agent to measure its runtime, in ms (default 1000). */
  timeoutMs?: number;
}

/** What an {@link AgentHost} is built with, besides its launcher. */
export interface AgentHostOptions {
  /** The node's methods the agent may call (async and blocking). */
  handlers: HandlerTable;
  name: string;
  timeoutMs: number;
  maxMessageBytes: number;
  /** Most calls in flight per direction on the agent's connection. */
  maxInFlight: number;
  /** Where the agent's log records are written; none: the agent logs nothing. */
  logger?: Logger;
}

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
  /** A thread agent's blocking calls. */
  private readonly mailbox: MailboxServer | undefined;
  /** A process agent's blocking calls, on its blocking socket. */
  private readonly blockingService: { close(): void } | undefined;
  private readonly logWriter: AgentLogWriter | undefined;
  /** Sees every call start and settle: stats, metrics and tracing are built on it. */
  readonly observer: AgentCallObserver;
  private closing: Promise<void> | undefined;
  /** The agent's last runtime sample, and who waits for the next one. */
  private runtime: AgentRuntimeSample | undefined;
  private runtimeWaiters: Array<() => void> = [];
  private startupError: Error | undefined;
  private crashError: Error | undefined;

  constructor(
    private readonly launcher: AgentLauncher,
    options: AgentHostOptions,
  ) {
    const { handlers, name, timeoutMs, maxMessageBytes, maxInFlight } = options;
    this.name = name;
    this.isolation = launcher.isolation;
    this.pid = launcher.pid;
    this.threadId = launcher.isolation === 'process' ? undefined : launcher.threadId;
    this.observer = new AgentCallObserver(name, (on) => this.connection.notify(Control.TRACE, on));
    const observer = this.observer;
    const served: HandlerTable = {
      get: (command) => (command === SERVING_COMMAND ? (args: unknown) => observer.noteServing(args) : handlers.get(command)),
    };
    let onReady!: () => void;
    let onStartupFailed!: (error: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onStartupFailed = reject;
    });
    const peerName = `agent '${name}'`;
    this.connection = new IpcConnection(launcher.transport, {
      handlers: served,
      timeoutMs,
      peerName,
      maxMessageBytes,
      maxInFlight,
      onNotify: (command, payload) => this.control(command, payload, onReady),
      observer,
    });
    if (options.logger) {
      const tags: Record<string, unknown> = { agent: name };
      if (launcher.isolation === 'process') tags.agentPid = launcher.pid;
      else if (launcher.isolation === 'thread') tags.agentThreadId = launcher.threadId;
      this.logWriter = new AgentLogWriter(options.logger, tags, (level) => {
        this.connection.notify(Control.LOG_LEVEL, level);
      });
    }
    if (launcher.mailbox) {
      this.mailbox = new MailboxServer(launcher.mailbox.memory, launcher.mailbox.sidePort, {
        dispatch: (command, payload) => this.dispatchBlocking(handlers, command, payload),
        asyncCallsStarted: (fence) => this.connection.whenIncomingStarted(fence),
        maxMessageBytes,
      });
      this.mailbox.start();
    }
    this.blockingService = launcher.serveBlocking?.({
      dispatch: (command, payload) => this.dispatchBlocking(handlers, command, payload),
      asyncCallsStarted: (fence) => this.connection.whenIncomingStarted(fence),
      maxMessageBytes,
    });
    this.exited = new Promise<AgentExit>((resolve) => {
      launcher.onExit((exit) => {
        const cause = exit.error ?? this.crashError ?? this.startupError;
        const reported: AgentExit = cause && !exit.error ? { ...exit, error: cause } : exit;
        const error = new AgentExitedError(name, reported);
        if (exitChannel.hasSubscribers) exitChannel.publish({ ...this.identity(), exit: reported });
        this.mailbox?.close();
        this.connection.close(error);
        this.blockingService?.close();
        this.logWriter?.dispose();
        for (const done of [...this.runtimeWaiters]) done();
        onStartupFailed(this.startupError ?? error);
        resolve(reported);
      });
    });
    // An agent that broke the wire protocol is not trusted to go on: stop it, so its
    // exit is reported and nothing of it lingers without a connection.
    const stopIfBroken = (error: Error): void => {
      if (error instanceof ProtocolError) launcher.terminate();
    };
    this.connection.onClose(stopIfBroken);
    this.remote = methodProxy((method, args) => this.invoke(method, args));
    if (spawnChannel.hasSubscribers) spawnChannel.publish({ ...this.identity(), metrics: (options?: MetricsOptions) => this.metrics(options) });
    // Told now if someone traces already, so the agent announces from its first call.
    observer.traced();
  }

  get stats(): Readonly<AgentStats> {
    const { nodeToAgent, agentToNode, blocking } = this.observer;
    return {
      callsOut: nodeToAgent.started,
      callsIn: agentToNode.started,
      blockingCalls: blocking.started,
      errors: nodeToAgent.errors + agentToNode.errors + blocking.errors,
    };
  }

  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array> {
    const refused = this.refuse(command);
    if (refused) return Promise.reject(refused);
    return this.connection.call(command, payload, options);
  }

  async metrics(options: MetricsOptions = {}): Promise<AgentMetrics> {
    if (options === null || typeof options !== 'object') throw new TypeError('[agent-ipc] metrics options must be an object');
    const waitMs = options.timeoutMs === undefined ? 1000 : checkMs('timeoutMs', options.timeoutMs);
    if (!this.connection.closed) {
      await new Promise<void>((resolve) => {
        const waiters = this.runtimeWaiters;
        const done = (): void => {
          clearTimeout(timer);
          const at = waiters.indexOf(done);
          if (at >= 0) waiters.splice(at, 1);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        waiters.push(done);
        // The first waiter asks; the others share its answer (answered or exited: see control, exited).
        if (waiters.length === 1) this.connection.notify(Control.SAMPLE);
      });
    }
    const { nodeToAgent, agentToNode, blocking } = this.observer;
    return {
      agent: this.name,
      isolation: this.isolation,
      pid: this.pid,
      threadId: this.threadId,
      calls: [callMetrics(nodeToAgent), callMetrics(agentToNode), callMetrics(blocking)],
      parkedMs: blocking.totalMs,
      runtime: this.runtime,
    };
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw new TypeError('[agent-ipc] close options must be an object');
    const graceMs = options.timeoutMs === undefined ? DEFAULT_CLOSE_TIMEOUT_MS : checkMs('timeoutMs', options.timeoutMs);
    this.closing ??= (async () => {
      // A blocked agent wakes with an error now rather than after the grace period: a
      // thread agent's mailbox closes, a process agent reads CLOSE on its blocking socket.
      this.mailbox?.close();
      this.blockingService?.close();
      this.connection.notify(Control.CLOSE);
      this.connection.flush();
      const force = setTimeout(() => this.launcher.terminate(), graceMs);
      await this.exited;
      clearTimeout(force);
    })();
    return this.closing;
  }

  /**
   * Gives a socket to the agent (a process agent started with a handle channel): the
   * line server's hand-off. Rejects for any other agent.
   */
  sendHandle(message: object, socket: Socket): Promise<void> {
    if (!this.launcher.sendHandle) return Promise.reject(new TypeError(`[agent-ipc] agent '${this.name}' cannot be handed sockets`));
    return this.launcher.sendHandle(message, socket);
  }

  /** Forces the agent down at once (used when startup fails). */
  terminate(): void {
    this.launcher.terminate();
  }

  private control(command: string, payload: unknown, onReady: () => void): void {
    switch (command) {
      case Control.READY:
        onReady();
        break;
      case Control.STARTUP_FAILED:
        this.startupError = deserializeError(payload as WireError, `agent '${this.name}'`);
        break;
      case Control.CRASHED:
        this.crashError = deserializeError(payload as WireError, `agent '${this.name}'`);
        break;
      case Control.RUNTIME: {
        const sample = checkedSample(payload);
        if (sample) this.runtime = sample;
        for (const done of [...this.runtimeWaiters]) done();
        break;
      }
      case Control.LOG:
        try {
          this.logWriter?.write(payload);
        } catch {
          // A serializer or destination of the node's logger threw: lose the record, not the agent.
        }
        break;
    }
  }

  private invoke(method: string, args: unknown[]): Promise<unknown> {
    const refused = this.refuse(method);
    if (refused) return Promise.reject(refused);
    return this.connection.request(method, args);
  }

  /** Why a call into the agent must not be made now, if it must not. */
  private refuse(command: string): Error | undefined {
    if (this.closing) return new ConnectionClosedError(`agent '${this.name}' is closing`);
    if (servingBlockingOf() === this) return new DeadlockError(this.name, command);
    return undefined;
  }

  /**
   * Serves one blocking call of the agent, whichever way it came (mailbox or
   * blocking socket), in the context that tells {@link refuse} a call back into this agent
   * would deadlock.
   */
  private dispatchBlocking(handlers: HandlerTable, command: string, payload: unknown): unknown {
    const observer = this.observer;
    const token = observer.blockingStarted(command);
    const handler = handlers.get(command);
    if (!handler) {
      const error = new UnknownMethodError(command);
      observer.blockingSettled(token, 'error', error);
      throw error;
    }
    let result: unknown;
    try {
      result = serveBlocking(this, handler, payload);
    } catch (error) {
      observer.blockingSettled(token, 'error', error);
      throw error;
    }
    if (isPromiseLike(result)) {
      observer.blockingPending(token);
      return Promise.resolve(result).then(
        (value) => {
          observer.blockingSettled(token, 'ok', undefined);
          return value;
        },
        (error: unknown) => {
          observer.blockingSettled(token, this.connection.closed ? 'closed' : 'error', error);
          throw error;
        },
      );
    }
    observer.blockingSettled(token, 'ok', undefined);
    return result;
  }

  /** Who this agent is, as the lifecycle channels report it. */
  private identity(): { agent: string; isolation: Isolation; pid: number; threadId: number | undefined } {
    return { agent: this.name, isolation: this.isolation, pid: this.pid, threadId: this.threadId };
  }
}
