/**
 * The node's handle on one agent: the typed proxy, the byte layer, the blocking
 * server (the mailbox of a thread agent, the blocking socket of a process agent), the
 * node's own blocking calls into the agent (reverse mailbox), lifecycle (ready, close,
 * exit), deadlock detection, the agent's log records and its call observer. It is the
 * same for every isolation; the launcher supplies what differs.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { callHandler, enterServingNow, leaveServingNow, serveBlocking, servingBlockingOf } from './blocking/serving-context.ts';
import { servedForwardMailbox } from './blocking/mailbox.ts';
import { directAnswerTooLarge, directErrorTooLarge, refuseLargeDirectRequest } from './blocking/mailbox-body.ts';
import { MailboxServer } from './blocking/server.ts';
import { NodeCaller } from './blocking/node-caller.ts';
import { IpcConnection, type CallOptions, type Handler, type HandlerTable } from './connection.ts';
import { deserializeError, type WireError } from './error-codec.ts';
import { entryNotFound, type AgentEntry } from './entry-check.ts';
import {
  AgentExitedError,
  BlockingNotAllowedError,
  ConnectionClosedError,
  DeadlockError,
  ProtocolError,
  UnknownMethodError,
  type AgentExit,
} from './errors.ts';
import { Control } from './isolation/control.ts';
import type { AgentLauncher, BlockingService } from './isolation/launcher.ts';
import { AgentLogWriter } from './logging/agent-log-writer.ts';
import { methodProxy } from './rpc.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, type CloseOptions } from './spawn-options.ts';
import { checkBlockingCallOptions, checkCommand, checkMs, checkOptionsObject, invalidArgument } from './invalid-option.ts';
import { AgentCallObserver, SERVING_COMMAND } from './observability/agent-observer.ts';
import type { CallOutcome } from './observability/call-observer.ts';
import { exitChannel, spawnChannel } from './observability/channels.ts';
import { callMetrics, type AgentMetrics } from './observability/agent-metrics.ts';
import { checkedSample, type AgentRuntimeSample } from './observability/runtime-sample.ts';
import type { Blocking, BlockingCallOptions, Isolation, Promisified, RemoteMethods } from './types.ts';
import { isPromiseLike } from './promise-like.ts';
import { payloadBytes } from './payload-size.ts';

/** Counters for metrics. */
export interface AgentStats {
  /** Calls the node sent to the agent, async and blocking (not those refused at the call site). */
  callsOut: number;
  /** Async calls the agent made into the node (an unknown method's included). */
  callsIn: number;
  /** Blocking calls the node served for the agent. */
  blockingCalls: number;
  /**
   * Calls answered with an error, either way: node → agent calls (async or blocking) the agent failed, and
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
  /**
   * The agent's methods, called synchronously: `agent.blocking.format(src)` parks the
   * calling thread until the agent's method (which may be async) has answered, and
   * returns its result. For tools, CLIs and synchronous plugin APIs — never a server's
   * request path (see docs/blocking-calls.md). While parked, the node serves the agent's
   * call-backs whose handlers are synchronous; one whose handler returns a promise fails
   * with `DeadlockError`. Thread and inline agents (an inline agent's method must then be
   * synchronous); a process agent throws `TypeError`. Throws `TimeoutError` after the
   * agent's `timeoutMs`, or after 60 s if that was left out (`0`: no limit).
   */
  readonly blocking: Blocking<RemoteMethods<Remote>>;
  /** The byte layer: sends `payload` to the agent's `command`, resolves with its answer bytes. */
  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array>;
  /**
   * The byte layer, blocking: sends `payload` to the agent's `command` and returns its
   * answer bytes, parking the calling thread (see {@link Agent.blocking}). Throws
   * `TimeoutError` after `timeoutMs` (default: the agent's `timeoutMs`, or 60 s if that
   * was left out; 0 = none).
   */
  callBlocking(command: string, payload?: Uint8Array, options?: BlockingCallOptions): Uint8Array;
  /** Resolves once the agent has exited, with how. */
  readonly exited: Promise<AgentExit>;
  /**
   * Asks the agent to finish (its `ctx.signal` aborts, calls in progress may answer,
   * a blocked call wakes with an error) and forces it down after `timeoutMs`. Calls
   * still in flight at exit reject with `AgentExitedError`.
   */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Lets the node's process exit while this agent runs, as `worker.unref()` does for a
   * worker: the agent's thread or process and the node's ends of its channels no longer
   * keep the event loop alive. For tools and CLIs that start an agent (often with
   * `spawnAgentSync`) and never close it; a server should `close()` its agents instead.
   * Calls in flight still settle if the process lives on; a call with a timeout keeps
   * the loop alive until it settles. Inline agents have nothing to unref. Returns the agent.
   */
  unref(): this;
  /** Undoes {@link Agent.unref}: the agent keeps the process alive again (the default). Returns the agent. */
  ref(): this;
  /** Counters for metrics (a snapshot). */
  readonly stats: Readonly<AgentStats>;
  /**
   * A snapshot of the agent's metrics: calls by direction and kind with their outcomes
   * and latency, time parked in blocking calls, and the agent's runtime (event-loop
   * utilisation, CPU time, heap) as it measures it. The agent is asked for its runtime
   * and given `timeoutMs` (default 1000) to answer; an agent that is parked or busy
   * gets its last answer reported instead. Rejects only for bad options (a `TypeError`,
   * code `ERR_AGENT_IPC_INVALID_ARGUMENT`). See docs/observability.md.
   */
  metrics(options?: MetricsOptions): Promise<AgentMetrics>;
}

/** Options of {@link Agent.metrics}. */
export interface MetricsOptions {
  /** How long to wait for the agent to measure its runtime, in ms (default 1000; `0`: the last sample received, at once). */
  timeoutMs?: number;
}

/** What an {@link AgentHost} is built with, besides its launcher. */
export interface AgentHostOptions {
  /** The node's methods the agent may call (async and blocking). */
  handlers: HandlerTable;
  name: string;
  timeoutMs: number;
  /** Default timeout of the node's own blocking calls into the agent. */
  nodeBlockingTimeoutMs: number;
  maxMessageBytes: number;
  /** Most calls in flight per direction on the agent's connection. */
  maxInFlight: number;
  /** Where the agent's log records are written; none: the agent logs nothing. */
  logger?: Logger;
  /** The agent's module: a report that it was not found names it as the caller passed it. */
  entry?: AgentEntry;
}

/** @internal The implementation behind {@link Agent}. */
export class AgentHost implements Agent<unknown> {
  readonly name: string;
  readonly isolation: Isolation;
  readonly pid: number;
  readonly threadId: number | undefined;
  readonly remote: Promisified<unknown>;
  readonly blocking: Blocking<unknown>;
  readonly exited: Promise<AgentExit>;
  /** Resolves when the agent reported READY; rejects if it failed to start. */
  readonly ready: Promise<void>;
  private readonly connection: IpcConnection;
  /** A thread agent's blocking calls. */
  private readonly mailbox: MailboxServer | undefined;
  /** A process agent's blocking calls, on its blocking socket. */
  private readonly blockingService: { close(): void } | undefined;
  /** The node's blocking calls into a thread agent (the reverse mailbox). */
  private readonly nodeCaller: NodeCaller | undefined;
  /** Where start-up stands, known synchronously (for spawnAgentSync). */
  private startupState: 'starting' | 'ready' | 'failed' = 'starting';
  private exitError: AgentExitedError | undefined;
  private readonly defaultTimeoutMs: number;
  /** The default of `agent.blocking` and `callBlocking` (see `DEFAULT_NODE_BLOCKING_TIMEOUT_MS`). */
  private readonly nodeBlockingTimeoutMs: number;
  private readonly logWriter: AgentLogWriter | undefined;
  /** Sees every call start and settle: stats, metrics and tracing are built on it. */
  readonly observer: AgentCallObserver;
  private closing: Promise<void> | undefined;
  /** The agent's last runtime sample, and who waits for the next one. */
  private runtime: AgentRuntimeSample | undefined;
  private runtimeWaiters: Array<() => void> = [];
  private startupError: Error | undefined;
  private crashError: Error | undefined;
  /** The agent's module, as passed and as imported (see `entryNotFound`). */
  private readonly entry: AgentEntry | undefined;
  /** Why the connection closed, if the agent broke the wire protocol: what the node's blocking calls into it fail with. */
  private brokenBy: ProtocolError | undefined;
  /** The node's methods, as the agent's blocking calls find them. */
  private readonly handlers: HandlerTable;
  /** The node's thread is parked in spawnAgentSync, waiting for the agent's factory (for `cannotWait`'s message). */
  private waitingForStart = false;
  /** How deep the node's thread is in direct blocking calls into an inline agent (its "parked"). */
  private callingDirect = 0;
  /** Largest answer an inline agent's blocking call may get (thread and process agents' servers hold their own). */
  private readonly maxMessageBytes: number;
  /**
   * Runs the handler of the agent's blocking call where the node's thread is parked on
   * this agent (a handler's promise is refused); the server that answers it begins and
   * ends it (made once: no closure per call).
   */
  private readonly dispatchParked = (command: string, payload: unknown, token: unknown): unknown => this.serveBlockingCallParked(command, payload, token);
  private readonly cannotWaitInline = (command: string): Error =>
    this.callingDirect > 0
      ? this.cannotWait(command)
      : new BlockingNotAllowedError(
          `blocking call '${command}' under inline isolation got a promise from its handler: an inline agent runs on ` +
            "the node's own thread, which cannot wait for its own event loop. Make the handler synchronous, " +
            `use main.async.${command}(), or run the agent with isolation 'thread' or 'process'`,
        );

  constructor(
    private readonly launcher: AgentLauncher,
    options: AgentHostOptions,
  ) {
    const { handlers, name, timeoutMs, maxMessageBytes, maxInFlight } = options;
    this.name = name;
    this.isolation = launcher.isolation;
    this.pid = launcher.pid;
    this.threadId = launcher.isolation === 'process' ? undefined : launcher.threadId;
    this.defaultTimeoutMs = timeoutMs;
    this.nodeBlockingTimeoutMs = options.nodeBlockingTimeoutMs;
    this.maxMessageBytes = maxMessageBytes;
    this.handlers = handlers;
    this.entry = options.entry;
    this.observer = new AgentCallObserver(name, (on) => this.connection.notify(Control.TRACE, on));
    const observer = this.observer;
    const served: HandlerTable = {
      get: (command) => {
        if (command === SERVING_COMMAND) return (args: unknown) => observer.noteServing(args);
        const handler = handlers.get(command);
        // Parked in agent.blocking.x(): only a handler that answers synchronously can be served.
        if (handler && this.nodeCaller?.parked) return this.parkedHandler(command, handler);
        return handler;
      },
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
    // The one way the agent's blocking calls are served, whichever launcher carries them.
    // The servers that encode the answer (mailbox, blocking socket, the call-back slot
    // below) begin and end each call around it, so a replaced answer ends as an error.
    const begin = (command: string): unknown => observer.blockingStarted(command);
    const end = (token: unknown, outcome: CallOutcome, error: unknown): void => observer.blockingSettled(token, outcome, error);
    const service: BlockingService = {
      begin,
      dispatch: (command, payload, token) => this.serveBlockingCall(command, payload, token),
      end,
      dispatchNow: (command, payload) => this.serveBlockingCallNow(command, payload, this.cannotWaitInline),
      asyncCallsStarted: (fence, owner) => this.connection.whenIncomingStarted(fence, owner),
      maxMessageBytes,
      // The agent's calls it gave up on may leave handlers running: as many as maxInFlight.
      maxRunning: maxInFlight,
    };
    if (launcher.mailbox) {
      this.mailbox = new MailboxServer(servedForwardMailbox(launcher.mailbox.memory), launcher.mailbox.sidePort, service);
      this.mailbox.start();
    }
    this.blockingService = launcher.serveBlocking?.(service);
    if (launcher.reverse) {
      const reverse = launcher.reverse;
      this.nodeCaller = new NodeCaller(reverse.memory, reverse.sidePort, reverse.callbackPort, {
        maxMessageBytes,
        peerName,
        beforeBlock: (command) => this.connection.blockingFence(command),
        drain: (limit) => {
          const more = reverse.drain(limit);
          this.connection.flush();
          return more;
        },
        // The agent's blocking call-backs while the node is parked: a handler's promise is
        // refused with DeadlockError inside serveBlockingCallParked, and the call ends with that error.
        begin,
        dispatch: this.dispatchParked,
        end,
        observer,
        exitedError: (code) => this.exitError ?? new AgentExitedError(name, { code, signal: null, error: this.whyEnded() }),
        closedError: () => this.brokenBy ?? this.closedError(),
        nestedError: (command) =>
          new DeadlockError(
            name,
            command,
            "the node's thread is already parked in a blocking call into this agent, which answers one blocking call at a time",
          ),
        threadStopped: reverse.threadStopped,
        serveForward: () => this.mailbox?.serveNow(this.dispatchParked) ?? false,
        blockedOnNode: (command) =>
          this.mailbox?.serving
            ? new DeadlockError(
                name,
                command,
                `agent '${name}' is blocked in a blocking call into the node whose handler has not answered yet (it returned a promise), ` +
                  "and that answer needs the event loop of the very thread that would be parked. Use agent.remote instead of agent.blocking",
              )
            : undefined,
      });
    }
    this.exited = new Promise<AgentExit>((resolve) => {
      launcher.onExit((exit) => {
        const cause = exit.error ?? this.whyEnded();
        const reported: AgentExit = cause && !exit.error ? { ...exit, error: cause } : exit;
        const error = new AgentExitedError(name, reported);
        this.exitError = error;
        // Every call in flight settles before `exit` is published, so a subscriber sees
        // each call end before the agent does: the node's own calls reject with the
        // exit error (the connection's close), and the calls the node still serves for
        // the agent end as closed (the observer), whatever their handlers do later.
        this.nodeCaller?.close();
        this.mailbox?.close();
        this.connection.close(error);
        this.blockingService?.close();
        this.observer.agentGone(error);
        if (exitChannel.hasSubscribers) exitChannel.publish({ ...this.identity(), exit: reported });
        this.logWriter?.dispose();
        for (const done of [...this.runtimeWaiters]) done();
        onStartupFailed(this.startupError ?? error);
        resolve(reported);
      });
    });
    // An agent that broke the wire protocol is not trusted to go on: stop it, so its
    // exit is reported and nothing of it lingers without a connection.
    const stopIfBroken = (error: Error): void => {
      if (!(error instanceof ProtocolError)) return;
      // A node parked in a call into it (the break found while draining its port) wakes
      // now, with this error, instead of when the thread is seen gone.
      this.brokenBy = error;
      this.nodeCaller?.close();
      launcher.terminate();
    };
    this.connection.onClose(stopIfBroken);
    this.remote = methodProxy((method, args) => this.invoke(method, args));
    if (spawnChannel.hasSubscribers) spawnChannel.publish({ ...this.identity(), metrics: (options?: MetricsOptions) => this.metrics(options) });
    // Told now if someone traces already, so the agent announces from its first call.
    observer.traced();
    this.blocking = methodProxy((method, args) => this.invokeBlocking(method, args, this.nodeBlockingTimeoutMs));
  }

  /**
   * What the agent's end is blamed on when its exit does not say: its crash report, its
   * start-up failure, or the protocol break for which the node stopped it (a thread that
   * was terminated for it exits with a bare code 1).
   */
  private whyEnded(): Error | undefined {
    return this.crashError ?? this.startupError ?? this.brokenBy;
  }

  get stats(): Readonly<AgentStats> {
    const { nodeToAgent, nodeBlocking, agentToNode, blocking } = this.observer;
    return {
      callsOut: nodeToAgent.started + nodeBlocking.started,
      callsIn: agentToNode.started,
      blockingCalls: blocking.started,
      errors: nodeToAgent.errors + nodeBlocking.errors + agentToNode.errors + blocking.errors,
    };
  }

  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array> {
    const refused = this.refuse(command);
    if (refused) return Promise.reject(refused);
    return this.connection.call(command, payload, options);
  }

  async metrics(options?: MetricsOptions): Promise<AgentMetrics> {
    const checked = checkOptionsObject(options, ['timeoutMs']);
    const waitMs = checked?.timeoutMs === undefined ? 1000 : checkMs('timeoutMs', checked.timeoutMs);
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
    const { nodeToAgent, nodeBlocking, agentToNode, blocking } = this.observer;
    return {
      agent: this.name,
      isolation: this.isolation,
      pid: this.pid,
      threadId: this.threadId,
      calls: [callMetrics(nodeToAgent), callMetrics(agentToNode), callMetrics(blocking), callMetrics(nodeBlocking)],
      parkedMs: blocking.totalMs,
      runtime: this.runtime,
    };
  }

  callBlocking(command: string, payload: Uint8Array = new Uint8Array(0), options?: BlockingCallOptions): Uint8Array {
    checkCommand(command);
    if (!(payload instanceof Uint8Array)) throw invalidArgument(`callBlocking('${command}') payload must be a Uint8Array`);
    const timeoutMs = checkBlockingCallOptions(options) ?? this.nodeBlockingTimeoutMs;
    const answer = this.invokeBlocking(command, payload, timeoutMs);
    if (answer === undefined || answer === null) return new Uint8Array(0);
    if (!(answer instanceof Uint8Array)) throw new ProtocolError(`'${command}' answered a byte-layer call with a ${typeof answer}, not a Uint8Array`);
    return answer;
  }

  /**
   * Parks the node's thread until the agent reported READY or failed to start (its
   * frames are read from the port meanwhile); false if `deadline` (`performance.now()`
   * time) came first. Throws if the agent exited without a report.
   * @internal (spawnAgentSync)
   */
  waitStartedSync(deadline: number): boolean {
    if (!this.nodeCaller) throw invalidArgument(`agent '${this.name}' cannot be waited for synchronously`);
    this.waitingForStart = true;
    try {
      return this.nodeCaller.parkUntil(() => this.startupState !== 'starting', deadline);
    } finally {
      this.waitingForStart = false;
    }
  }

  /** The error the agent failed to start with, once known synchronously. @internal */
  get startupFailure(): Error | undefined {
    return this.startupState === 'failed' ? this.startupError : undefined;
  }

  close(options?: CloseOptions): Promise<void> {
    let graceMs: number;
    try {
      const checked = checkOptionsObject(options, ['timeoutMs']);
      graceMs = checked?.timeoutMs === undefined ? DEFAULT_CLOSE_TIMEOUT_MS : checkMs('timeoutMs', checked.timeoutMs);
    } catch (error) {
      // A promise-returning method reports a bad argument by rejecting, like the others.
      return Promise.reject(error);
    }
    this.closing ??= (async () => {
      // A blocked agent wakes with an error now rather than after the grace period: a
      // thread agent's mailbox closes, a process agent reads CLOSE on its blocking socket.
      this.mailbox?.close();
      this.blockingService?.close();
      this.nodeCaller?.close();
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
    if (!this.launcher.sendHandle) return Promise.reject(invalidArgument(`agent '${this.name}' cannot be handed sockets`));
    return this.launcher.sendHandle(message, socket);
  }

  unref(): this {
    this.launcher.setRef?.(false);
    return this;
  }

  ref(): this {
    this.launcher.setRef?.(true);
    return this;
  }

  /** Forces the agent down at once (used when startup fails). */
  terminate(): void {
    this.launcher.terminate();
  }

  private control(command: string, payload: unknown, onReady: () => void): void {
    switch (command) {
      case Control.READY:
        this.startupState = 'ready';
        onReady();
        break;
      case Control.STARTUP_FAILED: {
        const error = deserializeError(payload as WireError, `agent '${this.name}'`);
        // Node's "Cannot find module" names the library's bootstrap as the importer.
        this.startupError = (this.entry && entryNotFound(error, this.entry)) ?? error;
        this.startupState = 'failed';
        break;
      }
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

  /** The node's blocking call into the agent: `payload` is an args array or bytes. */
  private invokeBlocking(method: string, payload: unknown, timeoutMs: number): unknown {
    const refused = this.refuse(method);
    if (refused) throw refused;
    if (this.exitError) throw this.exitError;
    const nodeCaller = this.nodeCaller;
    const callDirect = this.launcher.callDirect;
    // Observed like the agent's blocking calls (stats, metrics and the tracing channel:
    // start, then error and end once the parked thread returns), from the moment the
    // call reaches the agent: the thread caller reports it once its request is written,
    // so a call it refuses (too large, not encodable, a deadlock) is not reported, as an
    // async call refused at its call site is not.
    if (nodeCaller) return nodeCaller.call(method, payload, timeoutMs);
    if (!callDirect) throw this.cannotBlockOn(method, payload instanceof Uint8Array);
    // An inline agent's method is called with the arguments as they are, held to
    // maxMessageBytes as a thread agent's encoded request is (see refuseLargeDirectRequest):
    // refused here, before the call is observed, as the thread caller refuses it.
    refuseLargeDirectRequest(method, payload, this.maxMessageBytes);
    const observer = this.observer;
    const token = observer.nodeBlockingStarted(method);
    let answer: unknown;
    try {
      // The node's thread is now as good as parked: the agent's call-backs cannot wait either.
      this.callingDirect++;
      try {
        answer = callDirect(method, payload);
      } finally {
        this.callingDirect--;
      }
    } catch (error) {
      observer.nodeBlockingFailed(token, error);
      throw error;
    }
    observer.nodeBlockingSettled(token, 'ok', undefined);
    return answer;
  }

  /** `byteLayer`: the refused call was `callBlocking`, whose async form is `agent.call`. */
  private cannotBlockOn(method: string, byteLayer: boolean): TypeError {
    const instead = byteLayer ? `agent.call('${method}', bytes)` : `agent.remote.${method}()`;
    return invalidArgument(
      `agent.blocking / callBlocking need option isolation 'thread' or 'inline'; agent '${this.name}' runs under ` +
        `isolation '${this.isolation}', whose separate process cannot share the memory the node's thread parks on. Use ${instead}`,
    );
  }

  /** A handler served while the node's thread is parked: a promise it returns cannot settle there. */
  private parkedHandler(command: string, handler: Handler): Handler {
    return (payload, call) => {
      const result = handler(payload, call);
      if (isPromiseLike(result)) {
        result.then(undefined, () => undefined);
        throw this.cannotWait(command);
      }
      return result;
    };
  }

  private cannotWait(command: string): Error {
    if (this.waitingForStart) {
      return new DeadlockError(
        this.name,
        command,
        `the node's thread waits in spawnAgentSync for the factory of agent '${this.name}', and the handler of '${command}' ` +
          'returned a promise, which cannot settle until that thread runs its event loop again. Make the handler ' +
          'synchronous, call it after start-up (once spawnAgentSync has returned), or start the agent with spawnAgent',
      );
    }
    return new DeadlockError(
      this.name,
      command,
      `the node's thread is parked in a blocking call into agent '${this.name}' (agent.blocking / callBlocking), and the handler of ` +
        `'${command}' returned a promise, which cannot settle until that thread runs its event loop again. Make the handler ` +
        'synchronous, or call the agent with agent.remote instead of agent.blocking',
    );
  }

  /** The error of a call made once `close()` was called: "is closing" until the agent is gone, then "is closed". */
  private closedError(): ConnectionClosedError {
    return new ConnectionClosedError(`agent '${this.name}' ${this.exitError === undefined ? 'is closing' : 'is closed'}`);
  }

  /** Why a call into the agent must not be made now, if it must not. */
  private refuse(command: string): Error | undefined {
    if (this.closing) return this.closedError();
    if (servingBlockingOf() === this) return new DeadlockError(this.name, command);
    return undefined;
  }

  /**
   * Runs the handler of one blocking call of the agent: where every launcher's blocking
   * path ends. The call is served in the context that tells {@link refuse} a call back
   * into this agent would deadlock, and inside the observer's `run` (tracing's stores).
   *
   * Three entries, by who answers the call and whether the serving thread can run its
   * event loop before it is answered. This one is for a thread agent's mailbox and a
   * process agent's blocking socket: a promise the handler returns is passed on, and
   * awaited by the blocking server. The server began the call (`token`) and ends it once
   * it has written the answer: only then is the outcome the agent sees known (an answer
   * over `maxMessageBytes` or one that cannot be encoded becomes an error there).
   */
  private serveBlockingCall(command: string, payload: unknown, token: unknown): unknown {
    const handler = this.handlers.get(command);
    if (!handler) throw new UnknownMethodError(command);
    const result = serveBlocking(this, handler, payload, this.observer, token);
    // A traced call's synchronous part is over: `end` now, the rest when the server ends it.
    if (isPromiseLike(result)) this.observer.blockingPending(token);
    return result;
  }

  /**
   * The second: the agent's blocking calls served while the node's thread is parked on
   * this agent (the call-back slot, and a call already in its mailbox), which cannot run
   * its event loop before this returns. The handler must answer synchronously; a promise
   * it returns is refused with `DeadlockError`. As above, the server that answers the
   * call begins and ends it.
   */
  private serveBlockingCallParked(command: string, payload: unknown, token: unknown): unknown {
    const handler = this.handlers.get(command);
    if (!handler) throw new UnknownMethodError(command);
    const outer = enterServingNow(this);
    let result: unknown;
    try {
      result = this.observer.run(token, callHandler, handler, payload, undefined);
    } finally {
      leaveServingNow(outer);
    }
    if (isPromiseLike(result)) {
      // Nobody will await it; keep its rejection from becoming an unhandled one.
      result.then(undefined, () => undefined);
      throw this.cannotWait(command);
    }
    return result;
  }

  /**
   * The third: an inline agent's direct call, where the thread cannot run its event loop
   * before this returns and nothing is encoded (the answer is the handler's value), so
   * this reports the whole call to the observer itself. The handler must answer
   * synchronously; a promise it returns is refused with the error `cannotWait` builds.
   *
   * This is an inline agent's whole blocking call (40–100 ns), so it is kept small: V8
   * inlines the chain from the agent's `main.blocking` stub down to the handler only
   * while the bytecode it pulls in stays under a budget, and what does not fit costs a
   * call. The rare ends are out of line, and an untraced call (its token a number)
   * calls its handler without the observer's `run` (see "Hot paths" in
   * docs/blocking-calls.md).
   */
  private serveBlockingCallNow(command: string, payload: unknown, cannotWait: (command: string) => Error): unknown {
    const observer = this.observer;
    const token = observer.blockingStarted(command);
    const handler = this.handlers.get(command);
    if (!handler) return this.unknownBlockingMethod(command, token);
    const outer = enterServingNow(this);
    let result: unknown;
    try {
      result = typeof token === 'number' ? callHandler(handler, payload) : observer.run(token, callHandler, handler, payload, undefined);
    } catch (error) {
      leaveServingNow(outer);
      throw this.blockingThrew(token, error);
    }
    leaveServingNow(outer);
    if (isPromiseLike(result)) return this.refuseBlockingPromise(command, token, result, cannotWait);
    // Nothing is encoded, yet maxMessageBytes holds as it does for a thread agent's answer
    // (see directAnswerTooLarge): a number, a boolean or undefined costs two type checks.
    if ((typeof result === 'object' || typeof result === 'string') && payloadBytes(result) > this.maxMessageBytes) return this.refuseTooLarge(token, result);
    observer.blockingSettled(token, 'ok', undefined);
    return result;
  }

  // The rare ends of serveBlockingCallNow, out of line.

  /** The handler threw: the agent gets its error, or the `MessageTooLargeError` a thread agent would (an error over the limit once serialized). */
  private blockingThrew(token: unknown, error: unknown): unknown {
    const thrown = directErrorTooLarge(error, this.maxMessageBytes) ?? error;
    this.observer.blockingSettled(token, 'error', thrown);
    return thrown;
  }

  private refuseTooLarge(token: unknown, result: unknown): never {
    const error = directAnswerTooLarge(result, this.maxMessageBytes)!;
    this.observer.blockingSettled(token, 'error', error);
    throw error;
  }

  private unknownBlockingMethod(command: string, token: unknown): never {
    const error = new UnknownMethodError(command);
    this.observer.blockingSettled(token, 'error', error);
    throw error;
  }

  private refuseBlockingPromise(command: string, token: unknown, result: PromiseLike<unknown>, cannotWait: (command: string) => Error): never {
    // Nobody will await it; keep its rejection from becoming an unhandled one.
    result.then(undefined, () => undefined);
    const error = cannotWait(command);
    this.observer.blockingSettled(token, 'error', error);
    throw error;
  }

  /** Who this agent is, as the lifecycle channels report it. */
  private identity(): { agent: string; isolation: Isolation; pid: number; threadId: number | undefined } {
    return { agent: this.name, isolation: this.isolation, pid: this.pid, threadId: this.threadId };
  }
}

