/**
 * The node's handle on one agent: the typed proxy, the byte layer, the blocking
 * server (the mailbox of a thread agent, the forwarded-call channel of a process
 * agent), lifecycle (ready, close, exit), deadlock detection, the agent's log
 * records and its counters. It is the same for every isolation; the launcher
 * supplies what differs.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { serveBlocking, servingBlockingOf } from './blocking-context.ts';
import { MailboxServer } from './blocking/server.ts';
import { NodeCaller } from './blocking/node-caller.ts';
import { IpcConnection, type CallOptions, type Handler, type HandlerTable } from './connection.ts';
import { deserializeError, type WireError } from './error-codec.ts';
import { AgentExitedError, ConnectionClosedError, DeadlockError, ProtocolError, UnknownMethodError, type AgentExit } from './errors.ts';
import { Control } from './isolation/control.ts';
import type { AgentLauncher } from './isolation/launcher.ts';
import { AgentLogWriter } from './logging/agent-log-writer.ts';
import { methodProxy } from './rpc.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS, checkMs, type CloseOptions } from './spawn-options.ts';
import { countingErrorFrames } from './transports/error-frame-counter.ts';
import type { Blocking, BlockingCallOptions, Isolation, Promisified, RemoteMethods } from './types.ts';
import { MAX_REQUEST_ID } from './wire.ts';
import { isPromiseLike } from './promise-like.ts';

/** Counters for metrics. */
export interface AgentStats {
  /** Calls the node made into the agent. */
  callsOut: number;
  /** Async calls the agent made into the node. */
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
  /**
   * The agent's methods, called synchronously: `agent.blocking.format(src)` parks the
   * calling thread until the agent's method (which may be async) has answered, and
   * returns its result. For tools, CLIs and synchronous plugin APIs — never a server's
   * request path (see docs/blocking-calls.md). While parked, the node serves the agent's
   * call-backs whose handlers are synchronous; one whose handler returns a promise fails
   * with `DeadlockError`. Thread and inline agents (an inline agent's method must then be
   * synchronous); a process agent throws `TypeError`.
   */
  readonly blocking: Blocking<RemoteMethods<Remote>>;
  /** The byte layer: sends `payload` to the agent's `command`, resolves with its answer bytes. */
  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array>;
  /**
   * The byte layer, blocking: sends `payload` to the agent's `command` and returns its
   * answer bytes, parking the calling thread (see {@link Agent.blocking}). Throws
   * `TimeoutError` after `timeoutMs` (default: the agent's `timeoutMs`; 0 = none).
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
  /** Counters for metrics (a snapshot). */
  readonly stats: Readonly<AgentStats>;
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
  readonly blocking: Blocking<unknown>;
  readonly exited: Promise<AgentExit>;
  /** Resolves when the agent reported READY; rejects if it failed to start. */
  readonly ready: Promise<void>;
  private readonly connection: IpcConnection;
  /** A thread agent's blocking calls. */
  private readonly mailbox: MailboxServer | undefined;
  /** A process agent's blocking calls, forwarded by its I/O thread. */
  private readonly blockingConnection: IpcConnection | undefined;
  /** The node's blocking calls into a thread agent (the reverse mailbox). */
  private readonly nodeCaller: NodeCaller | undefined;
  /** Where start-up stands, known synchronously (for spawnAgentSync). */
  private startupState: 'starting' | 'ready' | 'failed' = 'starting';
  private exitError: AgentExitedError | undefined;
  private readonly defaultTimeoutMs: number;
  private readonly logWriter: AgentLogWriter | undefined;
  private readonly counters: AgentStats = { callsOut: 0, callsIn: 0, blockingCalls: 0, errors: 0 };
  private closing: Promise<void> | undefined;
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
    this.defaultTimeoutMs = timeoutMs;
    const counted: HandlerTable = {
      get: (command) => {
        const handler = handlers.get(command);
        if (handler) {
          this.counters.callsIn++;
          // Parked in agent.blocking.x(): only a handler that answers synchronously can be served.
          if (this.nodeCaller?.parked) return this.parkedHandler(command, handler);
        }
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
    this.connection = new IpcConnection(
      countingErrorFrames(launcher.transport, (n) => (this.counters.errors += n)),
      {
        handlers: counted,
        timeoutMs,
        peerName,
        maxMessageBytes,
        maxInFlight,
        onNotify: (command, payload) => this.control(command, payload, onReady),
      },
    );
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
    if (launcher.reverse) {
      const reverse = launcher.reverse;
      this.nodeCaller = new NodeCaller(reverse.memory, reverse.sidePort, reverse.callbackPort, {
        maxMessageBytes,
        peerName,
        beforeBlock: () => {
          this.connection.flush();
          return this.connection.lastOutgoingRequestId % (MAX_REQUEST_ID + 1);
        },
        drain: () => {
          reverse.drain();
          this.connection.flush();
        },
        dispatch: (command, payload) => this.dispatchBlocking(handlers, command, payload),
        cannotWait: (command) => this.cannotWait(command),
        exitedError: (code) => this.exitError ?? new AgentExitedError(name, { code, signal: null, error: this.crashError ?? this.startupError }),
        closedError: () => new ConnectionClosedError(`agent '${name}' is closing`),
        nestedError: (command) =>
          new DeadlockError(
            name,
            command,
            "the node's thread is already parked in a blocking call into this agent, which answers one blocking call at a time",
          ),
        threadStopped: reverse.threadStopped,
      });
    }
    if (launcher.blockingTransport) {
      // Every command gets a handler here so that unknown ones fail (and count) as in a mailbox.
      const blockingHandlers: HandlerTable = {
        get: (command) => (call: unknown) => this.serveForwarded(handlers, command, call),
      };
      this.blockingConnection = new IpcConnection(launcher.blockingTransport, { handlers: blockingHandlers, peerName });
    }
    this.exited = new Promise<AgentExit>((resolve) => {
      launcher.onExit((exit) => {
        const cause = exit.error ?? this.crashError ?? this.startupError;
        const reported: AgentExit = cause && !exit.error ? { ...exit, error: cause } : exit;
        const error = new AgentExitedError(name, reported);
        this.exitError = error;
        this.nodeCaller?.close();
        this.mailbox?.close();
        this.connection.close(error);
        this.blockingConnection?.close(error);
        this.logWriter?.dispose();
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
    this.blockingConnection?.onClose(stopIfBroken);
    this.remote = methodProxy((method, args) => this.invoke(method, args));
    this.blocking = methodProxy((method, args) => this.invokeBlocking(method, args, this.defaultTimeoutMs));
  }

  get stats(): Readonly<AgentStats> {
    return { ...this.counters };
  }

  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array> {
    const refused = this.refuse(command);
    if (refused) return Promise.reject(refused);
    this.counters.callsOut++;
    return this.connection.call(command, payload, options);
  }

  callBlocking(command: string, payload: Uint8Array = new Uint8Array(0), options?: BlockingCallOptions): Uint8Array {
    if (!(payload instanceof Uint8Array)) throw new TypeError(`[agent-ipc] callBlocking('${command}') payload must be a Uint8Array`);
    if (options !== undefined && (options === null || typeof options !== 'object')) throw new TypeError('[agent-ipc] callBlocking options must be an object');
    const timeoutMs = options?.timeoutMs === undefined ? this.defaultTimeoutMs : checkMs('timeoutMs', options.timeoutMs);
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
    if (!this.nodeCaller) throw new TypeError(`[agent-ipc] agent '${this.name}' cannot be waited for synchronously`);
    return this.nodeCaller.parkUntil(() => this.startupState !== 'starting', deadline);
  }

  /** The error the agent failed to start with, once known synchronously. @internal */
  get startupFailure(): Error | undefined {
    return this.startupState === 'failed' ? this.startupError : undefined;
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw new TypeError('[agent-ipc] close options must be an object');
    const graceMs = options.timeoutMs === undefined ? DEFAULT_CLOSE_TIMEOUT_MS : checkMs('timeoutMs', options.timeoutMs);
    this.closing ??= (async () => {
      // A blocked agent wakes with an error now rather than after the grace period: a
      // thread agent's mailbox is here; a process agent's is in its I/O thread, told
      // on the blocking channel (its main thread may be parked and cannot read).
      this.mailbox?.close();
      this.nodeCaller?.close();
      this.blockingConnection?.notify(Control.CLOSE);
      this.blockingConnection?.flush();
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
        this.startupState = 'ready';
        onReady();
        break;
      case Control.STARTUP_FAILED:
        this.startupError = deserializeError(payload as WireError, `agent '${this.name}'`);
        this.startupState = 'failed';
        break;
      case Control.CRASHED:
        this.crashError = deserializeError(payload as WireError, `agent '${this.name}'`);
        break;
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
    this.counters.callsOut++;
    return this.connection.request(method, args);
  }

  /** The node's blocking call into the agent: `payload` is an args array or bytes. */
  private invokeBlocking(method: string, payload: unknown, timeoutMs: number): unknown {
    const refused = this.refuse(method);
    if (refused) throw refused;
    if (this.exitError) throw this.exitError;
    this.counters.callsOut++;
    if (this.nodeCaller) return this.nodeCaller.call(method, payload, timeoutMs);
    if (this.launcher.callDirect) return this.launcher.callDirect(method, payload);
    throw new TypeError(
      `[agent-ipc] agent.blocking / callBlocking need option isolation 'thread' or 'inline'; agent '${this.name}' runs under ` +
        `isolation '${this.isolation}', whose separate process cannot share the memory the node's thread parks on. Use agent.remote.${method}()`,
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
    return new DeadlockError(
      this.name,
      command,
      `the node's thread is parked in a blocking call into agent '${this.name}' (agent.blocking / callBlocking), and the handler of ` +
        `'${command}' returned a promise, which cannot settle until that thread runs its event loop again. Make the handler ` +
        'synchronous, or call the agent with agent.remote instead of agent.blocking',
    );
  }

  /** Why a call into the agent must not be made now, if it must not. */
  private refuse(command: string): Error | undefined {
    if (this.closing) return new ConnectionClosedError(`agent '${this.name}' is closing`);
    if (servingBlockingOf() === this) return new DeadlockError(this.name, command);
    return undefined;
  }

  /**
   * Serves a blocking call a process agent's I/O thread forwarded: `[fence, payload]`.
   * As the mailbox server does for a thread agent, it waits until the async calls the
   * agent sent before it (up to request id `fence`) have started: they travel on the
   * other stream and may arrive later.
   */
  private serveForwarded(handlers: HandlerTable, command: string, call: unknown): unknown {
    if (!Array.isArray(call) || call.length !== 2 || typeof call[0] !== 'number') throw new ProtocolError('malformed forwarded blocking call');
    const [fence, payload] = call as [number, unknown];
    const started = this.connection.whenIncomingStarted(fence);
    // A rejection (the connection closed first) becomes this call's error: it settles either way.
    return started ? started.then(() => this.dispatchBlocking(handlers, command, payload)) : this.dispatchBlocking(handlers, command, payload);
  }

  /**
   * Serves one blocking call of the agent, whichever way it came (mailbox or
   * forwarded), in the context that tells {@link refuse} a call back into this agent
   * would deadlock.
   */
  private dispatchBlocking(handlers: HandlerTable, command: string, payload: unknown): unknown {
    this.counters.blockingCalls++;
    const handler = handlers.get(command);
    if (!handler) {
      this.counters.errors++;
      throw new UnknownMethodError(command);
    }
    let result: unknown;
    try {
      result = serveBlocking(this, handler, payload);
    } catch (error) {
      this.counters.errors++;
      throw error;
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(undefined, (error: unknown) => {
        this.counters.errors++;
        throw error;
      });
    }
    return result;
  }
}
