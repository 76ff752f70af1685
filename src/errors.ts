/**
 * Every error class of agent-ipc, built in one place. Messages start with `[agent-ipc]`
 * so a log line says at once which layer failed.
 *
 * @packageDocumentation
 */

import { isAbsolute } from 'node:path';
import { ERROR_BRAND } from './error-brand.ts';
import { dataOnChain, describeValue, isErrorLike } from './safe-read.ts';

const PREFIX = '[agent-ipc] ';

function prefixed(message: string): string {
  return message.startsWith(PREFIX) ? message : PREFIX + message;
}

/** Options accepted by every agent-ipc error constructor. */
export interface AgentIpcErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/** `instanceof` for agent-ipc errors, across copies of the library. */
function isBranded(cls: { prototype: object }, value: unknown): boolean {
  if (Function.prototype[Symbol.hasInstance].call(cls, value)) return true;
  const brand = (cls.prototype as Record<symbol, unknown>)[ERROR_BRAND];
  if (typeof brand !== 'string' || value === null || typeof value !== 'object') return false;
  for (let proto = Object.getPrototypeOf(value) as object | null; proto; proto = Object.getPrototypeOf(proto) as object | null) {
    if (Object.prototype.hasOwnProperty.call(proto, ERROR_BRAND) && (proto as Record<symbol, unknown>)[ERROR_BRAND] === brand) return true;
  }
  return false;
}

/** Base class of the errors agent-ipc raises itself. */
export class AgentIpcError extends Error {
  /** A stable machine-readable code, e.g. `ERR_AGENT_IPC_TIMEOUT`. */
  readonly code: string;
  /**
   * Builds an agent-ipc error: `message` prefixed with `[agent-ipc] `, and a stable `code`.
   *
   * @param message - What went wrong; `[agent-ipc] ` is put in front unless it is there already.
   * @param code - The stable code, `ERR_AGENT_IPC_…`.
   * @param options - `cause`: the error behind this one.
   */
  constructor(message: string, code: string, options?: AgentIpcErrorOptions) {
    super(prefixed(message), options);
    this.code = code;
  }
  /** True for errors of this class from any copy of agent-ipc in the process. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, value);
  }
}

/**
 * An error thrown on the other side of a connection whose class is not registered
 * here (see {@link registerError}). It keeps the remote `name`, `message`, `code`,
 * own enumerable properties, `cause` chain, and `remoteStack`.
 */
export class RemoteError extends Error {
  /** The `code` of the remote error, if it had one. */
  code?: string;
  /** The stack as it was on the side that threw. */
  remoteStack?: string;
  /**
   * Built by the error codec when it rebuilds an error from the wire; not prefixed, since
   * the message is the remote error's own.
   *
   * @param message - The remote error's message.
   * @param name - The remote error's `name` (an own, non-enumerable property when it is not `'RemoteError'`).
   * @param options - `cause`: the rebuilt remote cause.
   */
  constructor(message: string, name = 'RemoteError', options?: AgentIpcErrorOptions) {
    super(message, options);
    // Own but not enumerable, so it never counts as one of the error's data properties.
    if (name !== 'RemoteError') Object.defineProperty(this, 'name', { value: name, configurable: true, writable: true });
  }
  /** True for remote errors from any copy of agent-ipc in the process. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, value);
  }
}

/** A call did not settle within its `timeoutMs`. */
export class TimeoutError extends AgentIpcError {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Builds the error a call rejects with when its `timeoutMs` elapsed.
   *
   * @param command - The command or method that was called.
   * @param timeoutMs - The timeout that elapsed, in milliseconds.
   */
  constructor(command: string, timeoutMs: number) {
    super(`call '${command}' timed out after ${timeoutMs} ms`, 'ERR_AGENT_IPC_TIMEOUT');
    this.timeoutMs = timeoutMs;
  }
}

/** A call was cancelled through its `AbortSignal`. */
export class AbortError extends AgentIpcError {
  /**
   * Builds the error a call rejects with when its signal aborted.
   *
   * @param command - The command or method that was called.
   * @param options - `cause`: the signal's `reason`.
   */
  constructor(command: string, options?: AgentIpcErrorOptions) {
    super(`call '${command}' was aborted`, 'ERR_AGENT_IPC_ABORTED', options);
  }
}

/** How an agent ended: what `agent.exited` resolves to. */
export interface AgentExit {
  /** Exit code of the thread or process (`null` if it was ended by a signal). */
  code: number | null;
  /** The signal that ended a process agent, e.g. `'SIGKILL'`; `null` for threads. */
  signal: NodeJS.Signals | null;
  /** The uncaught error that ended the agent, if any. */
  error?: Error;
}

/** The agent exited or crashed; its in-flight and later calls reject with this. */
export class AgentExitedError extends AgentIpcError {
  /** Exit code, `null` if ended by a signal or not yet known. */
  readonly exitCode: number | null;
  /** The signal that ended a process agent, if any. */
  readonly signal: NodeJS.Signals | null;
  /**
   * Builds the error that calls into (and from) an agent that ended reject with.
   *
   * @param agentName - The agent's `name`.
   * @param exit - How it ended; its `error`, if any, becomes the `cause`.
   */
  constructor(agentName: string, exit: AgentExit) {
    const how = exit.signal
      ? `was killed by ${exit.signal}`
      : exit.error
        ? `crashed (${exit.error.message.replace(PREFIX, '')})`
        : exit.code === null
          ? // Only a thread seen to stop from outside (the probe of a node parked in a call
            // into it, or in spawnAgentSync) ends with no code: it died before Node.js
            // could report one, which is how a thread stopped at its heap limit ends.
            'stopped without an exit code (its thread ended before Node.js reported how; a thread stopped at its heap limit ends so)'
          : `exited with code ${exit.code}`;
    super(`agent '${agentName}' ${how}`, 'ERR_AGENT_IPC_AGENT_EXITED', { cause: exit.error });
    this.exitCode = exit.code;
    this.signal = exit.signal;
  }
}

/** The connection was closed (by either side) before the call could settle. */
export class ConnectionClosedError extends AgentIpcError {
  /**
   * Builds the error that calls still pending on a closed connection reject with.
   *
   * @param reason - Why it closed (the message).
   * @param options - `cause`: what closed it, if known.
   */
  constructor(reason = 'the connection is closed', options?: AgentIpcErrorOptions) {
    super(reason, 'ERR_AGENT_IPC_CLOSED', options);
  }
}

/**
 * A call would wait on itself: the node, while serving an agent's blocking call, called
 * into that same agent, which cannot answer until the blocking call returns; or a call
 * reached a node whose thread is parked in `agent.blocking` and whose handler returned a
 * promise, which cannot settle while that thread is parked.
 */
export class DeadlockError extends AgentIpcError {
  /**
   * Builds the error of a call that would wait on itself.
   *
   * @param agentName - The agent the call concerns.
   * @param command - The command or method that was called.
   * @param why - Replaces the default explanation (a call made while serving the agent's blocking call).
   */
  constructor(agentName: string, command: string, why?: string) {
    super(
      why === undefined
        ? `call '${command}' into agent '${agentName}' was made while serving that agent's blocking call; ` +
            'the agent is parked until that call returns, so this call could never be answered'
        : `call '${command}' cannot be served: ${why}`,
      'ERR_AGENT_IPC_DEADLOCK',
    );
  }
}

/** A blocking call was made where blocking is not allowed (see the message for why). */
export class BlockingNotAllowedError extends AgentIpcError {
  /**
   * Builds the error of a blocking call made where blocking is not allowed.
   *
   * @param message - Where blocking was tried and why it is not allowed there.
   */
  constructor(message: string) {
    super(message, 'ERR_AGENT_IPC_BLOCKING_NOT_ALLOWED');
  }
}

/** The peer sent something that does not follow the wire protocol. */
export class ProtocolError extends AgentIpcError {
  /**
   * Builds the error that closes a connection whose peer broke the wire protocol.
   *
   * @param message - What the peer sent that breaks the protocol.
   * @param options - `cause`: the decoding error, if any.
   */
  constructor(message: string, options?: AgentIpcErrorOptions) {
    super(message, 'ERR_AGENT_IPC_PROTOCOL', options);
  }
}

/** A message is larger than `maxMessageBytes` (or a line longer than `maxLineLength`). */
export class MessageTooLargeError extends AgentIpcError {
  /** The size that was refused, in bytes. */
  readonly size: number;
  /** The limit it exceeded, in bytes. */
  readonly limit: number;
  /**
   * Builds the error of a message over its size limit.
   *
   * @param what - The message that was refused (`the answer to request #3`, …).
   * @param size - Its size, in bytes.
   * @param limit - The limit it exceeded, in bytes.
   */
  constructor(what: string, size: number, limit: number) {
    super(`${what} of ${size} bytes exceeds the limit of ${limit} bytes`, 'ERR_AGENT_IPC_TOO_LARGE');
    this.size = size;
    this.limit = limit;
  }
}

/** Too many calls are in flight on a connection (see the `maxInFlight` option). */
export class TooManyCallsError extends AgentIpcError {
  /** The limit that was reached. */
  readonly limit: number;
  /**
   * Builds the error of a call over `maxInFlight`.
   *
   * @param direction - `'outgoing'`: this side has `limit` calls waiting; `'incoming'`: the other side is serving `limit` of this side's.
   * @param limit - The `maxInFlight` that was reached.
   */
  constructor(direction: 'outgoing' | 'incoming', limit: number) {
    super(
      direction === 'outgoing'
        ? `${limit} calls are already waiting for answers on this connection; wait for some to settle`
        : `the other side is already serving ${limit} of this side's calls; wait for some to settle`,
      'ERR_AGENT_IPC_TOO_MANY_CALLS',
    );
    this.limit = limit;
  }
}

/** The command or method is not exposed by the other side. */
export class UnknownMethodError extends AgentIpcError {
  /** The name that was asked for. */
  readonly method: string;
  /**
   * Builds the error of a call to a command or method the other side does not expose.
   *
   * @param method - The name that was asked for.
   */
  constructor(method: string) {
    super(`'${method}' is not an exposed method`, 'ERR_AGENT_IPC_UNKNOWN_METHOD');
    this.method = method;
  }
}

/** A value could not be sent (a function, a symbol, …): raised at the call site. */
export class DataCloneError extends AgentIpcError {
  /**
   * Builds the error of a value that cannot be sent.
   *
   * @param what - The value that could not be sent (`the result of the call`, …).
   * @param options - `cause`: the serializer's error; its message is read without running its code.
   */
  constructor(what: string, options?: AgentIpcErrorOptions) {
    super(`${what} cannot be sent to the other side: ${describeCause(options?.cause)}`, 'ERR_AGENT_IPC_DATA_CLONE', options);
  }
}

/**
 * A handler threw (or rejected with) something that is not an `Error`: `undefined`,
 * `null`, a string, a number, a plain object… The call rejects with this, and `value`
 * holds what was thrown, as far as it could be carried (a copy of its data; a
 * description for a function, a symbol or a proxy).
 */
export class ThrownValueError extends AgentIpcError {
  /** What was thrown (a plain copy, or its description if it could not be copied). */
  readonly value: unknown;
  /**
   * Builds the error a call rejects with when its handler threw a non-`Error`.
   *
   * @param description - What was thrown, described (`undefined`, `a string`, …).
   * @param value - A plain copy of it, or its description.
   */
  constructor(description: string, value: unknown) {
    super(`non-error value thrown: ${description}`, 'ERR_AGENT_IPC_THROWN_VALUE');
    this.value = value;
  }
}

/** The message of a cause, without running any of its code (it may be hostile: a getter, a proxy). */
function describeCause(cause: unknown): string {
  if (isErrorLike(cause)) {
    const message = dataOnChain(cause, 'message');
    if (typeof message === 'string') return message;
  }
  return describeValue(cause);
}

// Names live on the prototypes (not as own fields) so that they survive bundlers that
// rename classes and never show up among an error's own enumerable properties.
for (const [cls, name] of [
  [AgentIpcError, 'AgentIpcError'],
  [RemoteError, 'RemoteError'],
  [TimeoutError, 'TimeoutError'],
  [AbortError, 'AbortError'],
  [AgentExitedError, 'AgentExitedError'],
  [ConnectionClosedError, 'ConnectionClosedError'],
  [DeadlockError, 'DeadlockError'],
  [BlockingNotAllowedError, 'BlockingNotAllowedError'],
  [ProtocolError, 'ProtocolError'],
  [MessageTooLargeError, 'MessageTooLargeError'],
  [TooManyCallsError, 'TooManyCallsError'],
  [UnknownMethodError, 'UnknownMethodError'],
  [DataCloneError, 'DataCloneError'],
  [ThrownValueError, 'ThrownValueError'],
] as const) {
  Object.defineProperty(cls.prototype, 'name', { value: name, configurable: true, writable: true });
  Object.defineProperty(cls.prototype, ERROR_BRAND, { value: name });
}

/**
 * An agent did not become ready within its `startupTimeoutMs` (its module was still
 * loading, or its factory had not returned): it was stopped, and its start rejects
 * with this.
 */
export class StartupTimeoutError extends AgentIpcError {
  /** The agent that did not start. */
  readonly agentName: string;
  /** The start-up timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Builds the error a start rejects with when the agent was not ready in time.
   *
   * @param agentName - The agent that did not start.
   * @param timeoutMs - Its `startupTimeoutMs`.
   */
  constructor(agentName: string, timeoutMs: number) {
    super(
      `agent '${agentName}' was not ready within ${timeoutMs} ms (its module was still loading or its factory had not returned); it was stopped`,
      'ERR_AGENT_IPC_STARTUP_TIMEOUT',
    );
    this.agentName = agentName;
    this.timeoutMs = timeoutMs;
  }
}
Object.defineProperty(StartupTimeoutError.prototype, 'name', { value: 'StartupTimeoutError', configurable: true, writable: true });
Object.defineProperty(StartupTimeoutError.prototype, ERROR_BRAND, { value: 'StartupTimeoutError' });

/**
 * An agent's module does not exist: `spawnAgent` rejects (`spawnAgentSync` throws) with
 * this, before any thread or process is started when the file is plainly missing, or
 * once the agent's `import()` of it failed. Its `code` is agent-ipc's, like every class
 * here (`ERR_AGENT_IPC_MODULE_NOT_FOUND`: the codec rebuilds a library class only from a
 * record with such a code); Node.js's error, when there was one, is the `cause`, with
 * Node's `ERR_MODULE_NOT_FOUND`. (A module the agent's module imports
 * that is missing is not this: that error is Node's, and names the importing file.)
 */
export class AgentModuleNotFoundError extends AgentIpcError {
  /** The entry as it was passed to `spawnAgent` (a path, or a `file:` URL's `href`). */
  readonly entry: string;
  /** The absolute path it was resolved to, which does not exist. */
  readonly path: string;
  /**
   * Builds the error of an agent module that does not exist.
   *
   * @param entry - The entry as passed (a path, or a `file:` URL's `href`).
   * @param path - The absolute path it resolved to.
   * @param options - `cause`: Node.js's `ERR_MODULE_NOT_FOUND` error, if the agent's import failed.
   */
  constructor(entry: string, path: string, options?: AgentIpcErrorOptions) {
    const resolved = entry === path ? '' : ` (resolved to ${path})`;
    // The usual mistake: a relative path is the working directory's, not the calling module's.
    const relative = !entry.startsWith('file:') && !isAbsolute(entry);
    const hint = relative ? `; a relative path is resolved against the working directory, ${process.cwd()}: new URL('./…', import.meta.url) names a file next to the calling module` : '';
    super(`agent module '${entry}' not found${resolved}${hint}`, 'ERR_AGENT_IPC_MODULE_NOT_FOUND', options);
    this.entry = entry;
    this.path = path;
  }
}
Object.defineProperty(AgentModuleNotFoundError.prototype, 'name', { value: 'AgentModuleNotFoundError', configurable: true, writable: true });
Object.defineProperty(AgentModuleNotFoundError.prototype, ERROR_BRAND, { value: 'AgentModuleNotFoundError' });

/**
 * A line server's agent stopped answering: a liveness probe got no answer within the
 * server's `timeoutMs` (its event loop is stuck). A pool agent is probed when a call into
 * it timed out; a hand-off agent (`handOffSockets`) also periodically while it holds
 * connections. It was stopped (and, in a pool, replaced); the connections it served
 * close with this. It is an {@link AgentExitedError}: the agent is gone.
 */
export class AgentUnresponsiveError extends AgentExitedError {
  /** The timeout the probe (and the call that prompted it, if any) exceeded, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Builds the error of a line server's agent stopped for not answering.
   *
   * @param agentName - The agent that stopped answering.
   * @param exit - How it ended once stopped.
   * @param timeoutMs - The timeout the probe (and the call that prompted it, if any) exceeded.
   */
  constructor(agentName: string, exit: AgentExit, timeoutMs: number) {
    super(agentName, exit);
    this.message = prefixed(
      `agent '${agentName}' stopped answering: a call timed out and a liveness probe got no answer within ${timeoutMs} ms; it was stopped and replaced`,
    );
    (this as { code: string }).code = 'ERR_AGENT_IPC_AGENT_UNRESPONSIVE';
    this.timeoutMs = timeoutMs;
  }
}
Object.defineProperty(AgentUnresponsiveError.prototype, 'name', { value: 'AgentUnresponsiveError', configurable: true, writable: true });
Object.defineProperty(AgentUnresponsiveError.prototype, ERROR_BRAND, { value: 'AgentUnresponsiveError' });

/**
 * A line server's protocol kept sending to a peer that does not read: the lines waiting
 * in its connection's socket for the peer went over the node's hard limit (without
 * `handOffSockets`, where the node writes the lines its agent sends). The send that
 * would have gone over is refused (nothing of it is written) and the connection closes
 * with this. A protocol that stops sending while `conn.writable` is false (`await
 * conn.whenWritable()`) never meets it; the limit is there so that one that does not —
 * buggy or hostile — cannot grow the node's memory without bound.
 */
export class WriteBufferOverflowError extends AgentIpcError {
  /** The connection's id (`conn.id`, `LineConnectionInfo.id`). */
  readonly connectionId: number;
  /** What the socket would have held with the refused send, in characters (UTF-16 units) of lines and delimiters. */
  readonly buffered: number;
  /** The limit it would have exceeded, in the same units. */
  readonly limit: number;
  /**
   * Builds the error of a connection whose protocol sent past the node's limit of lines
   * waiting for its peer.
   *
   * @param connectionId - The connection's id.
   * @param buffered - What the socket would have held with the refused send, in characters.
   * @param limit - The limit, in characters.
   */
  constructor(connectionId: number, buffered: number, limit: number) {
    super(
      `connection ${connectionId}: the protocol sent lines its peer does not read: ${buffered} characters would wait in the socket, over the limit of ${limit}; ` +
        'a protocol must stop sending while conn.writable is false (await conn.whenWritable())',
      'ERR_AGENT_IPC_WRITE_BUFFER_OVERFLOW',
    );
    this.connectionId = connectionId;
    this.buffered = buffered;
    this.limit = limit;
  }
}
Object.defineProperty(WriteBufferOverflowError.prototype, 'name', { value: 'WriteBufferOverflowError', configurable: true, writable: true });
Object.defineProperty(WriteBufferOverflowError.prototype, ERROR_BRAND, { value: 'WriteBufferOverflowError' });
