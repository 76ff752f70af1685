/**
 * The options of `spawnAgent`, and their validation: every option is checked up front
 * and a bad one is a `TypeError` that names it.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import type { Logger } from 'pino';
import { DEFAULT_MAX_IN_FLIGHT } from './connection.ts';
import { checkKnownOptions, checkMs, invalidArgument, invalidOption } from './invalid-option.ts';
import type { IpcServer } from './rpc.ts';
import { resolveSandbox, type ResolvedSandbox, type SandboxOptions } from './isolation/sandbox-options.ts';
import type { Isolation } from './types.ts';

/** Options of {@link spawnAgent}. */
export interface SpawnAgentOptions<Local extends object = object> {
  /** Where the agent runs. Default `'thread'`. */
  isolation?: Isolation;
  /**
   * Node-side methods the agent may call: an allowlist of the object's own function
   * properties (nothing inherited), or an `IpcServer` for the byte layer.
   */
  expose?: Local | IpcServer;
  /** A name for logs, errors and the worker thread. Default `agent-<n>`. */
  name?: string;
  /** Setup data, structured-cloned to the agent as `ctx.data`. */
  data?: unknown;
  /** Agent log records are written through this logger (see the logging docs). */
  logger?: Logger;
  /**
   * Default timeout of calls in both directions, in ms. `0` means none; at most 2^31 - 1
   * (about 24.8 days, the longest a Node.js timer holds). Left out: none, except for the
   * node's own blocking calls into the agent (`agent.blocking`, `agent.callBlocking`),
   * which default to 60,000 ms: nothing else could wake a parked thread from an agent
   * that is alive but never answers.
   */
  timeoutMs?: number;
  /**
   * How long the agent may take to become ready (its module loaded and its factory
   * returned, or its promise settled), in ms. Default 30,000; `0` means no limit; at
   * most 2^31 - 1 (about 24.8 days, the longest a Node.js timer holds). An
   * agent not ready by then is stopped and `spawnAgent` rejects with
   * `StartupTimeoutError`. (An inline agent cannot be stopped: its module's pending
   * import is abandoned, and its factory will not run.)
   */
  startupTimeoutMs?: number;
  /** Largest message body accepted, in bytes. Default 64 MiB; at least 1024 (less is a `TypeError`). */
  maxMessageBytes?: number;
  /**
   * Most calls in flight per direction (default 65,536): beyond it, outgoing calls
   * reject at once with `TooManyCallsError`, and the other side's calls are answered
   * with it instead of being started.
   */
  maxInFlight?: number;
  /**
   * Memory limits of the agent. A thread agent takes all of `worker_threads`'
   * `ResourceLimits`; a process agent takes `maxOldGenerationSizeMb` only (passed to its
   * Node.js as `--max-old-space-size`; the other fields have no process equivalent and
   * are refused). An inline agent shares the node's heap: the limits are checked but do
   * not apply. An agent over its heap cap dies alone: its calls reject with
   * `AgentExitedError`, the node and other agents carry on. A thread agent's
   * `maxOldGenerationSizeMb` must be at least 4 and its `stackSizeMb` at least 1: below
   * those a worker's start can take the whole process down (Node.js's own behaviour).
   */
  resourceLimits?: ResourceLimits;
  /**
   * Process agents only: run the agent under Node.js's permission model. `true` lets it
   * read only its own module's package and that package's dependencies, and denies
   * writing files, starting processes and loading native addons; an object of
   * {@link SandboxOptions} widens each. Either way the agent's environment holds only
   * `env`. The network stays open. With another isolation it is a `TypeError`: a
   * thread shares the node's process and cannot be sandboxed. Default `false`.
   */
  sandbox?: boolean | SandboxOptions;
  /**
   * Thread and process agents: the agent's CPU priority, as a nice value from 0 to 19
   * (what `os.setPriority` takes; higher runs less often when cores are short, e.g.
   * `os.constants.priority.PRIORITY_BELOW_NORMAL`, 10). The agent lowers itself to it
   * before its module loads — a thread agent its own thread, a process agent its whole
   * process — so the node's thread wins the CPU over busy agents. Never raised above
   * the node's own: a value below the node's nice value is taken as the node's.
   * Default: the node's (nothing is changed). An inline agent runs on the node's thread,
   * so with `'inline'` it is a `TypeError`.
   */
  priority?: number;
}

/** Options of `agent.close()`. */
export interface CloseOptions {
  /**
   * How long the agent may take to finish in-flight work before it is forced down, in
   * ms. Default 5000; at most 2^31 - 1 (the longest a Node.js timer holds).
   */
  timeoutMs?: number;
}

/** Default largest message body: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Default of `startupTimeoutMs`: 30 s. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 30_000;

/**
 * The default timeout of the node's blocking calls into an agent when `timeoutMs` is not
 * given. An async call left waiting holds a promise; a blocking call left waiting holds
 * the thread, which then runs nothing else — not its event loop, not a `close()` — so a
 * tool or plugin whose agent is stuck in a loop would hang for good. A minute is far
 * beyond any call such a caller makes (formatting a file, compiling a module, reading a
 * config), and still ends the hang.
 */
export const DEFAULT_NODE_BLOCKING_TIMEOUT_MS = 60_000;

/** Default grace period of `close()`. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

const ISOLATIONS: readonly Isolation[] = ['thread', 'process', 'inline'];

/**
 * The options every agent takes, wherever it is started (`spawnAgent`, `spawnAgentSync`,
 * the line server): validated once, by {@link resolveAgentOptions}, with the same
 * messages. `expose` and `name` are the starter's own (the line server's `expose` has
 * reserved names, its `name` is a prefix).
 */
export const AGENT_OPTIONS = ['isolation', 'data', 'logger', 'timeoutMs', 'startupTimeoutMs', 'maxMessageBytes', 'maxInFlight', 'resourceLimits', 'sandbox', 'priority'] as const;

/** The agent options after validation, with defaults filled in. */
export interface ResolvedAgentOptions {
  isolation: Isolation;
  data: unknown;
  logger: Logger | undefined;
  timeoutMs: number;
  /** `timeoutMs` for the node's blocking calls into the agent ({@link DEFAULT_NODE_BLOCKING_TIMEOUT_MS} if `timeoutMs` was left out). */
  nodeBlockingTimeoutMs: number;
  startupTimeoutMs: number;
  maxMessageBytes: number;
  maxInFlight: number;
  resourceLimits: ResourceLimits | undefined;
  sandbox: ResolvedSandbox | undefined;
  /** Absent: the agent keeps the node's priority. */
  priority: number | undefined;
}

/** `spawnAgent`'s options after validation, with defaults filled in. */
export interface ResolvedSpawnOptions extends ResolvedAgentOptions {
  expose: object | undefined;
  name: string | undefined;
}

/** An agent module given as a path or a `file:` URL, as a `file:` URL; `option` names it in errors. */
export function resolveEntry(entry: unknown, option: string): string {
  if (entry instanceof URL) {
    if (entry.protocol !== 'file:') throw invalidOption(option, 'a file path or a file: URL', entry.href);
    return entry.href;
  }
  if (typeof entry !== 'string' || entry.length === 0) throw invalidOption(option, 'a file path or a file: URL', entry);
  if (entry.startsWith('file:')) return entry;
  return pathToFileURL(path.resolve(entry)).href;
}

const SPAWN_OPTIONS: readonly string[] = [...AGENT_OPTIONS, 'expose', 'name'];

/**
 * The one check of an `expose` option (`spawnAgent`, `spawnAgentSync`, `createLineServer`):
 * an object (or a function) of methods. An array's "methods" are its indices' values,
 * never what a caller meant.
 */
export function checkExpose(expose: unknown): asserts expose is object {
  if (expose === null || Array.isArray(expose) || (typeof expose !== 'object' && typeof expose !== 'function')) throw invalidOption('expose', 'an object of methods', expose);
}

/** Validates `spawnAgent` options. */
export function resolveSpawnOptions(options: unknown): ResolvedSpawnOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidOption('options', 'an object', options);
  const o = options as Record<string, unknown>;
  checkKnownOptions(o, SPAWN_OPTIONS);
  if (o.expose !== undefined) checkExpose(o.expose);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) throw invalidOption('name', 'a non-empty string', o.name);
  return { ...resolveAgentOptions(o), expose: o.expose as object | undefined, name: o.name as string | undefined };
}

/**
 * Validates the {@link AGENT_OPTIONS} among `o` (the caller has refused unknown keys):
 * the one check of an agent's options, whoever starts it.
 */
export function resolveAgentOptions(o: Record<string, unknown>): ResolvedAgentOptions {
  const isolation = o.isolation ?? 'thread';
  if (!ISOLATIONS.includes(isolation as Isolation)) throw invalidOption('isolation', "'thread', 'process' or 'inline'", isolation);
  const logger = o.logger as Logger | undefined;
  if (
    logger !== undefined &&
    (logger === null || typeof logger !== 'object' || typeof logger.info !== 'function' || typeof logger.warn !== 'function' || typeof logger.child !== 'function')
  ) {
    throw invalidOption('logger', 'a pino logger', logger);
  }
  const timeoutMs = o.timeoutMs === undefined ? 0 : checkMs('timeoutMs', o.timeoutMs);
  const startupTimeoutMs = o.startupTimeoutMs === undefined ? DEFAULT_STARTUP_TIMEOUT_MS : checkMs('startupTimeoutMs', o.startupTimeoutMs);
  const maxMessageBytes = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (typeof maxMessageBytes !== 'number' || !Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1024) {
    throw invalidOption('maxMessageBytes', 'an integer number of bytes, at least 1024', maxMessageBytes);
  }
  const maxInFlight = o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (typeof maxInFlight !== 'number' || !Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
    throw invalidOption('maxInFlight', 'a positive integer', maxInFlight);
  }
  const resourceLimits = checkResourceLimits(o.resourceLimits, isolation as Isolation);
  // An inline agent gets `data` by reference; the others get a structured clone of it.
  if (isolation !== 'inline') {
    try {
      structuredClone(o.data);
    } catch (error) {
      throw invalidArgument(`option 'data' must be structured-cloneable: ${(error as Error).message}`, { cause: error });
    }
  }
  return {
    isolation: isolation as Isolation,
    data: o.data,
    logger,
    timeoutMs,
    nodeBlockingTimeoutMs: o.timeoutMs === undefined ? DEFAULT_NODE_BLOCKING_TIMEOUT_MS : timeoutMs,
    startupTimeoutMs,
    maxMessageBytes,
    maxInFlight,
    resourceLimits,
    sandbox: resolveSandbox(o.sandbox, isolation as Isolation),
    priority: checkPriority(o.priority, isolation as Isolation),
  };
}

/** Checks the `priority` option: a nice value an agent can lower itself to. */
function checkPriority(value: unknown, isolation: Isolation): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 19) throw invalidOption('priority', 'an integer nice value from 0 to 19', value);
  if (isolation === 'inline') {
    throw invalidOption('priority', "unset under isolation 'inline' (an inline agent runs on the node's own thread, whose priority is the node's; isolation 'thread' or 'process' can be lowered)", value);
  }
  return value;
}

const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

/**
 * Which `resourceLimits` an isolation accepts: a process has only a heap cap flag.
 * Inline accepts (and cannot apply) them all, so that switching a deployment to
 * inline to debug it stays a change of one option.
 */
const LIMITS_OF: Record<Isolation, readonly string[]> = {
  thread: RESOURCE_LIMITS,
  process: ['maxOldGenerationSizeMb'],
  inline: RESOURCE_LIMITS,
};

function checkResourceLimits(value: unknown, isolation: Isolation): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') throw invalidOption('resourceLimits', 'an object (worker_threads ResourceLimits)', value);
  const allowed = LIMITS_OF[isolation];
  for (const [key, limit] of Object.entries(value)) {
    const option = `resourceLimits.${key}`;
    if (!(RESOURCE_LIMITS as readonly string[]).includes(key)) throw invalidOption(option, `one of ${RESOURCE_LIMITS.join(', ')}`, key);
    if (!allowed.includes(key)) throw invalidOption(option, `unset under isolation '${isolation}' (it supports ${allowed.join(', ')})`, limit);
    if (limit === undefined) continue;
    if (typeof limit !== 'number' || !Number.isFinite(limit) || limit <= 0) throw invalidOption(option, 'a positive number of MiB', limit);
    const least = isolation === 'process' ? undefined : THREAD_MINIMUM[key];
    if (least !== undefined && limit < least.mb) throw invalidOption(option, `at least ${least.mb} MiB for a thread agent: ${least.why}`, limit);
  }
  return value as ResourceLimits;
}

/**
 * Thread-agent limits below which the worker does not fail alone: the whole process
 * goes (measured 2026-12-07 with plain `new Worker`, no agent-ipc). A heap cap of 2 MiB
 * or less makes Node.js 22, 24 and 26 abort while the worker's heap is deserialised
 * ("Fatal JavaScript out of memory: GC during deserialization"; 3 MiB and up give the
 * worker's own ERR_WORKER_OUT_OF_MEMORY, as every cap does on Node.js 20); a stack of
 * 0.2 MiB or less ends the process in Node.js's own bootstrap on 20 to 26. Inline takes
 * the same bounds, so that switching isolation stays a change of one option.
 */
const THREAD_MINIMUM: Partial<Record<string, { mb: number; why: string }>> = {
  maxOldGenerationSizeMb: { mb: 4, why: "below that a worker's start can abort the whole process (Node.js 22 and later)" },
  stackSizeMb: { mb: 1, why: "below that a worker's start can end the whole process" },
};
