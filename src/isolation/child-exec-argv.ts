/**
 * The Node.js options a process agent starts with: the node's own (`--import=tsx`,
 * `--conditions`, `--enable-source-maps`, … so an agent loads modules the way the
 * node does) minus those that must not be repeated in a second process, plus the
 * agent's memory cap. A sandboxed agent gets the permission options of its sandbox
 * instead of the node's, and none of the node's preloads (see `sandbox-launch.ts`).
 */

/** Options that take the next argument as their value when not written `--opt=value`. */
const WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--input-type', '--watch-path', '--env-file', '--env-file-if-exists', '--allow-fs-read', '--allow-fs-write']);

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

/**
 * Options a sandboxed agent does not get from the node: code that runs before the
 * agent's module (`--import tsx`, `--require dotenv/config`, loaders, …: the node's
 * tooling, which would need more than the agent may have, or hand it what it should
 * not have), variables read from files (`--env-file`), access to Node's internals, and
 * the node's own permission options (the sandbox sets the agent's).
 */
function droppedFromSandbox(option: string): boolean {
  const name = option.split('=')[0]!;
  return (
    ['-r', '--require', '--import', '--loader', '--experimental-loader', '--env-file', '--env-file-if-exists', '--expose-internals', '--permission', '--experimental-permission'].includes(name) ||
    name.startsWith('--allow-')
  );
}

/**
 * The node's `execArgv` as a process agent should get it, with an optional heap cap in
 * MiB, and for a sandboxed agent its permission options (appended, after the node's
 * own were dropped).
 */
export function childExecArgv(execArgv: readonly string[], maxOldGenerationSizeMb: number | undefined, sandboxFlags?: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const option = execArgv[i]!;
    const takesNext = WITH_VALUE.has(option) && i + 1 < execArgv.length;
    if (dropped(option) || (sandboxFlags !== undefined && droppedFromSandbox(option))) {
      if (takesNext) i++;
      continue;
    }
    kept.push(option);
    if (takesNext) kept.push(execArgv[++i]!);
  }
  if (maxOldGenerationSizeMb !== undefined) kept.push(`--max-old-space-size=${maxOldGenerationSizeMb}`);
  if (sandboxFlags !== undefined) kept.push(...sandboxFlags);
  return kept;
}
