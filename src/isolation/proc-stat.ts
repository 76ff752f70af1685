/**
 * Linux `/proc` reads of processes and threads, in one place. A `/proc/.../stat` line is
 * read as fields. Field 2, the command name, is in
 * parentheses and may itself hold spaces and parentheses, so the fields are counted from
 * its last `)`: the one place that knows this, for the warden's start times and the
 * tests' and benchmarks' reads of states, parents, CPU times and nice values.
 */
import { readFileSync, readdirSync } from 'node:fs';

/**
 * The fields of the stat file at `file` (`/proc/<pid>/stat`, `/proc/self/task/<tid>/stat`,
 * …) from field 3 on: index 0 is field 3 (the state), index 1 field 4 (the parent pid),
 * index `n − 3` field `n`. `undefined` where it cannot be read (no such process or
 * thread, or no `/proc`).
 */
export function readProcStat(file: string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The ids of this process's threads (Linux `/proc/self/task`), or `undefined` where `/proc` cannot tell. */
export function threadIdsOfThisProcess(): number[] | undefined {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return undefined;
  }
}
