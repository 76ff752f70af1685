/**
 * What an agent measures of its own runtime when the node asks (`Control.SAMPLE`):
 * event-loop utilisation, CPU time and heap. Measured inside the agent, so the figures
 * are the agent's own in every isolation — except where the runtime cannot tell the
 * agent apart from the node (see the fields).
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Isolation } from '../types.ts';

/** An agent's runtime, measured by the agent (see {@link AgentMetrics}). */
export interface AgentRuntimeSample {
  /**
   * Event-loop utilisation of the agent's thread since it started (0..1): the share of
   * time its loop was running code rather than waiting. A thread parked in a blocking
   * call counts as active. For an inline agent it is the node's own loop.
   */
  eventLoopUtilization: number;
  /** Milliseconds of the agent's loop spent active since start. */
  activeMs: number;
  /**
   * User CPU time of the agent since it started, in ms (system time is
   * {@link AgentRuntimeSample.cpuSystemMs}): its process for a process agent, its
   * thread for a thread agent where the runtime can measure one thread
   * (`process.threadCpuUsage`, Node 22.19+/23.9+); `undefined` otherwise (thread agents
   * on Node 20, inline agents, which share the node's thread).
   */
  cpuUserMs: number | undefined;
  /** System (kernel) CPU time of the agent since it started, in ms; measured, or `undefined`, as `cpuUserMs` is. */
  cpuSystemMs: number | undefined;
  /**
   * V8 heap of the agent's isolate in use, in bytes (an inline agent shares the node's,
   * so these are the node's figures).
   */
  heapUsedBytes: number;
  /** V8 heap the agent's isolate has reserved, used or not, in bytes (the node's for an inline agent). */
  heapTotalBytes: number;
  /** `Date.now()` in the agent when it was measured. */
  sampledAt: number;
}

interface CpuUsageReader {
  threadCpuUsage?: () => { user: number; system: number };
}

/** Measures the calling thread's runtime (in the agent). */
export function sampleRuntime(isolation: Isolation): AgentRuntimeSample {
  const elu = performance.eventLoopUtilization();
  let cpu: { user: number; system: number } | undefined;
  if (isolation === 'process') cpu = process.cpuUsage();
  else if (isolation === 'thread') cpu = (process as unknown as CpuUsageReader).threadCpuUsage?.();
  const heap = getHeapStatistics();
  return {
    eventLoopUtilization: elu.utilization,
    activeMs: elu.active,
    cpuUserMs: cpu === undefined ? undefined : cpu.user / 1000,
    cpuSystemMs: cpu === undefined ? undefined : cpu.system / 1000,
    heapUsedBytes: heap.used_heap_size,
    heapTotalBytes: heap.total_heap_size,
    sampledAt: Date.now(),
  };
}

/** `value` if it is a sample an agent could have sent (it is untrusted), else `undefined`. */
export function checkedSample(value: unknown): AgentRuntimeSample | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  const optional = (x: unknown): number | undefined => (finite(x) ? x : undefined);
  if (!finite(v.eventLoopUtilization) || !finite(v.activeMs) || !finite(v.heapUsedBytes) || !finite(v.heapTotalBytes) || !finite(v.sampledAt)) return undefined;
  return {
    eventLoopUtilization: Math.min(1, v.eventLoopUtilization),
    activeMs: v.activeMs,
    cpuUserMs: optional(v.cpuUserMs),
    cpuSystemMs: optional(v.cpuSystemMs),
    heapUsedBytes: v.heapUsedBytes,
    heapTotalBytes: v.heapTotalBytes,
    sampledAt: v.sampledAt,
  };
}
