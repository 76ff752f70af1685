/**
 * Carries errors across the boundary. Structured clone keeps only the message and
 * stack of an `Error`, so errors travel as a plain record instead:
 *
 *   { name, message, stack, code?, props, cause? }
 *
 * `props` holds the error's own enumerable properties (cloneable values only); `cause`
 * is the same record, recursively (bounded depth, so a cycle cannot loop).
 */
import {
  AbortError,
  AgentExitedError,
  AgentIpcError,
  BlockingNotAllowedError,
  ConnectionClosedError,
  DataCloneError,
  DeadlockError,
  MessageTooLargeError,
  ProtocolError,
  RemoteError,
  TooManyCallsError,
  TimeoutError,
  UnknownMethodError,
} from './errors.ts';

/** An error as it travels on the wire. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  props?: Record<string, unknown>;
  cause?: WireError | { value: unknown };
}

/** A class that {@link registerError} can restore. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Registered classes by name, shared by every copy of agent-ipc in the process (the
 * built package bundles one into each agent bootstrap, beside the `agent-ipc/agent` that
 * agent code calls `registerError` on), hence a global under a `Symbol.for` key.
 */
const REGISTRY_KEY = Symbol.for('agent-ipc.error-registry');
const registry: Map<string, ErrorClass> = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] ??= new Map<string, ErrorClass>()) as Map<string, ErrorClass>;

/**
 * Registers an error class so that errors of that class thrown on the other side come
 * back as instances of it (matched by `name`). Call it on the receiving side.
 * Built-in errors and agent-ipc's own errors are registered already.
 */
export function registerError(errorClass: ErrorClass, name?: string): void {
  if (typeof errorClass !== 'function' || !(errorClass.prototype instanceof Error || errorClass === Error)) {
    throw new TypeError('[agent-ipc] registerError expects an Error subclass');
  }
  const key = name ?? (errorClass.prototype as Error).name ?? errorClass.name;
  registry.set(key === 'Error' && errorClass !== Error ? errorClass.name : key, errorClass);
}

const BUILTINS = new Set<ErrorClass>([Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]);
for (const cls of BUILTINS) registry.set((cls as typeof Error).name, cls);
for (const cls of [
  AgentIpcError,
  TimeoutError,
  AbortError,
  AgentExitedError,
  ConnectionClosedError,
  DeadlockError,
  BlockingNotAllowedError,
  ProtocolError,
  MessageTooLargeError,
  TooManyCallsError,
  UnknownMethodError,
  DataCloneError,
]) {
  registerError(cls);
}

const MAX_CAUSE_DEPTH = 8;

/** Turns anything thrown into a {@link WireError}. */
export function serializeError(thrown: unknown, depth = 0): WireError {
  if (!(thrown instanceof Error)) {
    return { name: 'Error', message: `non-error value thrown: ${describe(thrown)}`, props: { value: cloneable(thrown) } };
  }
  const wire: WireError = { name: thrown.name, message: thrown.message, stack: thrown.stack };
  const code = (thrown as { code?: unknown }).code;
  if (typeof code === 'string') wire.code = code;
  let props: Record<string, unknown> | undefined;
  for (const key of Object.keys(thrown)) {
    if (key === 'code' || key === 'cause' || key === 'stack' || key === 'message' || key === 'name') continue;
    props ??= {};
    props[key] = cloneable((thrown as unknown as Record<string, unknown>)[key]);
  }
  if (props) wire.props = props;
  if (thrown.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    wire.cause = thrown.cause instanceof Error ? serializeError(thrown.cause, depth + 1) : { value: cloneable(thrown.cause) };
  }
  return wire;
}

/**
 * Rebuilds an error from a {@link WireError}: a registered class by name, otherwise a
 * {@link RemoteError} carrying the remote name. `stack` is the remote stack followed by
 * a marker and the local stack, so both halves of the story are in one trace.
 */
export function deserializeError(wire: WireError, where = 'the other side'): Error {
  const cls = registry.get(wire.name);
  // Reflect.construct makes a native error (with the internal slot that isNativeError
  // and test tools check) whose prototype is the registered class, without running a
  // constructor whose signature we cannot know.
  const error: Error = cls
    ? (Reflect.construct(BUILTINS.has(cls) ? cls : Error, [wire.message], cls as unknown as new () => Error) as Error)
    : new RemoteError(wire.message, wire.name);
  if (cls) {
    if (cls.prototype.name !== wire.name) {
      Object.defineProperty(error, 'name', { value: wire.name, writable: true, configurable: true });
    }
  }
  if (wire.code !== undefined) (error as { code?: string }).code = wire.code;
  if (wire.props) Object.assign(error, wire.props);
  if (wire.cause) {
    const cause = 'value' in wire.cause ? wire.cause.value : deserializeError(wire.cause, where);
    Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true });
  }
  const local = new Error().stack?.split('\n').slice(2).join('\n') ?? '';
  const remote = wire.stack ?? `${wire.name}: ${wire.message}`;
  Object.defineProperty(error, 'remoteStack', { value: remote, writable: true, configurable: true });
  Object.defineProperty(error, 'stack', {
    value: `${remote}\n    --- thrown in ${where}, received at ---\n${local}`,
    writable: true,
    configurable: true,
  });
  return error;
}

function describe(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    return typeof value;
  }
}

/** Keeps a property only if structured clone can carry it; otherwise its description. */
function cloneable(value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) return value;
  if (typeof value === 'function' || typeof value === 'symbol') return describe(value);
  try {
    return structuredClone(value);
  } catch {
    return describe(value);
  }
}
