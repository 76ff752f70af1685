/**
 * How a sandboxed process agent starts: from which bootstrap, under which permission
 * options, with which environment. What it may read is its module's package and that
 * package's dependencies (`sandbox-read-paths.ts`), what agent-ipc's own code needs
 * (`sandbox-library-needs.ts`), and whatever `sandbox.allowRead` adds.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { libraryReadPaths, sandboxBootstrap, STREAMS_NEED_NET } from './sandbox-library-needs.ts';
import { sandboxEnv } from './sandbox-env.ts';
import { checkSandboxEntry, type ResolvedSandbox } from './sandbox-options.ts';
import { permissionFlags } from './sandbox-permission-flags.ts';
import { coveringPaths, packageAndDependencies, packageRoot, realpath } from './sandbox-read-paths.ts';

/** A sandboxed agent's start: its bootstrap, the Node.js options to add, its environment. */
export interface SandboxLaunch {
  bootstrap: URL;
  flags: string[];
  env: Record<string, string>;
}

/** Given paths and, for those that are symlinks, the paths they lead to (Node checks the path it is given, then opens the real one). */
function withRealPaths(paths: readonly string[]): string[] {
  return paths.flatMap((item) => [item, realpath(item)]);
}

/** Plans the start of the agent module `entry` (a `file:` URL) under `sandbox`. */
export function sandboxLaunch(entry: string, sandbox: ResolvedSandbox, bootstrap: URL): SandboxLaunch {
  checkSandboxEntry(entry);
  const start = sandboxBootstrap(bootstrap);
  const entryFile = fileURLToPath(entry);
  // No package.json above it: the module's own directory is all it gets.
  const root = packageRoot(path.dirname(entryFile));
  const agentPaths = root === undefined ? [path.dirname(entryFile)] : packageAndDependencies(root);
  const read = coveringPaths(withRealPaths([entryFile, ...agentPaths, ...libraryReadPaths(start), ...sandbox.allowRead]));
  const write = coveringPaths(withRealPaths(sandbox.allowWrite));
  const flags = permissionFlags({
    read,
    write,
    childProcess: sandbox.allowChildProcess,
    worker: sandbox.allowWorker,
    addons: sandbox.allowAddons,
    net: STREAMS_NEED_NET,
  });
  return { bootstrap: start, flags, env: sandboxEnv(sandbox) };
}
