/**
 * Public types shared by the node side (`agent-ipc`) and the agent side
 * (`agent-ipc/agent`).
 */
import type { Logger } from 'pino';
import type { CallOptions } from './connection.ts';

/** Any function, for constraints (no `any`). */
export type AnyFunction = (...args: never[]) => unknown;

/** The keys of `T` whose values are functions. */
export type MethodKeys<T> = { [K in keyof T]: T[K] extends AnyFunction ? K : never }[keyof T] & string;

/** Every method of `T`, returning a promise of its (awaited) result. */
export type Promisified<T> = {
  [K in MethodKeys<T>]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** Every method of `T`, returning its (awaited) result synchronously: the blocking view. */
export type Blocking<T> = {
  [K in MethodKeys<T>]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Awaited<R> : never;
};

/** Where an agent runs. */
export type Isolation = 'thread' | 'process' | 'inline';

/** Options of a blocking byte-layer call. */
export interface BlockingCallOptions {
  /** Throws `TimeoutError` after this many ms (`0` = no timeout). Overrides the agent's default (for the node's blocking calls into an agent: 60 s if the agent has no `timeoutMs`). */
  timeoutMs?: number;
}

/**
 * The node as an agent sees it: `main.async.x()` returns a promise, `main.blocking.x()`
 * returns the value (parking the agent's thread until the node answers).
 */
export interface MainHandle<Main> {
  /** Calls an exposed node method; resolves with its result. */
  readonly async: Promisified<Main>;
  /** Calls an exposed node method and waits for the result: the RFC's `call_blocking`. */
  readonly blocking: Blocking<Main>;
  /** The byte layer: sends `payload` to `command`, resolves with the answer bytes. */
  call(command: string, payload?: Uint8Array, options?: CallOptions): Promise<Uint8Array>;
  /** The byte layer, blocking: returns the answer bytes. */
  callBlocking(command: string, payload?: Uint8Array, options?: BlockingCallOptions): Uint8Array;
}

/** What an agent knows about itself. */
export interface AgentContext {
  /** The agent's name (from `spawnAgent({ name })`). */
  readonly name: string;
  /** The `data` given to `spawnAgent`, structured-cloned (by reference under `inline`). */
  readonly data: unknown;
  /** The isolation the agent runs in. */
  readonly isolation: Isolation;
  /** Aborted when the node asks the agent to close: stop work and release resources. */
  readonly signal: AbortSignal;
  /** A pino logger writing through the node's logger (silent when the node gave none). */
  readonly logger: Logger;
}

/** Brand of agent definitions; `Symbol.for` so that duplicate copies of the library agree. */
export const AGENT_DEFINITION = Symbol.for('agent-ipc.agent-definition');

/** What `defineAgent` returns; `export default` it from the agent module. */
export interface AgentDefinition<Methods extends object = object, Main = unknown> {
  /** The brand that marks a definition (whichever copy of the library made it). */
  readonly [AGENT_DEFINITION]: true;
  /** Builds the agent's methods; called once per agent. */
  readonly factory: (main: MainHandle<Main>, ctx: AgentContext) => Methods | Promise<Methods>;
}

/** The methods of an agent, from either its methods type or its definition type. */
export type RemoteMethods<T> = T extends AgentDefinition<infer M, infer _Main> ? M : T;
