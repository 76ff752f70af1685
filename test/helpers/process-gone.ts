/**
 * Whether a process has ended, for tests that check nothing they started survives.
 */
import { readProcStat } from '../../src/isolation/proc-stat.ts';

/**
 * True once `pid` no longer runs. An orphan that has exited stays a zombie until the
 * init process reaps it, and some containers' init never does: a zombie has exited.
 */
export function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  // Field 3, the state: Z for a zombie. Unreadable: gone meanwhile.
  const state = readProcStat(`/proc/${pid}/stat`)?.[0];
  return state === undefined || state === 'Z';
}
