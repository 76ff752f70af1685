/**
 * When a process started, as Linux records it: what tells a process apart from a later
 * one that was given the same pid. The warden (`process-warden.ts`) kills agents by pid
 * after the node is gone, possibly long after they were registered; a pid whose start
 * time no longer matches belongs to someone else by then and must not be touched.
 */
import { readProcStat } from './proc-stat.ts';

/** Whether this system has `/proc/<pid>/stat` (Linux): start times can be read. */
export const HAS_PROC_STAT = readProcStat('/proc/self/stat') !== undefined;

/**
 * Field 22 of `/proc/<pid>/stat` (`starttime`: clock ticks from boot to the process's
 * start), as the decimal string the kernel wrote; `undefined` where it cannot be read
 * (no such process, or no `/proc`).
 */
export function processStartTime(pid: number): string | undefined {
  const field = readProcStat(`/proc/${pid}/stat`)?.[22 - 3];
  return field !== undefined && /^\d+$/.test(field) ? field : undefined;
}
