/**
 * The typed layer over {@link IpcConnection}: method name + args instead of command +
 * bytes (the RFC's "further abstractions"), and the RFC's own `IpcClient` /
 * `IpcServer` pair for code that wants the byte layer.
 */
import type { CallOptions, Handler, HandlerTable, IncomingCall, IpcConnection } from './connection.ts';
import { invalidArgument } from './invalid-option.ts';

/** The most arguments one typed call may carry (far more than a function can usefully take). */
const MAX_ARGUMENTS = 65_536;

/** A method table built from an object's own function properties: the `expose` allowlist. */
export function methodTable(methods: object | undefined, what: string): Map<string, Handler> {
  const table = new Map<string, Handler>();
  if (methods === undefined || methods === null) return table;
  if (typeof methods !== 'object' && typeof methods !== 'function') {
    throw invalidArgument(`${what} must be an object of methods, got ${typeof methods}`);
  }
  // Own keys only: nothing inherited (`constructor`, `__proto__`, `toString`) is reachable.
  for (const name of Object.keys(methods)) {
    const fn = (methods as Record<string, unknown>)[name];
    if (typeof fn !== 'function') continue;
    const method = fn as (...args: unknown[]) => unknown;
    // A typed call carries an args array; a byte-layer call carries one Uint8Array. A
    // hostile argument list can be a sparse array of billions of holes (a blocking call's
    // arguments come through the codec, whose v8 fallback keeps holes): `apply` would walk
    // them all. No honest call has this many arguments. (The usual case first and the
    // rest out of line: this runs in every call, see "Hot paths" in docs/blocking-calls.md.)
    table.set(name, (payload: unknown) =>
      Array.isArray(payload) && payload.length <= MAX_ARGUMENTS ? method.apply(methods, payload) : callWithOther(methods, method, name, payload),
    );
  }
  return table;
}

/** A call whose payload is not an argument list of accepted length: a byte-layer call's bytes, or too many arguments. */
function callWithOther(methods: object, method: (...args: unknown[]) => unknown, name: string, payload: unknown): unknown {
  if (!Array.isArray(payload)) return method.call(methods, payload);
  throw new RangeError(`[agent-ipc] call '${name}' has ${payload.length} arguments; at most ${MAX_ARGUMENTS} are accepted`);
}

/**
 * An object whose every property is a function that calls `invoke(name, args)`.
 * It is not thenable (`then` is undefined), so `await proxy` does not call the remote.
 *
 * A plain object in front of a `Proxy`: the first use of a name goes through the
 * proxy's trap (the object's prototype), which makes the function and keeps it as the
 * object's own, hidden, read-only property; every later `main.blocking.add(…)` is then
 * a plain property load. A trap on every access cost ~45 ns a call (measured on
 * Node.js 20 and 24: ~50 → ~8 ns for the access and the call), a twentieth of a
 * blocking call in a burst. Assigning to a property throws in strict mode, as before.
 */
export function methodProxy<T>(invoke: (name: string, args: unknown[]) => unknown): T {
  const methods: object = Object.create(
    new Proxy(Object.create(null) as object, {
      get(_target, key) {
        if (typeof key !== 'string' || key === 'then') return undefined;
        const fn = (...args: unknown[]): unknown => invoke(key, args);
        Object.defineProperty(methods, key, { value: fn, enumerable: false, writable: false, configurable: false });
        return fn;
      },
      has: () => false,
      ownKeys: () => [],
      set: () => false,
    }),
  ) as object;
  return methods as T;
}

/** A byte-layer command handler, as in the RFC: bytes in, bytes out (or a promise of them). */
export type IpcCommand = (payload: Uint8Array, call: IncomingCall) => Uint8Array | void | Promise<Uint8Array | void>;

/**
 * The brand on `IpcServer.prototype`. The built package bundles a copy of this class into
 * each entry point (`agent-ipc`, `agent-ipc/lines`, `agent-ipc/connection`, in ESM and
 * CJS), so a subclass of `agent-ipc/connection`'s `IpcServer` is not an instance of the
 * copy `spawnAgent` holds: `instanceof` failed, and such an `expose` was taken for an
 * object with no methods (every call `UnknownMethodError`). A `Symbol.for` key is the
 * same in every copy (as error-brand.ts does for the error classes).
 */
const IPC_SERVER_BRAND: symbol = Symbol.for('agent-ipc.ipc-server');

/** True if `value` is an {@link IpcServer} from any copy of the library. */
export function isIpcServer(value: unknown): value is IpcServer {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[IPC_SERVER_BRAND] === true;
}

/**
 * The RFC's `IpcServer`: subclass it and return the command map this end serves.
 * Pass it as `expose` (node side) or return `server.handlers()` entries from an agent.
 */
export abstract class IpcServer {
  /**
   * `value instanceof IpcServer` holds for a server from any copy of the library (see
   * `IPC_SERVER_BRAND`); for a subclass, `instanceof` is the usual prototype test.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return this === IpcServer ? isIpcServer(value) : Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** The commands this server answers, by name. */
  abstract getCommandMap(): Record<string, IpcCommand>;

  /** The command map as a handler table for an {@link IpcConnection}. */
  handlers(): HandlerTable {
    const table = new Map<string, Handler>();
    const commands = this.getCommandMap();
    for (const name of Object.keys(commands)) {
      const command = commands[name]!;
      table.set(name, (payload, call) => {
        if (!(payload instanceof Uint8Array)) throw invalidArgument(`command '${name}' takes a Uint8Array payload`);
        return command(payload, call);
      });
    }
    return table;
  }
}
Object.defineProperty(IpcServer.prototype, IPC_SERVER_BRAND, { value: true });

/** The RFC's `IpcClient`: calls commands on the other end over a connection. */
export class IpcClient {
  /**
   * A client whose calls go over `connection`.
   *
   * @param connection - One end of a connection; the other end's `IpcServer` answers.
   */
  constructor(private readonly connection: IpcConnection) {}

  /** Sends `payload` to `command` on the other end; resolves with the bytes it answers. */
  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array> {
    return this.connection.call(command, payload, options);
  }
}
