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
import { serializeError, type WireError } from '../error-codec.ts';

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

/** The arguments of the log call in `record`, with its errors rebuilt. */
export function decodeLogArgs(record: LogRecord): unknown[] {
  const args = record.slice(3);
  return record[2] === 1 ? args.map(revive) : args;
}

function revive(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(revive);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, revive(v)]));
  if (value instanceof Set) return new Set([...value].map(revive));
  const wire = (value as Record<string, unknown>)[ERROR_MARK];
  if (wire !== undefined) return loggedError(wire as WireError);
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) object[key] = revive(object[key]);
  return object;
}

const constructors = new Map<string, () => void>();

/**
 * An `Error` as the agent logged it: same name, message, stack, code, own properties
 * and cause. pino's `err` serializer names the type after the constructor, so the
 * error gets a (non-enumerable) constructor of the agent-side class name.
 */
function loggedError(wire: WireError): Error {
  const error = new Error(wire.message);
  Object.defineProperty(error, 'name', { value: wire.name, writable: true, configurable: true });
  Object.defineProperty(error, 'stack', { value: wire.stack ?? `${wire.name}: ${wire.message}`, writable: true, configurable: true });
  let constructor = constructors.get(wire.name);
  if (!constructor) {
    constructor = Object.defineProperty(function () {}, 'name', { value: wire.name });
    if (constructors.size < 256) constructors.set(wire.name, constructor);
  }
  Object.defineProperty(error, 'constructor', { value: constructor, writable: true, configurable: true });
  if (wire.code !== undefined) (error as Error & { code?: string }).code = wire.code;
  if (wire.props) Object.assign(error, wire.props);
  if (wire.cause) {
    const cause = 'value' in wire.cause ? wire.cause.value : loggedError(wire.cause);
    Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true });
  }
  return error;
}
