/**
 * Whether a process has ended, for tests that check nothing they started survives.
 */
import { readFileSync } from 'node:fs';

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
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
