/**
 * Reading values that came from the other side of a boundary — or that user code threw
 * or returned — without running any of their code. An error can carry getters that
 * throw, a `Proxy` (possibly revoked) can stand in for any object, and `String(value)`
 * calls the value's own `toString`. Everything here:
 *
 * - treats a `Proxy` as opaque (`util.types.isProxy` asks V8, not the proxy's traps);
 * - reads only own *data* properties, through property descriptors, so no getter or
 *   setter ever runs (on an object that is not a proxy, `getOwnPropertyDescriptor`,
 *   `ownKeys` and `getPrototypeOf` run no user code);
 * - bounds how far it walks (depth, number of properties), so its cost is bounded
 *   whatever the value;
 * - never throws: an exotic object that still objects is described, not read.
 */
import { types } from 'node:util';

/** How many own properties {@link plainCopy} copies from one object. */
const MAX_COPY_KEYS = 256;
/** How deep {@link plainCopy} copies; deeper values become a description. */
const MAX_COPY_DEPTH = 16;
/** How many values {@link plainCopy} copies in all. */
const MAX_COPY_NODES = 4096;
/** How many prototypes {@link dataOnChain} walks. */
const MAX_CHAIN = 32;
/** Keys of an error that {@link plainCopy} leaves alone (reading `stack` may format it). */
const ERROR_SKIP: ReadonlySet<string> = new Set(['stack']);
/** Strings in descriptions are cut to this length. */
const MAX_DESCRIBED = 200;

/** True for a `Proxy`, revoked or not, without touching it. */
export function isProxy(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && types.isProxy(value);
}

/** An object (or function) whose properties can be read without running user code. */
function readable(value: unknown): value is object {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && !types.isProxy(value);
}

/** The descriptor of own property `key`, or undefined (also for proxies and exotic failures). */
function ownDescriptor(target: unknown, key: PropertyKey): PropertyDescriptor | undefined {
  if (!readable(target)) return undefined;
  try {
    return Reflect.getOwnPropertyDescriptor(target, key);
  } catch {
    return undefined;
  }
}

/** The value of own *data* property `key` (`found` false for accessors, proxies, absent keys). */
export function ownData(target: unknown, key: PropertyKey): { found: boolean; value: unknown } {
  const descriptor = ownDescriptor(target, key);
  if (descriptor === undefined || !('value' in descriptor)) return { found: false, value: undefined };
  return { found: true, value: descriptor.value };
}

/** The prototype of `target`, or null if it cannot be had without running user code. */
export function prototypeOf(target: unknown): object | null {
  if (!readable(target)) return null;
  try {
    return Reflect.getPrototypeOf(target);
  } catch {
    return null;
  }
}

/**
 * Getters of the platform's own error classes that are safe to call: V8's `stack`
 * accessor (Node 22+ makes `stack` an own accessor of every error) and the prototype
 * getters of `DOMException` (what `postMessage` throws for a value it cannot clone).
 * No other accessor is ever called.
 */
const PLATFORM_GETTERS = new Set<unknown>([Object.getOwnPropertyDescriptor(new Error(), 'stack')?.get]);
for (const key of ['name', 'message', 'code', 'stack']) {
  PLATFORM_GETTERS.add(Object.getOwnPropertyDescriptor(DOMException.prototype, key)?.get);
}
PLATFORM_GETTERS.delete(undefined);

/**
 * The value of property `key` found first along the prototype chain (own first), like
 * a plain read would find it — except that an accessor (other than the platform's
 * own, see above), a proxy or a chain longer than a few dozen links stops the search
 * and gives `undefined`.
 */
export function dataOnChain(target: unknown, key: PropertyKey): unknown {
  let at: unknown = target;
  for (let hops = 0; hops < MAX_CHAIN && readable(at); hops++) {
    const descriptor = ownDescriptor(at, key);
    if (descriptor !== undefined) {
      if ('value' in descriptor) return descriptor.value;
      if (!PLATFORM_GETTERS.has(descriptor.get)) return undefined;
      try {
        return Reflect.apply(descriptor.get!, target, []);
      } catch {
        return undefined;
      }
    }
    at = prototypeOf(at);
  }
  return undefined;
}

/**
 * True if reading `key` the ordinary way would call an accessor other than the
 * platform's own (or a proxy's trap). Formatting an error's `stack` (Node does it
 * lazily, on first read) calls `Error.prototype.toString`, which reads `name` and
 * `message`: check those first.
 */
export function hasUserAccessor(target: unknown, key: PropertyKey): boolean {
  let at: unknown = target;
  for (let hops = 0; hops < MAX_CHAIN && at !== null; hops++) {
    if (isProxy(at)) return true;
    if (!readable(at)) return false;
    const descriptor = ownDescriptor(at, key);
    if (descriptor !== undefined) return !('value' in descriptor) && !PLATFORM_GETTERS.has(descriptor.get);
    at = prototypeOf(at);
  }
  return false;
}

/**
 * Own enumerable string keys whose properties are data properties (never accessors).
 * Keys in `skip` are not looked at at all: an error's `stack` must not be, since
 * looking formats it (see {@link hasUserAccessor}).
 */
export function ownDataKeys(target: unknown, limit = MAX_COPY_KEYS, skip?: ReadonlySet<string>): string[] {
  if (!readable(target)) return [];
  let keys: Array<string | symbol>;
  try {
    keys = Reflect.ownKeys(target);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const key of keys) {
    if (typeof key !== 'string' || skip?.has(key)) continue;
    const descriptor = ownDescriptor(target, key);
    if (descriptor?.enumerable && 'value' in descriptor) {
      out.push(key);
      if (out.length >= limit) break;
    }
  }
  return out;
}

/** True if `value` has `Error.prototype` on its prototype chain or is a native error (no user code runs). */
export function isErrorLike(value: unknown): value is Error {
  if (!readable(value)) return false;
  if (types.isNativeError(value)) return true;
  let at: object | null = prototypeOf(value);
  for (let hops = 0; hops < MAX_CHAIN && at !== null; hops++) {
    if (at === Error.prototype) return true;
    at = prototypeOf(at);
  }
  return false;
}

/**
 * A short description of any value, for messages, built without calling its
 * `toString`, `Symbol.toPrimitive` or any getter.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > MAX_DESCRIBED ? `${value.slice(0, MAX_DESCRIBED)}…` : value);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return Symbol.prototype.toString.call(value);
    case 'function': {
      if (types.isProxy(value)) return 'a Proxy';
      const name = ownData(value, 'name').value;
      return typeof name === 'string' && name !== '' ? `a function (${name.slice(0, MAX_DESCRIBED)})` : 'a function';
    }
    default: {
      if (value === null) return 'null';
      if (types.isProxy(value)) return 'a Proxy';
      if (Array.isArray(value)) return 'an array';
      const ctor = dataOnChain(value, 'constructor');
      const name = ctor === undefined ? undefined : ownData(ctor, 'name').value;
      return typeof name === 'string' && name !== '' && name !== 'Object' ? `an object of class ${name.slice(0, MAX_DESCRIBED)}` : 'an object';
    }
  }
}

/**
 * A copy of `value` that structured clone (and `v8.serialize`) can always carry and
 * whose making ran no user code: primitives as they are, plain objects, arrays and
 * class instances as plain objects of their own enumerable *data* properties,
 * `Date`, `Map`, `Set`, typed arrays and `ArrayBuffer`s as copies; functions,
 * symbols, proxies, accessors' values and anything past the depth or size bounds
 * become descriptions (strings). Cycles become the string `'[circular]'`.
 */
export function plainCopy(value: unknown): unknown {
  const state = { nodes: 0, seen: new Set<object>() };
  return copyValue(value, 0, state);
}

function copyValue(value: unknown, depth: number, state: { nodes: number; seen: Set<object> }): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) return value;
  if (typeof value === 'symbol' || typeof value === 'function' || types.isProxy(value)) return describeValue(value);
  const object = value as object;
  if (++state.nodes > MAX_COPY_NODES || depth >= MAX_COPY_DEPTH) return describeValue(object);
  if (state.seen.has(object)) return '[circular]';
  try {
    if (types.isDate(object)) return new Date(Date.prototype.getTime.call(object));
    if (types.isArrayBufferView(object) || types.isAnyArrayBuffer(object)) return structuredClone(object);
    if (types.isRegExp(object)) return describeValue(object);
    state.seen.add(object);
    try {
      if (types.isMap(object)) {
        const copy = new Map<unknown, unknown>();
        Map.prototype.forEach.call(object, (item: unknown, key: unknown) => {
          if (copy.size < MAX_COPY_KEYS) copy.set(copyValue(key, depth + 1, state), copyValue(item, depth + 1, state));
        });
        return copy;
      }
      if (types.isSet(object)) {
        const copy = new Set<unknown>();
        Set.prototype.forEach.call(object, (item: unknown) => {
          if (copy.size < MAX_COPY_KEYS) copy.add(copyValue(item, depth + 1, state));
        });
        return copy;
      }
      if (Array.isArray(object)) {
        const length = ownData(object, 'length').value as number;
        const copy: unknown[] = [];
        for (let i = 0; i < Math.min(length, MAX_COPY_KEYS); i++) copy.push(copyValue(ownData(object, i).value, depth + 1, state));
        return copy;
      }
      const copy: Record<string, unknown> = {};
      for (const key of ownDataKeys(object, MAX_COPY_KEYS, isErrorLike(object) ? ERROR_SKIP : undefined)) {
        // defineProperty: a key named __proto__ stays a key.
        Object.defineProperty(copy, key, { value: copyValue(ownData(object, key).value, depth + 1, state), enumerable: true, writable: true, configurable: true });
      }
      return copy;
    } finally {
      state.seen.delete(object);
    }
  } catch {
    return describeValue(object);
  }
}
