/**
 * The agent side of every isolation: loads the agent module, builds `main` and `ctx`,
 * runs the factory, serves the node's calls, and closes on request. Thread, process
 * and inline agents differ only in the transport, the blocking path and how they exit.
 */
import type { Logger } from 'pino';
import { IpcConnection, type Handler } from '../connection.ts';
import { findDefinition } from '../definition.ts';
import { lowerPriority } from './agent-priority.ts';
import { serializeError } from '../error-codec.ts';
import { ConnectionClosedError, ProtocolError } from '../errors.ts';
import { checkBlockingCallOptions, checkCommand, invalidArgument } from '../invalid-option.ts';
import { methodProxy, methodTable } from '../rpc.ts';
import { createAgentLogger, silentLogger } from '../logging/agent-logger.ts';
import { MAX_SENT_DEPTH } from '../transports/nesting-guard.ts';
import type { Transport } from '../transports/transport.ts';
import type { AgentContext, MainHandle } from '../types.ts';
import { Control, type AgentInit } from './control.ts';
import { ServingAnnouncer } from '../observability/serving-announcer.ts';
import { sampleRuntime } from '../observability/runtime-sample.ts';
import { locateSyntaxError } from './syntax-location.ts';

/** How an agent makes blocking calls in its isolation. */
export interface BlockingPath {
  /** Calls `command` with `payload` (args array or bytes) and returns the answer. */
  call(command: string, payload: unknown, timeoutMs?: number): unknown;
}

/** What differs between isolations, provided by each bootstrap. */
export interface AgentEnvironment {
  transport: Transport;
  /** Builds the blocking path once the connection exists. */
  blocking(connection: IpcConnection): BlockingPath;
  /** Ends the agent (the thread, the process, or the inline runtime). */
  exit(code: number): void;
  /** Loads the agent module. */
  load(entry: string): Promise<Record<string, unknown>>;
  /** Called once the factory has run, with the agent's methods (thread agents serve the node's blocking calls). */
  started?(methods: ReadonlyMap<string, Handler>, connection: IpcConnection): void;
  /**
   * Inline: builds the agent's {@link ServingAnnouncer} (the connection's observer) as one
   * that also keeps the agent's calls to the node while they wait for an answer, given
   * each call's promise by `made` (see inline.ts).
   */
  keepCalls?(send: (command: string, args: unknown[]) => Promise<unknown>): CallKeeper;
  /**
   * Inline: waited for before a closing agent closes its connection, once the node's
   * calls in progress have answered (an inline agent's calls to the node get their answers).
   */
  beforeClose?(connection: IpcConnection): Promise<void>;
}

/** The connection's observer of an inline agent, which keeps the calls the agent makes. */
export interface CallKeeper extends ServingAnnouncer {
  made<T>(call: Promise<T>): Promise<T>;
}

/** A running agent runtime (what inline isolation keeps a handle on). */
export interface RunningAgent {
  connection: IpcConnection;
  signal: AbortSignal;
  /** The agent's methods, filled in once its factory has run. */
  methods: ReadonlyMap<string, Handler>;
}

/** Starts an agent: connects, loads the module, runs its factory, reports READY. */
export function runAgent(init: AgentInit, env: AgentEnvironment): RunningAgent {
  const methods = new Map<string, Handler>();
  const controller = new AbortController();
  let closing = false;
  let logger: Logger | undefined;
  let logLevel = init.log?.level;
  const send = (command: string, args: unknown[]): Promise<unknown> => connection.request(command, args);
  const keeper = env.keepCalls?.(send);
  const serving = keeper ?? new ServingAnnouncer(send);
  const connection: IpcConnection = new IpcConnection(env.transport, {
    handlers: methods,
    observer: serving,
    timeoutMs: init.timeoutMs,
    maxMessageBytes: init.maxMessageBytes,
    maxInFlight: init.maxInFlight,
    // Between threads or processes the node rebuilds what the agent sends, with its own
    // (smaller) stack: a value nested too deep for it fails alone, here (nesting-guard.ts).
    // An inline agent hands values over as they are.
    maxSentDepth: init.isolation === 'inline' ? Infinity : MAX_SENT_DEPTH,
    peerName: 'the node',
    onNotify(command, payload) {
      if (command === Control.LOG_LEVEL && typeof payload === 'string') {
        logLevel = payload;
        try {
          if (logger) logger.level = payload;
        } catch {
          // A level the agent's logger does not know: keep the current one.
        }
      } else if (command === Control.TRACE) {
        serving.setTracing(payload);
      } else if (command === Control.SAMPLE) {
        connection.notify(Control.RUNTIME, sampleRuntime(init.isolation));
      } else if (command === Control.CLOSE && !closing) {
        closing = true;
        controller.abort(new ConnectionClosedError(`the node asked agent '${init.name}' to close`));
        // Let calls in progress answer, then leave.
        void connection
          .whenIdle()
          .then(() => env.beforeClose?.(connection))
          .then(() => {
            connection.close();
            env.exit(0);
          });
      }
    },
  });
  // If the node goes away, so does the agent.
  connection.onClose(() => {
    if (!closing) {
      closing = true;
      controller.abort(new ConnectionClosedError('the connection to the node closed'));
      env.exit(0);
    }
  });

  const blocking = env.blocking(connection);
  const main: MainHandle<Record<string, never>> = {
    async: methodProxy((name, args) => {
      serving.beforeCall();
      const call = connection.request(name, args);
      return keeper ? keeper.made(call) : call;
    }),
    blocking: methodProxy((name, args) => {
      serving.beforeCall();
      return blocking.call(name, args);
    }),
    call: (command, payload, options) => {
      serving.beforeCall();
      const call = connection.call(command, payload, options);
      return keeper ? keeper.made(call) : call;
    },
    callBlocking(command, payload = new Uint8Array(0), options) {
      checkCommand(command);
      if (!(payload instanceof Uint8Array)) throw invalidArgument(`callBlocking('${command}') payload must be a Uint8Array`);
      const timeoutMs = checkBlockingCallOptions(options);
      serving.beforeCall();
      const answer = blocking.call(command, payload, timeoutMs);
      if (answer === undefined || answer === null) return new Uint8Array(0);
      if (!(answer instanceof Uint8Array)) throw new ProtocolError(`'${command}' answered a byte-layer call with a ${typeof answer}, not a Uint8Array`);
      return answer;
    },
  };
  const ctx: AgentContext = {
    name: init.name,
    data: init.data,
    isolation: init.isolation,
    signal: controller.signal,
    get logger() {
      // Built on first use: an agent that never logs pays nothing.
      logger ??= init.log
        ? createAgentLogger({ ...init.log, level: logLevel ?? init.log.level }, (record) => connection.notify(Control.LOG, record))
        : silentLogger();
      return logger;
    },
  };

  void (async () => {
    try {
      // Before the module loads: its top level runs at the agent's priority too. (Never
      // set for an inline agent: the option's check refuses it.)
      if (init.priority !== undefined) lowerPriority(init.priority, init.isolation === 'process' ? 'process' : 'thread');
      let loaded: Record<string, unknown>;
      try {
        loaded = await env.load(init.entry);
      } catch (error) {
        // Node's SyntaxError for an ES module names no file: say which, and where.
        throw await locateSyntaxError(error, init.entry, init.name);
      }
      // The node gave up on this start (start-up timeout) while the module loaded: an
      // inline agent cannot be stopped, so its factory must not run now.
      if (connection.closed) return;
      const definition = findDefinition(loaded, init.entry);
      const exposed = await definition.factory(main, ctx);
      if (connection.closed) return;
      // The type says an object; a forgotten `return` would start an agent every call to which is UnknownMethodError.
      if (exposed === undefined || exposed === null) {
        throw invalidArgument(`the factory of agent '${init.name}' returned ${String(exposed)}: it must return an object of the methods the node may call ({} for none)`);
      }
      for (const [name, handler] of methodTable(exposed, `the methods returned by agent '${init.name}'`)) methods.set(name, handler);
      connection.notify(Control.READY);
      env.started?.(methods, connection);
    } catch (error) {
      connection.notify(Control.STARTUP_FAILED, serializeError(error));
      connection.flush();
      closing = true;
      // The failure message leaves before the exit.
      setImmediate(() => env.exit(1));
    }
  })();
  return { connection, signal: controller.signal, methods };
}
