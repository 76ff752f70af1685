/**
 * The options of `createLineServer`, and their validation: every option is checked up
 * front and a bad one is a `TypeError` that names it.
 */
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import { invalidArgument, invalidOption } from '../invalid-option.ts';
import { isIpcServer, methodTable, type IpcServer } from '../rpc.ts';
import type { HandlerTable } from '../connection.ts';
import { checkSandboxEntry, type SandboxOptions } from '../isolation/sandbox-options.ts';
import { checkKnownOptions } from '../invalid-option.ts';
import { AGENT_OPTIONS, checkExpose, resolveAgentOptions, resolveEntry, type ResolvedAgentOptions, type SpawnAgentOptions } from '../spawn-options.ts';
import type { Isolation } from '../types.ts';
import { LineBudget } from './shared/line-budget.ts';
import { RESERVED_PREFIX } from './shared/line-methods.ts';

/** How connections get agents: one fresh agent each, or a fixed pool shared by all. */
export type LineAgents =
  | 'per-connection'
  | {
      /** How many agents the pool keeps running (a positive integer); an agent that dies or hangs is replaced. */
      pool: number;
    };

/**
 * Options of {@link createLineServer}. Every agent option of `spawnAgent`
 * (`maxMessageBytes`, `maxInFlight`, `resourceLimits`, `logger`, `data`, …) is taken
 * too, with the same meaning and checks, and applies to each agent the server starts.
 */
export interface LineServerOptions<Main extends object = object> extends Pick<SpawnAgentOptions, 'maxMessageBytes' | 'maxInFlight' | 'resourceLimits' | 'priority'> {
  /** The agent module (a path or a `file:` URL) whose default export is `defineLineProtocol(...)`. */
  agent: string | URL;
  /**
   * Node-side methods the protocol may call through `main` (an allowlist of the
   * object's own function properties), or an `IpcServer` for the byte layer.
   */
  expose?: Main | IpcServer;
  /**
   * Where the protocol runs. `'inline'` is the RFC's current architecture (on the
   * node's thread); `'thread'` (the default) and `'process'` move it out.
   */
  isolation?: Isolation;
  /**
   * `'per-connection'` (the default, the RFC's design): a new agent per connection,
   * closed with it. `{ pool: n }`: `n` agents started up front, each connection going
   * to the one serving the fewest; an agent that dies is replaced.
   */
  agents?: LineAgents;
  /** What ends a line. Default `'\r\n'`. No longer than `maxLineLength`, both in UTF-8 bytes. */
  delimiter?: string;
  /**
   * The longest line accepted from a peer, in bytes; a longer one closes that connection.
   * Default 65,536, or less where `maxMessageBytes` is small: the longest line that fits
   * in one message to or from an agent. Set explicitly, a line that could not fit is a
   * `TypeError` (unless `handOffSockets`, where lines do not cross a message).
   */
  maxLineLength?: number;
  /**
   * Lines of one connection waiting for its protocol (queued in the node plus the batch
   * being processed) above which the server stops reading that socket; reading resumes
   * once at most half as many wait. Default 256.
   */
  highWaterMark?: number;
  /** Setup data, structured-cloned to every agent as `ctx.data`. */
  data?: unknown;
  /** Logger of the server, also given to every agent. */
  logger?: Logger;
  /**
   * Default timeout of calls in both directions, in ms (`0`, the default, means none).
   * It also bounds the processing of each batch of lines handed to the protocol and
   * of `connectionMade` / `connectionLost`: one that takes longer closes its
   * connection with `TimeoutError`. With `handOffSockets`, an agent holding connections
   * is also probed every `timeoutMs / 2` (at least 100 ms apart) and stopped, its
   * connections failing with `AgentUnresponsiveError`, if it does not answer within
   * `timeoutMs`.
   */
  timeoutMs?: number;
  /**
   * How long each agent may take to become ready, in ms (default 30,000; `0` means no
   * limit), as `spawnAgent`'s option. A pool agent not ready in time makes `listen()`
   * reject with `StartupTimeoutError` (a replacement is retried, with back-off); a
   * per-connection agent closes its connection with it.
   */
  startupTimeoutMs?: number;
  /** Prefix of the agents' names (`<name>-1`, `<name>-2`, …). Default `'line-agent'`. */
  name?: string;
  /**
   * With `isolation: 'process'` only: give each connection's socket to its agent
   * process (its descriptor is passed over a Node.js IPC channel), which then frames,
   * reads and writes it itself; the node relays no lines. The protocol runs unchanged;
   * the node keeps `connections`, the events, `close()` and crash containment, but no
   * longer sees the lines. Default `false` (lines are relayed through the node).
   */
  handOffSockets?: boolean;
  /** Every agent runs sandboxed (with `isolation: 'process'` only): see `SpawnAgentOptions.sandbox`. */
  sandbox?: boolean | SandboxOptions;
}

/** Options after validation, with defaults filled in; the agent options as every agent gets them. */
export interface ResolvedLineServerOptions extends ResolvedAgentOptions {
  entry: string;
  expose: HandlerTable;
  agents: LineAgents;
  delimiter: string;
  maxLineLength: number;
  highWaterMark: number;
  name: string;
  handOffSockets: boolean;
  /** How many lines fit in one call between the node and an agent. */
  lineBudget: LineBudget;
}

/** The default `maxLineLength` where `maxMessageBytes` leaves room for it. */
const DEFAULT_MAX_LINE_LENGTH = 65_536;

const KNOWN: readonly string[] = ['agent', 'expose', 'agents', 'delimiter', 'maxLineLength', 'highWaterMark', 'name', 'handOffSockets', ...AGENT_OPTIONS];

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalidOption(option, 'a positive integer', value);
  return value;
}

function exposedHandlers(expose: unknown): HandlerTable {
  if (expose === undefined) return new Map();
  if (isIpcServer(expose)) return expose.handlers();
  checkExpose(expose);
  const reserved = Object.keys(expose).find((key) => key.startsWith(RESERVED_PREFIX));
  if (reserved !== undefined) throw invalidOption('expose', `an object without '${RESERVED_PREFIX}' methods (reserved for the line server)`, reserved);
  return methodTable(expose, "option 'expose'");
}

/** Validates `createLineServer` options. */
export function resolveLineServerOptions(options: unknown): ResolvedLineServerOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidOption('options', 'an object', options);
  const o = options as Record<string, unknown>;
  checkKnownOptions(o, KNOWN);
  // The agent options: the same checks and messages as spawnAgent's.
  const agentOptions = resolveAgentOptions(o);
  const { isolation } = agentOptions;
  const agents = o.agents ?? 'per-connection';
  if (agents !== 'per-connection') {
    const pool = agents !== null && typeof agents === 'object' ? (agents as { pool?: unknown }).pool : undefined;
    if (typeof pool !== 'number' || !Number.isSafeInteger(pool) || pool < 1) throw invalidOption('agents', "'per-connection' or { pool: n } with n a positive integer", agents);
    // As for sandbox and resourceLimits: a misspelt or imagined field is refused, not ignored.
    for (const key of Object.keys(agents)) if (key !== 'pool') throw invalidOption(`agents.${key}`, 'unset ({ pool: n } has no other field)', (agents as Record<string, unknown>)[key]);
  }
  const delimiter = o.delimiter ?? '\r\n';
  if (typeof delimiter !== 'string' || delimiter.length === 0) throw invalidOption('delimiter', 'a non-empty string', delimiter);
  const name = o.name ?? 'line-agent';
  if (typeof name !== 'string' || name.length === 0) throw invalidOption('name', 'a non-empty string', name);
  const handOffSockets = o.handOffSockets ?? false;
  if (typeof handOffSockets !== 'boolean') throw invalidOption('handOffSockets', 'a boolean', handOffSockets);
  // Only a process has a descriptor table of its own to receive a socket into.
  if (handOffSockets && isolation !== 'process') throw invalidOption('handOffSockets', "false unless isolation is 'process'", handOffSockets);
  // Lines cross a message as batches of whole lines (see line-budget.ts); a handed-off
  // socket's never do.
  const lineBudget = handOffSockets ? LineBudget.UNLIMITED : LineBudget.of(isolation, agentOptions.maxMessageBytes);
  const maxLineLength = positiveInteger('maxLineLength', o.maxLineLength, Math.min(DEFAULT_MAX_LINE_LENGTH, lineBudget.longestLine));
  // A longer line could never be delivered or sent: its peer would be cut off for an
  // honest line, the first time one came.
  if (maxLineLength > lineBudget.longestLine) {
    throw invalidArgument(
      `option 'maxLineLength' (${maxLineLength} bytes) cannot fit in one message of option 'maxMessageBytes' (${agentOptions.maxMessageBytes} bytes): ` +
        `a line of ${maxLineLength} bytes may take ${lineBudget.costOfBytes(maxLineLength)} bytes in a call to a${isolation === 'inline' ? 'n' : ''} ${isolation} agent; ` +
        `lower maxLineLength to at most ${lineBudget.longestLine} or raise maxMessageBytes`,
    );
  }
  // The receiver holds up to maxLineLength + (delimiter bytes - 1) of an unfinished line
  // (its tail may be the delimiter's start): a delimiter longer than the longest line
  // would at least double what maxLineLength promises a node holds per peer, and is a
  // mistake anyway (say, the two options swapped). Both counted in UTF-8 bytes.
  const delimiterBytes = Buffer.byteLength(delimiter, 'utf8');
  if (delimiterBytes > maxLineLength) {
    throw invalidArgument(`option 'delimiter' (${delimiterBytes} bytes) must not be longer than option 'maxLineLength' (${maxLineLength} bytes)`);
  }
  const entry = resolveEntry(o.agent, 'agent');
  // Checked now rather than at the first connection's agent.
  if (agentOptions.sandbox) checkSandboxEntry(entry);
  return {
    ...agentOptions,
    entry,
    expose: exposedHandlers(o.expose),
    agents: agents === 'per-connection' ? agents : { pool: (agents as { pool: number }).pool },
    delimiter,
    maxLineLength,
    highWaterMark: positiveInteger('highWaterMark', o.highWaterMark, 256),
    name,
    handOffSockets,
    lineBudget,
  };
}
