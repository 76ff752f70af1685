/** Linux: the nice value of every thread of this process, as the kernel reports it (`/proc`). */
import { readdirSync, readFileSync } from 'node:fs';

/** The nice value in a Linux `/proc/.../stat` line (field 19; the name before it may hold spaces). */
export function niceOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** The nice value of each thread of this process (a thread that ends meanwhile is skipped). */
export function threadNices(): number[] {
  const nices: number[] = [];
  for (const id of readdirSync('/proc/self/task')) {
    try {
      nices.push(niceOf(readFileSync(`/proc/self/task/${id}/stat`, 'utf8')));
    } catch {
      // the thread ended meanwhile
    }
  }
  return nices;
}
