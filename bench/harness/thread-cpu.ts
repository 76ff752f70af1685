/**
 * Which CPU a thread of this process last ran on, from Linux's /proc (field 39 of
 * `/proc/self/task/<tid>/stat`), and the thread ids to ask about: how the benchmarks see
 * whether a blocking call's two threads share a CPU (docs/blocking-calls.md, "Found
 * (2026-12-07)"). Linux only; elsewhere the ids are 0 and the CPUs -1.
 */
import { readlinkSync } from 'node:fs';
import { readProcStat } from '../../src/isolation/proc-stat.ts';

/** This thread's Linux thread id, or 0 where /proc does not say. */
export function currentThreadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}

/** The CPU the thread `tid` of this process last ran on, or -1. */
export function cpuOf(tid: number): number {
  if (tid <= 0) return -1;
  // Field 39, "processor" (readProcStat's index n − 3 is field n).
  const cpu = Number(readProcStat(`/proc/self/task/${tid}/stat`)?.[36]);
  return Number.isInteger(cpu) ? cpu : -1;
}

/** Whether threads `a` and `b` last ran on the same CPU; undefined if /proc cannot tell. */
export function shareCpu(a: number, b: number): boolean | undefined {
  const ca = cpuOf(a);
  const cb = cpuOf(b);
  return ca < 0 || cb < 0 ? undefined : ca === cb;
}
