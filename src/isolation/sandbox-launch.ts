/**
 * How a sandboxed process agent starts: from which bootstrap, under which permission
 * options, with which environment. What it may read is its module's package and that
 * package's dependencies (`sandbox-read-paths.ts`), what agent-ipc's own code needs
 * (`sandbox-library-needs.ts`), and whatever `sandbox.allowRead` adds.
 */
import { readdirSync, readFileSync } from 'node:fs';
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

/** `O_CLOEXEC` in the octal `flags:` line of Linux's `/proc/self/fdinfo/<fd>`. */
const O_CLOEXEC = 0o2000000;

/** Descriptors found without close-on-exec at the first look (see {@link inheritedDescriptors}). */
let candidates: number[] | undefined;

function inheritable(fd: number): boolean {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
    return flags !== undefined && (Number.parseInt(flags, 8) & O_CLOEXEC) === 0;
  } catch {
    return false; // closed meanwhile
  }
}

/**
 * The node's descriptors from `from` on that a child process inherits: those without
 * close-on-exec. A child gets every such descriptor of its parent, not only its stdio —
 * and a sandboxed agent may read and write any descriptor it holds (the permission
 * model checks paths, not descriptors) — so its bootstrap closes these first.
 *
 * Node.js and libuv open every descriptor close-on-exec: those without are ones the node
 * inherited from its own parent (a supervisor, a shell redirection) and keeps open from
 * its start (Node.js marks only the lowest of them close-on-exec). So the whole table is
 * read once (on Linux; elsewhere none are known), and then only those found are checked
 * again: a node may have many sockets, and a line server starts an agent per connection.
 */
export function inheritedDescriptors(from: number): number[] {
  if (candidates === undefined) {
    try {
      candidates = readdirSync('/proc/self/fdinfo').map(Number).filter((fd) => Number.isInteger(fd) && inheritable(fd));
    } catch {
      candidates = [];
    }
  }
  return candidates.filter((fd) => fd >= from && inheritable(fd));
}
