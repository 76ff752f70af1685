/**
 * `spawnAgentSync`: `spawnAgent` for code that cannot `await` (CommonJS module scope,
 * synchronous plugin APIs). It starts a thread agent and parks the calling thread on the
 * agent's reverse mailbox (see `src/blocking/reverse-mailbox.ts`) until the agent has
 * reported that its factory ran — or failed, or exited, or the start-up timeout passed.
 * While parked it reads the agent's frames from the port itself (the start-up report
 * is one), so it needs nothing from the event loop it is blocking.
 */
import type { Agent } from './agent-host.ts';
import { StartupTimeoutError } from './errors.ts';
import { invalidArgument } from './invalid-option.ts';
import { createAgentHost } from './spawn.ts';
import type { SpawnAgentOptions } from './spawn-options.ts';

/**
 * Options of {@link spawnAgentSync}: those of `spawnAgent` (`startupTimeoutMs` included),
 * for a thread agent only: `isolation` may be left out or be `'thread'`, and there is no
 * `sandbox` (process agents only). The types say so; plain JavaScript that passes
 * another isolation gets a `TypeError`.
 */
export type SpawnAgentSyncOptions<Local extends object = object> = Omit<SpawnAgentOptions<Local>, 'isolation' | 'sandbox'> & {
  /** Only `'thread'` (the default): see {@link spawnAgentSync}. */
  isolation?: 'thread';
};

/**
 * Starts a thread agent from the module `entry` and returns it once its factory has run,
 * synchronously: the calling thread is parked meanwhile.
 *
 * ```js
 * // CommonJS, module scope: no await here
 * const { spawnAgentSync } = require('agent-ipc');
 * const formatter = spawnAgentSync(require.resolve('./format-agent.js'));
 * const out = formatter.blocking.format(source);
 * ```
 *
 * If the module fails to load (a syntax error, a throw at import) or its factory throws,
 * that error is thrown here (class, message, stack) as soon as the agent reports it; an
 * agent that exits first gives `AgentExitedError`, one not ready within
 * `startupTimeoutMs` (default 30 000 ms; 0: no limit) is stopped and gives
 * `StartupTimeoutError`. (A thread that dies before Node.js has set it up at all — a heap
 * cap of a few MB — is seen to end through Linux's `/proc`; elsewhere it gives
 * `StartupTimeoutError` at the timeout, and with no limit the call would not return; see
 * docs/blocking-calls.md.) Only `isolation: 'thread'` (the default): an inline agent is loaded by the very event loop this would block, and
 * a process agent cannot share the memory the caller parks on (both are `TypeError`s).
 */
export function spawnAgentSync<Remote = unknown, Local extends object = object>(entry: string | URL, options?: SpawnAgentSyncOptions<Local>): Agent<Remote> {
  if (options !== null && typeof options === 'object') {
    // Read as plain JavaScript may pass it: the types allow only 'thread'.
    const isolation: unknown = (options as { isolation?: unknown }).isolation ?? 'thread';
    // Another value is not an isolation at all: the options' own check below says so.
    if (isolation === 'inline' || isolation === 'process') {
      throw invalidArgument(
        `spawnAgentSync needs option isolation 'thread' (got '${String(isolation)}'): ` +
          (isolation === 'inline'
            ? "an inline agent's module is loaded by the node's own event loop, which spawnAgentSync would be blocking. Use spawnAgent"
            : "a process agent cannot share the memory the calling thread parks on. Use spawnAgent, or isolation 'thread'"),
      );
    }
  }
  const { host, startupTimeoutMs } = createAgentHost(entry, options, { watchOsThread: true });
  // The promise form of the outcome is not awaited by anyone here.
  host.ready.catch(() => undefined);
  const deadline = startupTimeoutMs > 0 ? performance.now() + startupTimeoutMs : Infinity;
  let started: boolean;
  try {
    started = host.waitStartedSync(deadline);
  } catch (error) {
    host.terminate();
    throw error;
  }
  if (!started) {
    host.terminate();
    throw new StartupTimeoutError(host.name, startupTimeoutMs);
  }
  const failure = host.startupFailure;
  if (failure) {
    host.terminate();
    throw failure;
  }
  return host as unknown as Agent<Remote>;
}
