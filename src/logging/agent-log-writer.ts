/**
 * The node's side of agent logging: writes the records an agent sends through the
 * node's logger, as if the node had logged them — same destination (one output,
 * whole lines: pino writes each record as one line), bindings, serializers,
 * redaction, formatters and timestamp — under a child that tags the agent.
 */
import pino, { type Logger } from 'pino';
import { decodeLogArgs, type LogRecord } from './log-record.ts';
import { watchLevel } from './level-watch.ts';

/** How many distinct agent-side child loggers one agent keeps a node-side twin for. */
const MAX_CHILDREN = 64;

/** Bindings strings longer than this get a node-side child for the record, not kept. */
const MAX_CACHED_CHINDINGS = 4096;

/** `level`, `time` and the keys of the bindings `logger` writes on every record (pino's `,"k":v` rendering). */
function nodeKeys(logger: Logger): string[] {
  const keys = ['level', 'time'];
  const chindings = (logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym];
  try {
    if (typeof chindings === 'string' && chindings !== '') keys.push(...Object.keys(JSON.parse(`{${chindings.slice(1)}}`) as object));
  } catch {
    // Bindings rendered by a custom stringifier: the level and time keys only.
  }
  return keys;
}

/** Writes one agent's log records through the node's logger. */
export class AgentLogWriter {
  private readonly tagged: Logger;
  /**
   * Keys the node writes itself — `level`, `time`, its logger's bindings (base bindings
   * such as `pid` and `hostname` included) and the agent's tags — which the agent's
   * bindings and logged objects may not override.
   */
  private readonly tagKeys: readonly string[];
  private readonly children = new Map<string, Logger>();
  private readonly unwatch: () => void;
  private sentLevel: string;

  /**
   * `tags` are the bindings every record of this agent gets (its name, pid or
   * thread id); `onLevel` tells the agent when the node's logger changes level.
   */
  constructor(
    private readonly logger: Logger,
    tags: Record<string, unknown>,
    onLevel: (level: string) => void,
  ) {
    this.tagged = logger.child(tags);
    this.tagKeys = nodeKeys(this.tagged);
    this.sentLevel = logger.level;
    this.unwatch = watchLevel(logger, (level) => {
      if (level === this.sentLevel) return;
      this.sentLevel = level;
      onLevel(level);
    });
  }

  /** Writes one record received from the agent. Malformed records are dropped. */
  write(payload: unknown): void {
    if (!Array.isArray(payload) || typeof payload[0] !== 'number' || typeof payload[1] !== 'string') return;
    const record = payload as LogRecord;
    const label = this.logger.levels.labels[record[0]];
    const target = this.childFor(record[1]);
    if (label === undefined || !target) return;
    const method = (target as unknown as Record<string, unknown>)[label];
    if (typeof method !== 'function') return;
    const args = decodeLogArgs(record);
    // pino writes the logged object's keys after the tags: for a JSON reader a duplicate
    // key wins, so an agent could otherwise sign its records with another agent's name.
    const object = args[0];
    if (object !== null && typeof object === 'object' && !(object instanceof Error)) this.untag(object as Record<string, unknown>);
    (method as (...args: unknown[]) => void).apply(target, args);
  }

  /** Removes the agent's tag keys from `object` (a fresh copy: see decodeLogArgs). */
  private untag(object: Record<string, unknown>): void {
    for (const key of this.tagKeys) if (Object.prototype.hasOwnProperty.call(object, key)) delete object[key];
  }

  /** Stops following level changes (the agent has exited). */
  dispose(): void {
    this.unwatch();
  }

  /** The node-side child for the agent-side bindings `chindings` (pino's `,"k":v` rendering). */
  private childFor(chindings: string): Logger | undefined {
    if (chindings === '') return this.tagged;
    let child = this.children.get(chindings);
    if (child) return child;
    let bindings: Record<string, unknown>;
    try {
      bindings = JSON.parse(`{${chindings.slice(1)}}`) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    if (bindings === null || typeof bindings !== 'object' || Array.isArray(bindings)) return undefined;
    this.untag(bindings);
    child = this.tagged.child(bindings);
    if (chindings.length > MAX_CACHED_CHINDINGS) return child;
    if (this.children.size >= MAX_CHILDREN) this.children.clear();
    this.children.set(chindings, child);
    return child;
  }
}
