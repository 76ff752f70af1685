/**
 * `spawnAgent`: validates the options, starts the agent in its isolation and resolves
 * once the agent's factory has run.
 */
import { AgentHost, type Agent } from './agent-host.ts';
import type { HandlerTable } from './connection.ts';
import { checkEntryExists, type AgentEntry } from './entry-check.ts';
import { ConnectionClosedError, StartupTimeoutError } from './errors.ts';
import type { AgentInit } from './isolation/control.ts';
import { launchInline } from './isolation/inline.ts';
import type { AgentLauncher } from './isolation/launcher.ts';
import { beforeLaunchProcess, launchProcess } from './isolation/process.ts';
import { launchThread } from './isolation/thread.ts';
import { logConfigOf } from './logging/log-config.ts';
import { isIpcServer, methodTable } from './rpc.ts';
import { resolveEntry, resolveSpawnOptions, type ResolvedSpawnOptions, type SpawnAgentOptions } from './spawn-options.ts';

let spawned = 0;

/**
 * Starts an agent from the module `entry` (a path, or a `file:` URL) whose default
 * export is `defineAgent(...)`, and resolves once its factory has run.
 *
 * ```ts
 * const agent = await spawnAgent<typeof import('./peer-agent.ts').default>(
 *   new URL('./peer-agent.ts', import.meta.url),
 *   { expose: { getBlock: (hash: string) => storage.get(hash) } },
 * );
 * await agent.remote.recvMessage('HELLO');
 * ```
 *
 * Rejects with the agent's own error if the module fails to load or its factory
 * throws, with `StartupTimeoutError` if the agent is not ready within
 * `startupTimeoutMs` (it is stopped first), and with `TypeError` for bad options.
 */
export async function spawnAgent<Remote = unknown, Local extends object = object>(
  entry: string | URL,
  options?: SpawnAgentOptions<Local>,
): Promise<Agent<Remote>> {
  return (await startAgent(entry, options)) as unknown as Agent<Remote>;
}

/** What the library itself may ask of an agent beyond the public options. */
export interface InternalSpawnOptions {
  /** A process agent that can be handed sockets (the line server's `handOffSockets`). */
  handles?: boolean;
  /**
   * Aborting it gives up on a start in progress: the agent is stopped and the start
   * rejects with the signal's reason (the line server's `close()`, which must settle
   * even while an agent is stuck starting).
   */
  signal?: AbortSignal;
  /**
   * A thread agent's OS thread is identified at its creation, so that a node parked
   * waiting for its start (`spawnAgentSync`) sees it end even before Node.js has set it
   * up (see `thread-liveness.ts`). Costs two listings of `/proc/self/task`.
   */
  watchOsThread?: boolean;
}

/**
 * `spawnAgent` with the node's handle on the agent (and its internal options).
 * @internal
 */
export function startAgent(entry: string | URL, options: SpawnAgentOptions | undefined, internal: InternalSpawnOptions = {}): Promise<AgentHost> {
  return startResolvedAgent(resolveEntry(entry, 'entry'), resolveSpawnOptions(options), internal, givenEntry(entry));
}

/** The entry as the caller passed it (once `resolveEntry` has accepted it), for the errors that name it. */
function givenEntry(entry: string | URL): string {
  return entry instanceof URL ? entry.href : entry;
}

/**
 * Starts an agent from options already validated (by `resolveSpawnOptions`, or by
 * `resolveAgentOptions` for whoever starts agents of its own: the line server).
 * @internal
 */
export async function startResolvedAgent(entryUrl: string, resolved: ResolvedSpawnOptions, internal: InternalSpawnOptions = {}, given = entryUrl): Promise<AgentHost> {
  const entry: AgentEntry = { url: entryUrl, given };
  // A missing module fails here, before a thread or process is started for it.
  checkEntryExists(entry);
  // What launching a process agent would otherwise do synchronously, on this event loop
  // (the first sandboxed start reads the node's whole descriptor table).
  if (resolved.isolation === 'process') await beforeLaunchProcess({ sandbox: resolved.sandbox });
  const { host, startupTimeoutMs } = hostOf(entry, resolved, internal);
  try {
    await readyInTime(host, host.name, startupTimeoutMs, internal.signal);
  } catch (error) {
    host.terminate();
    await host.exited;
    throw error;
  }
  return host;
}

/**
 * Validates the options, launches the agent and puts the node's handle on it, without
 * waiting for it to start (`host.ready` says when it has); with the start-up timeout
 * the caller is to enforce (`startAgent` on the event loop, `spawnAgentSync` parked).
 * @internal
 */
export function createAgentHost(
  entry: string | URL,
  options: SpawnAgentOptions | undefined,
  internal: InternalSpawnOptions = {},
): { host: AgentHost; startupTimeoutMs: number } {
  const checked: AgentEntry = { url: resolveEntry(entry, 'entry'), given: givenEntry(entry) };
  const resolved = resolveSpawnOptions(options);
  checkEntryExists(checked);
  return hostOf(checked, resolved, internal);
}

function hostOf(entry: AgentEntry, resolved: ResolvedSpawnOptions, internal: InternalSpawnOptions): { host: AgentHost; startupTimeoutMs: number } {
  const name = resolved.name ?? `agent-${++spawned}`;
  const handlers: HandlerTable = isIpcServer(resolved.expose) ? resolved.expose.handlers() : methodTable(resolved.expose, "option 'expose'");
  const init: AgentInit = {
    entry: entry.url,
    name,
    data: resolved.data,
    isolation: resolved.isolation,
    timeoutMs: resolved.timeoutMs,
    maxMessageBytes: resolved.maxMessageBytes,
    maxInFlight: resolved.maxInFlight,
    log: resolved.logger ? logConfigOf(resolved.logger) : undefined,
    priority: resolved.priority,
  };
  let launcher: AgentLauncher;
  switch (resolved.isolation) {
    case 'inline':
      launcher = launchInline(init);
      break;
    case 'thread':
      launcher = launchThread(init, resolved.resourceLimits, internal.watchOsThread === true);
      break;
    case 'process':
      launcher = launchProcess(init, { maxOldGenerationSizeMb: resolved.resourceLimits?.maxOldGenerationSizeMb, handles: internal.handles, sandbox: resolved.sandbox });
      break;
  }
  const host = new AgentHost(launcher, {
    handlers,
    name,
    timeoutMs: resolved.timeoutMs,
    nodeBlockingTimeoutMs: resolved.nodeBlockingTimeoutMs,
    maxMessageBytes: resolved.maxMessageBytes,
    maxInFlight: resolved.maxInFlight,
    logger: resolved.logger,
    entry,
  });
  return { host, startupTimeoutMs: resolved.startupTimeoutMs };
}

/**
 * Resolves when the agent is ready; rejects with its start-up error, with
 * `StartupTimeoutError` once `timeoutMs` (0: never) has passed, or with `signal`'s
 * reason when it aborts. The caller then stops the agent.
 */
function readyInTime(host: AgentHost, name: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  if (timeoutMs === 0 && !signal) return host.ready;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const givenUp = new Promise<never>((_resolve, reject) => {
    if (timeoutMs > 0) timer = setTimeout(() => reject(new StartupTimeoutError(name, timeoutMs)), timeoutMs);
    if (signal) {
      onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new ConnectionClosedError(`the start of agent '${name}' was given up`));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  return Promise.race([host.ready, givenUp]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}
