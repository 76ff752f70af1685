/** Linux: the nice value of threads of this process, as the kernel reports it (`/proc`). */
import { readdirSync } from 'node:fs';
import { readProcStat } from '../../src/isolation/proc-stat.ts';

/** The nice value (field 19) in the stat file at `file`, e.g. `/proc/thread-self/stat`; NaN if unreadable. */
export function niceAt(file: string): number {
  return Number(readProcStat(file)?.[19 - 3]);
}

/** The nice value of each thread of this process (a thread that ends meanwhile is skipped). */
export function threadNices(): number[] {
  return readdirSync('/proc/self/task')
    .map((id) => niceAt(`/proc/self/task/${id}/stat`))
    .filter((nice) => !Number.isNaN(nice));
}
