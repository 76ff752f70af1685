/**
 * When a process started, as Linux records it: what tells a process apart from a later
 * one that was given the same pid. The warden (`process-warden.ts`) kills agents by pid
 * after the node is gone, possibly long after they were registered; a pid whose start
 * time no longer matches belongs to someone else by then and must not be touched.
 */
import { readFileSync } from 'node:fs';

/** Whether this system has `/proc/<pid>/stat` (Linux): start times can be read. */
export const HAS_PROC_STAT = readStat('self') !== undefined;

function readStat(pid: number | 'self'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * Field 22 of `/proc/<pid>/stat` (`starttime`: clock ticks from boot to the process's
 * start), as the decimal string the kernel wrote; `undefined` where it cannot be read
 * (no such process, or no `/proc`).
 */
export function processStartTime(pid: number): string | undefined {
  const stat = readStat(pid);
  if (stat === undefined) return undefined;
  // Field 2, the command name, is in parentheses and may itself hold spaces and
  // parentheses: the fields after it are counted from its last ')'. Field 3 is then
  // the first, so field 22 is the twentieth.
  const field = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return field !== undefined && /^\d+$/.test(field) ? field : undefined;
}
