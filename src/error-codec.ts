/**
 * Carries errors across the boundary. Structured clone keeps only the message and
 * stack of an `Error`, so errors travel as a plain record instead:
 *
 *   { name, message, stack, code?, props, cause?, errors? }
 *
 * `props` holds the error's own enumerable data properties (as plain copies); `cause`
 * is the same record, recursively, or `{ value }` for a cause that is not an error
 * (bounded depth, and a loop in the chain is cut where it closes). `errors` is an
 * `AggregateError`'s list (what `Promise.any` and `net.connect`'s family fallback reject
 * with), each entry a record or `{ value }`, the first {@link MAX_AGGREGATED} only. One
 * error carries at most {@link MAX_ERRORS} records in all, causes and lists together.
 *
 * Both directions treat their input as hostile (see `serializeError` and
 * `deserializeError`): neither runs a getter, a setter, a proxy trap or a `toString`,
 * neither loops, and neither throws.
 */
import { types } from 'node:util';
import {
  AbortError,
  AgentExitedError,
  AgentModuleNotFoundError,
  AgentUnresponsiveError,
  AgentIpcError,
  BlockingNotAllowedError,
  ConnectionClosedError,
  DataCloneError,
  DeadlockError,
  MessageTooLargeError,
  ProtocolError,
  RemoteError,
  StartupTimeoutError,
  ThrownValueError,
  TooManyCallsError,
  TimeoutError,
  UnknownMethodError,
  WriteBufferOverflowError,
} from './errors.ts';
import { isLibraryErrorClass } from './error-brand.ts';
import { invalidArgument } from './invalid-option.ts';
import { dataOnChain, describeValue, hasUserAccessor, isErrorLike, ownData, ownDataKeys, plainCopy } from './safe-read.ts';

/** An error as it travels on the wire. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  props?: Record<string, unknown>;
  cause?: WireError | { value: unknown };
  /** An `AggregateError`'s `errors`. */
  errors?: Array<WireError | { value: unknown }>;
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
 * Built-in errors and agent-ipc's own errors are registered already. `name` (a
 * non-empty string) overrides the name it is matched by, by default its prototype's
 * `name` (else the class's). Throws a `TypeError` (code `ERR_AGENT_IPC_INVALID_ARGUMENT`)
 * for anything but an `Error` class, or a bad `name`.
 */
export function registerError(errorClass: ErrorClass, name?: string): void {
  if (typeof errorClass !== 'function' || !(errorClass.prototype instanceof Error || errorClass === Error)) {
    throw invalidArgument('registerError expects an Error subclass');
  }
  if (name !== undefined && (typeof name !== 'string' || name === '')) throw invalidArgument(`registerError's name must be a non-empty string, got ${name === null ? 'null' : typeof name}`);
  const key = name ?? (errorClass.prototype as Error).name ?? errorClass.name;
  registry.set(key === 'Error' && errorClass !== Error ? errorClass.name : key, errorClass);
}

const BUILTINS = new Set<ErrorClass>([Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError]);
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
  ThrownValueError,
  StartupTimeoutError,
  AgentUnresponsiveError,
  AgentModuleNotFoundError,
  WriteBufferOverflowError,
]) {
  registerError(cls);
}

/**
 * A record is rebuilt as one of agent-ipc's own classes only if it carries one of their
 * codes (`ERR_AGENT_IPC_…`): names such as `TimeoutError` and `AbortError` are common
 * (Node.js's `AbortSignal.timeout()` rejects with a `DOMException` named `TimeoutError`,
 * and applications name their errors so), and a caller that catches agent-ipc's
 * `TimeoutError` to retry a call must not catch the agent's database timeout with it.
 * Without the code, such an error arrives as a `RemoteError` with its name. (The
 * registry is shared by every copy of the library, so its classes are known by their
 * brand, not by identity.)
 */
const LIBRARY_CODE_PREFIX = 'ERR_AGENT_IPC_';

/** Causes kept on the wire and rebuilt on arrival; a longer chain is cut (a loop is cut at once). */
const MAX_CAUSE_DEPTH = 8;
/** Entries of an `AggregateError`'s `errors` kept. */
const MAX_AGGREGATED = 32;
/** Error records in one error, causes and `errors` lists together: nesting lists cannot multiply them. */
const MAX_ERRORS = 64;
/** Own properties kept per error. */
const MAX_PROPS = 64;
/** Keys with a meaning of their own in a {@link WireError}, never copied into or out of `props`. */
const RESERVED = new Set(['code', 'cause', 'stack', 'message', 'name', 'remoteStack']);

/**
 * Keys of the methods every error inherits (`toString`, `valueOf`, `constructor`, …): an
 * own data property of that name, from the other side, would shadow the method — and
 * `String(error)`, `` `${error}` `` or `'failed: ' + error` in the receiver's error
 * handling would throw a TypeError instead.
 */
export const INHERITED: ReadonlySet<string> = new Set(
  // `__proto__` is no method (an own data property of that name stays a key), and an
  // error's own `message` and `name` are its own.
  [...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Error.prototype)].filter((key) => !['__proto__', 'message', 'name'].includes(key)),
);

/** Removes `error`'s own keys that would shadow a method every error inherits ({@link INHERITED}), for an error rebuilt by someone else (Node.js's copy of a thread's uncaught error). */
export function dropShadowingKeys(error: object): void {
  for (const key of INHERITED) if (Object.hasOwn(error, key)) Reflect.deleteProperty(error, key);
}

/**
 * Turns anything thrown into a {@link WireError}, running none of the thrown value's
 * code: only own data properties are read (no getters, no `toString`), a `Proxy` is
 * opaque, the `cause` chain is cut at a loop or after a few links, and every value in
 * the record is a plain copy (see `plainCopy`) that structured clone can always carry.
 * A value that is not an error becomes a {@link ThrownValueError} record, so the call
 * still rejects. Never throws.
 */
export function serializeError(thrown: unknown): WireError {
  try {
    return serializeOne(thrown, 0, new Set());
  } catch {
    // Not reachable with the guards below; kept so that a throw never escapes to a caller that is answering a call.
    return { name: 'Error', message: '[agent-ipc] an error was thrown that could not be described' };
  }
}

function serializeOne(thrown: unknown, depth: number, seen: Set<unknown>): WireError {
  if (!isErrorLike(thrown)) return serializeNonError(thrown);
  seen.add(thrown);
  const name = dataOnChain(thrown, 'name');
  const message = dataOnChain(thrown, 'message');
  const wire: WireError = { name: typeof name === 'string' ? name : 'Error', message: typeof message === 'string' ? message : '' };
  // Node formats a stack lazily, through Error.prototype.toString, which reads `name`
  // and `message`: with a getter on either, the stack is left out rather than formatted.
  const stack = hasUserAccessor(thrown, 'name') || hasUserAccessor(thrown, 'message') ? undefined : dataOnChain(thrown, 'stack');
  if (typeof stack === 'string') wire.stack = stack;
  const code = dataOnChain(thrown, 'code');
  if (typeof code === 'string') wire.code = code;
  let props: Record<string, unknown> | undefined;
  for (const key of ownDataKeys(thrown, MAX_PROPS, RESERVED)) {
    props ??= {};
    // defineProperty: an own key named __proto__ stays a key.
    Object.defineProperty(props, key, { value: plainCopy(ownData(thrown, key).value), enumerable: true, writable: true, configurable: true });
  }
  if (props) wire.props = props;
  const cause = ownData(thrown, 'cause');
  if (cause.found && depth < MAX_CAUSE_DEPTH && !seen.has(cause.value) && seen.size < MAX_ERRORS) {
    wire.cause = isErrorLike(cause.value) ? serializeOne(cause.value, depth + 1, seen) : { value: plainCopy(cause.value) };
  }
  // An AggregateError's list is its own, not enumerable: an enumerable `errors` (an
  // application's own field, any shape) is among the props already.
  const errors = props && Object.hasOwn(props, 'errors') ? undefined : ownData(thrown, 'errors').value;
  if (depth < MAX_CAUSE_DEPTH && isPlainArray(errors)) {
    const list: Array<WireError | { value: unknown }> = [];
    const length = Math.min(Number(ownData(errors, 'length').value) || 0, MAX_AGGREGATED);
    for (let i = 0; i < length && seen.size < MAX_ERRORS; i++) {
      const entry = ownData(errors, i).value;
      if (isErrorLike(entry) && seen.has(entry)) continue;
      list.push(isErrorLike(entry) ? serializeOne(entry, depth + 1, seen) : { value: plainCopy(entry) });
    }
    wire.errors = list;
  }
  return wire;
}

/** An array that is no proxy (whose length and entries can be read as data). */
function isPlainArray(value: unknown): value is unknown[] {
  return value !== null && typeof value === 'object' && !types.isProxy(value) && Array.isArray(value);
}

function serializeNonError(thrown: unknown): WireError {
  const error = new ThrownValueError(describeValue(thrown), plainCopy(thrown));
  return { name: 'ThrownValueError', message: error.message, code: error.code, props: { value: error.value } };
}

/**
 * Rebuilds an error from a {@link WireError}: a registered class by name, otherwise a
 * {@link RemoteError} carrying the remote name. `stack` is the remote stack followed by
 * a marker and the local stack, so both halves of the story are in one trace.
 *
 * The record is hostile data: fields of the wrong type are ignored, every property is
 * *defined* on the error (an own `code` shadows a getter of the registered class; a
 * `__proto__` key stays a key and never sets the prototype), the `cause` chain is cut
 * after a few links (a record can be a cycle), and a record that is not one at all
 * becomes a `ProtocolError`. Never throws.
 */
export function deserializeError(wire: unknown, where = 'the other side'): Error {
  try {
    return rebuild(wire, where, 0, { left: MAX_ERRORS });
  } catch (error) {
    // Not reachable with the guards below (a registered class's prototype could still object); the call must settle.
    return new ProtocolError(`${where} sent an error that cannot be rebuilt`, { cause: error });
  }
}

/** `budget.left`: records this error may still rebuild (a hostile record can nest lists in lists). */
function rebuild(wire: unknown, where: string, depth: number, budget: { left: number }): Error {
  budget.left--;
  const name = ownData(wire, 'name').value;
  const message = ownData(wire, 'message').value;
  if (typeof name !== 'string' || typeof message !== 'string') {
    return new ProtocolError(`${where} sent a malformed error record`);
  }
  const code = ownData(wire, 'code').value;
  let cls = registry.get(name);
  if (cls && isLibraryErrorClass(cls) && !(typeof code === 'string' && code.startsWith(LIBRARY_CODE_PREFIX))) cls = undefined;
  // Reflect.construct makes a native error (with the internal slot that isNativeError
  // and test tools check) whose prototype is the registered class, without running a
  // constructor whose signature we cannot know.
  const error: Error = cls
    ? (Reflect.construct(BUILTINS.has(cls) ? cls : Error, cls === AggregateError ? [[], message] : [message], cls as unknown as new () => Error) as Error)
    : new RemoteError(message, name);
  if (cls && dataOnChain(error, 'name') !== name) define(error, 'name', name, false);
  if (typeof code === 'string') define(error, 'code', code, true);
  const props = ownData(wire, 'props').value;
  for (const key of ownDataKeys(props, MAX_PROPS)) {
    if (!RESERVED.has(key) && !INHERITED.has(key)) define(error, key, ownData(props, key).value, true);
  }
  const cause = ownData(wire, 'cause');
  if (cause.found && depth < MAX_CAUSE_DEPTH) {
    const boxed = ownData(cause.value, 'value');
    if (boxed.found) define(error, 'cause', boxed.value, false);
    else if (cause.value !== null && typeof cause.value === 'object' && budget.left > 0) define(error, 'cause', rebuild(cause.value, where, depth + 1, budget), false);
  }
  const errors = ownData(wire, 'errors').value;
  if (depth < MAX_CAUSE_DEPTH && isPlainArray(errors)) {
    const list: unknown[] = [];
    const length = Math.min(Number(ownData(errors, 'length').value) || 0, MAX_AGGREGATED);
    for (let i = 0; i < length && budget.left > 0; i++) {
      const entry = ownData(errors, i).value;
      const boxed = ownData(entry, 'value');
      if (boxed.found) list.push(boxed.value);
      else if (entry !== null && typeof entry === 'object') list.push(rebuild(entry, where, depth + 1, budget));
    }
    // As AggregateError has it: own, not enumerable.
    define(error, 'errors', list, false);
  }
  const stack = ownData(wire, 'stack').value;
  const local = new Error().stack?.split('\n').slice(3).join('\n') ?? '';
  const remote = typeof stack === 'string' ? stack : `${name}: ${message}`;
  define(error, 'remoteStack', remote, false);
  define(error, 'stack', `${remote}\n    --- thrown in ${where}, received at ---\n${local}`, false);
  return error;
}

/** Defines an own data property (never a setter call, never a prototype change). */
function define(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, enumerable, writable: true, configurable: true });
}
