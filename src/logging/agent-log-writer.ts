/**
 * The node's side of agent logging: writes the records an agent sends through the
 * node's logger, as if the node had logged them — same destination (one output,
 * whole lines: pino writes each record as one line), bindings, serializers,
 * redaction, formatters and timestamp — under a child that tags the agent.
 */
import type { Logger } from 'pino';
import { decodeLogArgs, type LogRecord } from './log-record.ts';
import { watchLevel } from './level-watch.ts';

/** How many distinct agent-side child loggers one agent keeps a node-side twin for. */
const MAX_CHILDREN = 64;

/** Writes one agent's log records through the node's logger. */
export class AgentLogWriter {
  private readonly tagged: Logger;
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
    (method as (...args: unknown[]) => void).apply(target, decodeLogArgs(record));
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
    if (this.children.size >= MAX_CHILDREN) this.children.clear();
    child = this.tagged.child(bindings);
    this.children.set(chindings, child);
    return child;
  }
}
