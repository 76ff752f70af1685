/**
 * The Node.js options a process agent starts with: the node's own (`--import=tsx`,
 * `--conditions`, `--enable-source-maps`, … so an agent loads modules the way the
 * node does) minus those that must not be repeated in a second process, plus the
 * agent's memory cap.
 */

/** Options that take the next argument as their value when not written `--opt=value`. */
const WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--input-type', '--watch-path']);

/**
 * Options dropped: code to evaluate (the agent runs its bootstrap, not the node's
 * `-e` script), debugger ports (two processes cannot listen on one), watch and test
 * runners and the REPL. A heap cap of the node is kept, unless the agent has its own
 * (appended last, so it wins: V8 takes the last occurrence of a flag).
 */
function dropped(option: string): boolean {
  const name = option.split('=')[0]!;
  return (
    ['-e', '--eval', '-p', '--print', '-i', '--interactive', '--input-type', '--test', '--watch', '--watch-path', '--watch-preserve-output'].includes(name) ||
    name.startsWith('--inspect') ||
    name.startsWith('--debug') ||
    name.startsWith('--test-')
  );
}

/** The node's `execArgv` as a process agent should get it, with an optional heap cap in MiB. */
export function childExecArgv(execArgv: readonly string[], maxOldGenerationSizeMb: number | undefined): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const option = execArgv[i]!;
    const takesNext = WITH_VALUE.has(option) && i + 1 < execArgv.length;
    if (dropped(option)) {
      if (takesNext) i++;
      continue;
    }
    kept.push(option);
    if (takesNext) kept.push(execArgv[++i]!);
  }
  if (maxOldGenerationSizeMb !== undefined) kept.push(`--max-old-space-size=${maxOldGenerationSizeMb}`);
  return kept;
}
