/**
 * The snapshot `agent.metrics()` returns: the node's view of the agent's calls (counts
 * by direction and kind, outcomes, latency from `perf_hooks` histograms) and the
 * agent's own view of its runtime. Same shape in every isolation.
 */
import type { RecordableHistogram } from 'node:perf_hooks';
import type { Isolation } from '../types.ts';
import type { CallCounters } from './agent-observer.ts';
import type { CallDirection, CallKind } from './channels.ts';
import type { AgentRuntimeSample } from './runtime-sample.ts';

/**
 * Start-to-settle latency of calls, in milliseconds (all zero before the first call
 * settles). `count` is exact; the percentiles, `minMs` and `maxMs` come from the timed
 * calls: every call while calls come one per event-loop turn, or while someone
 * subscribes to `agent-ipc:call`, and about one in 64 of the calls that follow another
 * in the same turn (back-to-back blocking calls, a batch of async calls). `totalMs` and
 * `meanMs` weigh those samples accordingly (exact for the node's async calls into the
 * agent). See docs/observability.md.
 */
export interface LatencySummary {
  /** Calls settled (exact: every call counts, timed or not). */
  count: number;
  /** The shortest timed latency, in ms; 0 while no timed call has settled. */
  minMs: number;
  /** `totalMs / count`, in ms; 0 before the first call settles. */
  meanMs: number;
  /** The median of the timed latencies, in ms; 0 while no timed call has settled. */
  p50Ms: number;
  /** The 90th percentile of the timed latencies, in ms; 0 while no timed call has settled. */
  p90Ms: number;
  /** The 99th percentile of the timed latencies, in ms; 0 while no timed call has settled. */
  p99Ms: number;
  /** The longest timed latency, in ms; 0 while no timed call has settled. */
  maxMs: number;
  /** Sum of the latencies of all settled calls, in ms (estimated from the timed ones where not every call is timed, as above). */
  totalMs: number;
}

/** Calls of one direction and kind since the agent started. */
export interface CallMetrics {
  /** Who called: `'node-to-agent'` (the node called the agent) or `'agent-to-node'`. */
  direction: CallDirection;
  /** `'async'` (a promise-returning call) or `'blocking'` (the caller's thread parked). */
  kind: CallKind;
  /** Calls started. */
  calls: number;
  /** Started and not settled. */
  inFlight: number;
  /** Settled with an answer. */
  ok: number;
  /** Settled with an error answer (the handler failed, unknown method, a limit). */
  errors: number;
  /** Timed out (the caller's `timeoutMs`). */
  timeouts: number;
  /** Aborted by the caller's signal or cancelled by the other side. */
  aborted: number;
  /** Cut short by the connection closing (close, exit, crash). */
  closed: number;
  /** Start-to-settle latency of the settled calls, in ms (all zero before the first settles). */
  latency: LatencySummary;
}

/** A snapshot of one agent's metrics: see docs/observability.md. */
export interface AgentMetrics {
  /** The agent's name (`Agent.name`). */
  agent: string;
  /** Where the agent runs: `'thread'`, `'process'` or `'inline'`. */
  isolation: Isolation;
  /** The OS process it runs in (the node's own for thread and inline agents). */
  pid: number;
  /** Its worker thread id; `undefined` for a process agent (an inline agent has the node's). */
  threadId: number | undefined;
  /**
   * One entry per direction and kind: `node-to-agent`/`async` (the node's calls into
   * the agent), `agent-to-node`/`async` (`main.async.*`), `agent-to-node`/`blocking`
   * (`main.blocking.*`), `node-to-agent`/`blocking` (`agent.blocking.*`, `callBlocking`).
   */
  calls: CallMetrics[];
  /**
   * Milliseconds the agent spent parked in blocking calls (the sum of their latencies
   * as the node measured them: from receipt to answer).
   */
  parkedMs: number;
  /**
   * The agent's runtime as it measured it when asked; the last one it sent if it did
   * not answer in time (it may be parked or busy), `undefined` if it never did.
   */
  runtime: AgentRuntimeSample | undefined;
}

const NS_PER_MS = 1e6;

function summary(histogram: RecordableHistogram, count: number, totalMs: number): LatencySummary {
  if (count === 0) return { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0, totalMs: 0 };
  // Not one timed call among those settled (the timed one is still in flight): no spread to report.
  const timed = histogram.count > 0;
  return {
    count,
    minMs: timed ? histogram.min / NS_PER_MS : 0,
    meanMs: totalMs / count,
    p50Ms: timed ? histogram.percentile(50) / NS_PER_MS : 0,
    p90Ms: timed ? histogram.percentile(90) / NS_PER_MS : 0,
    p99Ms: timed ? histogram.percentile(99) / NS_PER_MS : 0,
    maxMs: timed ? histogram.max / NS_PER_MS : 0,
    totalMs,
  };
}

/** The snapshot of one direction and kind's counters. @internal */
export function callMetrics(counters: CallCounters): CallMetrics {
  return {
    direction: counters.direction,
    kind: counters.kind,
    calls: counters.started,
    inFlight: counters.inFlight,
    ok: counters.ok,
    errors: counters.errors,
    timeouts: counters.timeouts,
    aborted: counters.aborted,
    closed: counters.closed,
    latency: summary(counters.latency, counters.settledCalls, counters.totalMs),
  };
}
