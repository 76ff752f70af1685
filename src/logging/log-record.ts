/**
 * A log record on its way from an agent to the node: the level, the agent-side child
 * bindings, and the arguments of the log call, made safe to send.
 *
 *     [level value, chindings, hasErrors (0 | 1), ...arguments of the log call]
 *
 * `chindings` is pino's own rendering of the agent logger's child bindings (`''` for
 * `ctx.logger` itself). Arguments are copied the way `JSON.stringify` would see them
 * (functions and symbols dropped, `toJSON` applied, cycles cut) so that a record never
 * fails to cross, and errors travel as error records so that the node's `err`
 * serializer sees a real `Error` with its name, stack, code, own properties and cause.
 */
import { INHERITED, serializeError, type WireError } from '../error-codec.ts';

/** A log record as it travels. */
export type LogRecord = [level: number, chindings: string, hasErrors: 0 | 1, ...args: unknown[]];

/** Marks an error inside a record; a key no logged object plausibly has. */
const ERROR_MARK = '@@agent-ipc/error';

/** Deeper than this an object is shown as `'[...]'` (the node's logger has its own limit too). */
const MAX_DEPTH = 10;

/** Builds the record of one log call. */
export function encodeLogRecord(level: number, chindings: string, args: readonly unknown[]): LogRecord {
  const state = { errors: false, ancestors: [] as object[] };
  const record: LogRecord = [level, chindings, 0];
  for (const arg of args) record.push(loggable(arg, 0, state));
  if (state.errors) record[2] = 1;
  return record;
}

function loggable(value: unknown, depth: number, state: { errors: boolean; ancestors: object[] }): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    state.errors = true;
    return { [ERROR_MARK]: serializeError(value) };
  }
  if (value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return loggable((value as { toJSON(): unknown }).toJSON(), depth, state);
  }
  if (state.ancestors.includes(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[...]';
  state.ancestors.push(value);
  let copy: unknown;
  if (Array.isArray(value)) {
    copy = value.map((item) => loggable(item, depth + 1, state));
  } else if (value instanceof Map) {
    copy = new Map([...value].map(([k, v]) => [loggable(k, depth + 1, state), loggable(v, depth + 1, state)]));
  } else if (value instanceof Set) {
    copy = new Set([...value].map((v) => loggable(v, depth + 1, state)));
  } else {
    const object: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const item = loggable((value as Record<string, unknown>)[key], depth + 1, state);
      if (item !== undefined) object[key] = item;
    }
    copy = object;
  }
  state.ancestors.pop();
  return copy;
}

/** At most this many arguments of one log call are written (pino uses the first few). */
const MAX_ARGS = 64;

/** Error names up to this length get a cached constructor; longer ones get one of their own, not kept. */
const MAX_CACHED_NAME = 256;

interface ReceiveState {
  /** Whether the record says it holds errors (error marks are honoured only then). */
  errors: boolean;
  /** Every object met so far in this record. */
  seen: Set<object>;
}

/**
 * The arguments of the log call in `record`, with its errors rebuilt — a fresh copy the
 * node's logger can write in time and memory linear in what crossed. The record is
 * untrusted: an agent may post any cloneable value rather than what `encodeLogRecord`
 * builds. A clone keeps shared references (a chain of arrays each holding the next one
 * twice is a few bytes, and a tree of 2^depth leaves once written) and sparse arrays
 * (`length` 1e8 is a few bytes, and 1e8 `null`s once written), so an object met a second
 * time is written as `'[Circular]'` (the encoder never shares one), holes are counted
 * rather than written, and depth is capped as in the encoder.
 */
export function decodeLogArgs(record: LogRecord): unknown[] {
  const state: ReceiveState = { errors: record[2] === 1, seen: new Set() };
  const end = Math.min(record.length, 3 + MAX_ARGS);
  const args: unknown[] = [];
  for (let i = 3; i < end; i++) args.push(received(record[i], 0, state));
  return args;
}

function define(target: object, key: string, value: unknown): void {
  // defineProperty: an own key named __proto__ stays a key.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function received(value: unknown, depth: number, state: ReceiveState): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (state.seen.has(value)) return '[Circular]';
  state.seen.add(value);
  if (value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (depth >= MAX_DEPTH) return '[...]';
  if (value instanceof Error) {
    const error = value as Error & Record<string, unknown>;
    const props: Record<string, unknown> = {};
    for (const key of Object.keys(error)) define(props, key, error[key]);
    const wire = { name: error.name, message: error.message, stack: error.stack, code: error.code, props };
    return loggedError(wire, depth, state);
  }
  if (Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length >= value.length) return Array.from({ length: value.length }, (_, i) => received(value[i], depth + 1, state));
    // Sparse: the items there are, then how many holes there were.
    const copy: unknown[] = [];
    for (const key of keys) if (String(Number(key)) === key) copy.push(received(value[Number(key)], depth + 1, state));
    copy.push(`[${value.length - copy.length} empty items]`);
    return copy;
  }
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [received(k, depth + 1, state), received(v, depth + 1, state)]));
  if (value instanceof Set) return new Set([...value].map((v) => received(v, depth + 1, state)));
  const object = value as Record<string, unknown>;
  if (state.errors && Object.prototype.hasOwnProperty.call(object, ERROR_MARK)) return loggedError(object[ERROR_MARK], depth, state);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(object)) define(copy, key, received(object[key], depth + 1, state));
  return copy;
}

const constructors = new Map<string, () => void>();

/**
 * An `Error` as the agent logged it: same name, message, stack, code, own properties
 * and cause. pino's `err` serializer names the type after the constructor, so the
 * error gets a (non-enumerable) constructor of the agent-side class name.
 */
function loggedError(value: unknown, depth: number, state: ReceiveState): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return received(value, depth, state);
  if (state.seen.has(value)) return '[Circular]';
  state.seen.add(value);
  if (depth >= MAX_DEPTH) return '[...]';
  const wire = value as Partial<Record<keyof WireError, unknown>>;
  const name = typeof wire.name === 'string' ? wire.name : 'Error';
  const message = typeof wire.message === 'string' ? wire.message : '';
  const error = new Error(message);
  Object.defineProperty(error, 'name', { value: name, writable: true, configurable: true });
  Object.defineProperty(error, 'stack', { value: typeof wire.stack === 'string' ? wire.stack : `${name}: ${message}`, writable: true, configurable: true });
  let constructor = constructors.get(name);
  if (!constructor) {
    constructor = Object.defineProperty(function () {}, 'name', { value: name });
    if (constructors.size < 256 && name.length <= MAX_CACHED_NAME) constructors.set(name, constructor);
  }
  Object.defineProperty(error, 'constructor', { value: constructor, writable: true, configurable: true });
  if (typeof wire.code === 'string') (error as Error & { code?: string }).code = wire.code;
  const props = wire.props;
  if (props !== null && typeof props === 'object' && !state.seen.has(props)) {
    state.seen.add(props);
    for (const key of Object.keys(props)) if (!INHERITED.has(key)) define(error, key, received((props as Record<string, unknown>)[key], depth + 1, state));
  }
  const cause = wire.cause;
  if (cause !== null && typeof cause === 'object') {
    const revived = 'value' in cause ? received((cause as { value: unknown }).value, depth + 1, state) : loggedError(cause, depth + 1, state);
    Object.defineProperty(error, 'cause', { value: revived, writable: true, configurable: true });
  }
  return error;
}
