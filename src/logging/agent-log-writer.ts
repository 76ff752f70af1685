/**
 * The node's side of agent logging: writes the records an agent sends through the
 * node's logger, as if the node had logged them — same destination (one output,
 * whole lines: pino writes each record as one line), bindings, serializers,
 * redaction, formatters and timestamp — under a child that tags the agent.
 *
 * It also bounds what agents' records can pile up in the node when that destination
 * is slower than they log (see {@link MAX_LOG_BACKLOG_BYTES}).
 */
import pino, { type Logger } from 'pino';
import { logBacklog } from './log-backlog.ts';
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

/**
 * Above this many bytes taken by the node's log destination and not yet written, the
 * records agents send are dropped (and counted, per agent) instead of written.
 *
 * Why drop rather than slow the agent down: pino hands every record to its destination
 * at once and ignores the destination's back-pressure, so records an agent logs faster
 * than the destination writes pile up in the node without bound (~215 MiB for 200,000
 * records of 1 KB into a stream taking 1 ms a write). Pausing the agent instead would
 * stall its calls, which share the transport with its records (a thread agent's port
 * cannot even be paused for one kind of message), and would let a slow disk stop the
 * network. So the agent goes on at full speed and loses log records, never calls, and
 * is told how many it lost (see {@link AgentLogWriter}). The node's own records are
 * never dropped here: the node's code chose to log them.
 *
 * One bound per destination, shared by all the agents that log to it: what agents'
 * records can add to a backed-up destination is this, plus the one record that crossed
 * it, however many agents there are.
 */
export const MAX_LOG_BACKLOG_BYTES = 4 * 2 ** 20;

/**
 * Once dropping, records are written again when the destination is down to this: a
 * gap between the two marks makes one drop-count record per backed-up stretch, not one
 * per record written or dropped.
 */
export const RESUME_LOG_BACKLOG_BYTES = MAX_LOG_BACKLOG_BYTES / 2;

/**
 * While dropping, how often the backlog is looked at when no record arrives to look
 * at it (so that the drop count is written once the destination drains, even if the
 * agent stopped logging). Destinations signal their drain differently or not at all — a
 * `Writable` emits `'drain'` only after a write went past its own `highWaterMark`, which
 * may be above our bound; `pino.multistream` emits nothing — so the writer polls, and
 * only while it drops.
 */
const DRAIN_POLL_MS = 20;

/**
 * Writes one agent's log records through the node's logger.
 *
 * While the logger's destination holds more than {@link MAX_LOG_BACKLOG_BYTES} not yet
 * written, the agent's records are dropped and counted; once it is down to
 * {@link RESUME_LOG_BACKLOG_BYTES}, one record is written at `warn` through the agent's
 * tagged logger — `{ droppedLogRecords: n }`, message `[agent-ipc] dropped n log
 * records …` — and the agent's records are written again. A destination that does not
 * report what it buffers (see {@link logBacklog}) gets every record, as pino would.
 */
export class AgentLogWriter {
  private readonly tagged: Logger;
  /** What the destination holds not yet written; undefined: it does not say. */
  private readonly backlog: (() => number) | undefined;
  /** Records dropped since the destination backed up; 0 while records are written. */
  private dropped = 0;
  /** Looks at the backlog while dropping, for a destination that drains while the agent is quiet. */
  private drainPoll: ReturnType<typeof setInterval> | undefined;
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
    this.backlog = logBacklog((logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym]);
    this.sentLevel = logger.level;
    this.unwatch = watchLevel(logger, (level) => {
      if (level === this.sentLevel) return;
      this.sentLevel = level;
      onLevel(level);
    });
  }

  /** Writes one record received from the agent. Malformed records are dropped, and any while the destination is backed up (counted). */
  write(payload: unknown): void {
    if (!Array.isArray(payload) || typeof payload[0] !== 'number' || typeof payload[1] !== 'string') return;
    const record = payload as LogRecord;
    const label = this.logger.levels.labels[record[0]];
    if (label === undefined) return;
    // Before any work on the record: a dropped one costs the node nothing more.
    if (this.backlog !== undefined && !this.admit(this.backlog())) return;
    const target = this.childFor(record[1]);
    if (!target) return;
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

  /**
   * Whether a record may be written with the destination holding `backlog` bytes not
   * yet written; counts it as dropped if not.
   */
  private admit(backlog: number): boolean {
    // `!(x > mark)`: a size that is not a number (NaN) says nothing, so it never drops.
    if (this.dropped === 0) {
      if (!(backlog > MAX_LOG_BACKLOG_BYTES)) return true;
      this.drainPoll = setInterval(() => {
        if (!(this.backlog!() > RESUME_LOG_BACKLOG_BYTES)) this.reportDropped();
      }, DRAIN_POLL_MS);
      // A backed-up destination must not keep the node's process alive.
      this.drainPoll.unref();
    } else if (!(backlog > RESUME_LOG_BACKLOG_BYTES)) {
      this.reportDropped();
      return true;
    }
    this.dropped++;
    return false;
  }

  /** Ends a stretch of dropping: writes how many records were dropped, and writes records again. */
  private reportDropped(): void {
    const count = this.dropped;
    this.dropped = 0;
    clearInterval(this.drainPoll);
    this.drainPoll = undefined;
    // `warn` unless the node's logger has only custom levels: then at its own level, so that it is written.
    const label = Object.prototype.hasOwnProperty.call(this.logger.levels.values, 'warn') ? 'warn' : this.logger.level;
    const method = (this.tagged as unknown as Record<string, unknown>)[label];
    if (typeof method !== 'function') return;
    try {
      (method as (object: object, message: string) => void).call(
        this.tagged,
        { droppedLogRecords: count },
        `[agent-ipc] dropped ${count} log record${count === 1 ? '' : 's'} of this agent: the log destination held over ${MAX_LOG_BACKLOG_BYTES / 2 ** 20} MiB not yet written`,
      );
    } catch {
      // A serializer or destination of the node's logger threw (from a timer here): as for a record.
    }
  }

  /** Stops following level changes (the agent has exited); reports records dropped and not yet reported. */
  dispose(): void {
    this.unwatch();
    if (this.dropped > 0) this.reportDropped();
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
