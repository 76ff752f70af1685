/**
 * How a sandboxed process agent starts: from which bootstrap, under which permission
 * options, with which environment. What it may read is its module's package and that
 * package's dependencies (`sandbox-read-paths.ts`), what agent-ipc's own code needs
 * (`sandbox-library-needs.ts`), and whatever `sandbox.allowRead` adds.
 */
import { close, open, read, readdirSync, readFileSync } from 'node:fs';
import { opendir, readFile } from 'node:fs/promises';
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

/**
 * How many `fdinfo` files the first look reads at once: enough to keep libuv's
 * threadpool (4 threads by default) busy, few enough to leave room there for the node's
 * own file system work and to hold only a few descriptors more than the node does.
 */
const SCAN_CONCURRENCY = 8;

/** How much of an `fdinfo` file the first look reads: its `pos:` and `flags:` lines take ~40 bytes. */
const FDINFO_START = 512;

/** How many names of the descriptor table the first look lists at once. */
const LIST_BATCH = 256;

/** Descriptors found without close-on-exec at the first look (see {@link inheritedDescriptors}). */
let candidates: number[] | undefined;

/** The first look, once started: every sandboxed start that comes before it ends waits for the same one. */
let scan: Promise<void> | undefined;

/** Whether the text of an `fdinfo` file says its descriptor is not close-on-exec. */
function withoutCloseOnExec(fdinfo: string): boolean {
  const flags = /^flags:\s*([0-7]+)$/m.exec(fdinfo)?.[1];
  return flags !== undefined && (Number.parseInt(flags, 8) & O_CLOEXEC) === 0;
}

function inheritable(fd: number): boolean {
  try {
    return withoutCloseOnExec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
  } catch {
    return false; // closed meanwhile
  }
}

/**
 * The start of `/proc/self/fdinfo/<fd>` (where its `flags:` line is, the second), read
 * into `buffer` on libuv's threadpool. Not `readFile`: for a file of no stated size it
 * reads 64 KiB buffers of its own, a churn of garbage for each descriptor of the table.
 */
function fdinfoStart(fd: number, buffer: Buffer): Promise<{ text: string; whole: boolean }> {
  return new Promise((resolve, reject) => {
    open(`/proc/self/fdinfo/${fd}`, 'r', (openError, file) => {
      if (openError) return reject(openError);
      read(file, buffer, 0, buffer.length, 0, (readError, bytes) => {
        close(file, () => (readError ? reject(readError) : resolve({ text: buffer.toString('latin1', 0, bytes), whole: bytes < buffer.length })));
      });
    });
  });
}

/**
 * {@link inheritable} without blocking. `undefined`: the node was out of descriptors
 * (the look's own reads hold some), to be asked again once the other reads are done.
 */
async function inheritableSoon(fd: number, buffer: Buffer): Promise<boolean | undefined> {
  try {
    const { text, whole } = await fdinfoStart(fd, buffer);
    // The flags line comes second, within the first ~40 bytes: the whole file is read only
    // should a start cut it off.
    const complete = whole || /^flags:[^\n]*\n/m.test(text);
    return withoutCloseOnExec(complete ? text : await readFile(`/proc/self/fdinfo/${fd}`, 'latin1'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? undefined : false; // otherwise closed meanwhile
  }
}

/** The whole table, read synchronously: for a start that did not await {@link scanInheritedDescriptors}. */
function scanSync(): number[] {
  try {
    return readdirSync('/proc/self/fdinfo').map(Number).filter((fd) => Number.isInteger(fd) && inheritable(fd));
  } catch {
    return []; // no /proc: none known
  }
}

/** The whole table, read a few files at a time on libuv's threadpool: the event loop turns between them. */
async function scanSoon(): Promise<number[]> {
  const fds: number[] = [];
  try {
    // Listed a batch of names at a time, not all at once: the listing too is the size of the table.
    for await (const entry of await opendir('/proc/self/fdinfo', { bufferSize: LIST_BATCH })) {
      const fd = Number(entry.name);
      if (Number.isInteger(fd)) fds.push(fd);
    }
  } catch {
    return []; // no /proc: none known
  }
  const found: number[] = [];
  const later: number[] = [];
  let next = 0;
  const reader = async (): Promise<void> => {
    const buffer = Buffer.alloc(FDINFO_START);
    while (next < fds.length) {
      const fd = fds[next++];
      const answer = await inheritableSoon(fd, buffer);
      if (answer === undefined) later.push(fd);
      else if (answer) found.push(fd);
    }
  };
  await Promise.all(Array.from({ length: SCAN_CONCURRENCY }, reader));
  // One at a time, as the synchronous look reads them: a node at its descriptor limit is
  // not to miss one only because this look held several at once.
  const buffer = Buffer.alloc(FDINFO_START);
  for (const fd of later) if ((await inheritableSoon(fd, buffer)) === true) found.push(fd);
  return found.sort((a, b) => a - b);
}

/**
 * Takes the first look at the node's descriptor table (see {@link inheritedDescriptors})
 * without blocking the event loop, once: to be awaited before a sandboxed process agent
 * is launched. Reading every descriptor's `fdinfo` costs ~18 µs each, synchronously
 * ~180 ms for a node with 10 000 sockets; here the reads run on libuv's threadpool and
 * the node's event loop turns between them. Never rejects.
 * @internal
 */
export function scanInheritedDescriptors(): Promise<void> {
  scan ??= scanSoon().then((found) => {
    // A start that could not wait may have read the table itself meanwhile: either look will do.
    candidates ??= found;
  });
  return scan;
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
 * That first look is {@link scanInheritedDescriptors}, which agent starts await; a start
 * that did not reads the table here, synchronously, rather than miss a descriptor.
 */
export function inheritedDescriptors(from: number): number[] {
  candidates ??= scanSync();
  return candidates.filter((fd) => fd >= from && inheritable(fd));
}
