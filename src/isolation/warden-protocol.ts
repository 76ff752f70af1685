/**
 * The warden's line protocol: what the node writes on the warden's stdin, the only
 * channel between them (the warden never answers). ASCII lines, each ending in `\n`:
 *
 * ```
 * register <pid> <start>    guard the agent process <pid>; <start> is field 22 of
 *                           /proc/<pid>/stat as read when the node registered it, or
 *                           '-' where there is no /proc (the pid alone is then trusted)
 * unregister <pid>          the node saw the agent exit: forget it
 * ```
 *
 * Registering a pid again replaces its start time; unregistering an unknown pid does
 * nothing. The warden trusts its input to come from its node, not to be well formed:
 * any other line (unknown word, a pid that is not a decimal from 2 to 2³¹−1, a start
 * time that is not decimal, a line longer than {@link MAX_LINE} bytes) is ignored.
 */

/** The start time of a process registered where start times cannot be read. */
export const NO_START_TIME = '-';

/** The longest line the warden reads; a longer one is skipped up to its end. */
export const MAX_LINE = 64;

/** A line the warden understood. */
export type WardenCommand = { op: 'register'; pid: number; start: string } | { op: 'unregister'; pid: number };

/** The line that registers the agent process `pid`, started at `start`. */
export function registerLine(pid: number, start: string): string {
  return `register ${pid} ${start}\n`;
}

/** The line that unregisters the agent process `pid`. */
export function unregisterLine(pid: number): string {
  return `unregister ${pid}\n`;
}

const REGISTER = /^register ([1-9]\d{0,9}) (\d{1,20}|-)$/;
const UNREGISTER = /^unregister ([1-9]\d{0,9})$/;

/**
 * A pid the warden may signal: never 0 or a negative number (a process group: every
 * process of the node's group), nor 1 (init).
 */
function signalablePid(text: string): number | undefined {
  const pid = Number(text);
  return pid >= 2 && pid <= 0x7fffffff ? pid : undefined;
}

/** The command of one line (without its `\n`), or `undefined` for anything malformed. */
export function parseWardenLine(line: string): WardenCommand | undefined {
  const registered = REGISTER.exec(line);
  if (registered) {
    const pid = signalablePid(registered[1]!);
    return pid === undefined ? undefined : { op: 'register', pid, start: registered[2]! };
  }
  const unregistered = UNREGISTER.exec(line);
  if (unregistered) {
    const pid = signalablePid(unregistered[1]!);
    return pid === undefined ? undefined : { op: 'unregister', pid };
  }
  return undefined;
}

/**
 * Cuts a stream of text into lines for `onLine` (without their `\n`), holding at most
 * {@link MAX_LINE} characters of a line in progress: the part of a longer line beyond
 * that is dropped and the line is not delivered.
 */
export function lineSplitter(onLine: (line: string) => void): (chunk: string) => void {
  let pending = '';
  let overlong = false;
  return (chunk) => {
    let from = 0;
    for (let end = chunk.indexOf('\n'); end !== -1; end = chunk.indexOf('\n', from)) {
      const line = pending + chunk.slice(from, end);
      if (!overlong && line.length <= MAX_LINE) onLine(line);
      pending = '';
      overlong = false;
      from = end + 1;
    }
    if (overlong) return;
    pending += chunk.slice(from);
    if (pending.length > MAX_LINE) {
      pending = '';
      overlong = true;
    }
  };
}
