/**
 * What agent-ipc's own code in a sandboxed agent needs, beyond what the agent's module
 * needs: its files and dependencies (pino), a JavaScript bootstrap, worker threads
 * (the process bootstrap starts a watchdog thread), and on Node.js 25+ the network.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidOption } from '../invalid-option.ts';
import { dependencyDirs, packageRoot, realpath } from './sandbox-read-paths.ts';

/**
 * Whether `process-bootstrap` starts a worker thread of its own (its watchdog,
 * `process-watchdog.ts`, which ends the agent when the node is gone and the agent's
 * main thread is too busy to notice). The one place that grants a sandboxed agent
 * `--allow-worker` on the library's account: the permission model cannot grant a thread
 * to the library and deny one to the agent's code at start-up. Where Node.js can take a
 * permission back at run time (`process.permission.drop`, Node.js 24 and later), the
 * bootstrap drops it once the watchdog runs, before the agent's module loads (see
 * {@link dropsLibraryWorker}); on earlier releases a sandboxed agent can start worker
 * threads (which run under the same permissions). Set it to false when the bootstrap no
 * longer starts a thread; the sandbox tests check which way it is.
 */
export const BOOTSTRAP_STARTS_WORKER = true;

/**
 * Whether the agent's bootstrap should drop the worker permission after starting its
 * watchdog: it was granted on the library's account alone (the agent did not ask for
 * `allowWorker`).
 */
export function dropsLibraryWorker(allowWorker: boolean): boolean {
  return BOOTSTRAP_STARTS_WORKER && !allowWorker;
}

/**
 * Whether the agent's streams to the node need the network permission: the bootstrap
 * and its watchdog open fds 3 and 5 (and handed-off sockets) as `net.Socket`s, which
 * Node.js 25+ checks as network use (`ERR_ACCESS_DENIED`, permission `Net`, without
 * `--allow-net`). So on those releases a sandboxed agent has the network, as it has on
 * every earlier one, which has no network permission at all.
 */
export const STREAMS_NEED_NET = process.allowedNodeEnvironmentFlags.has('--allow-net');

/**
 * The bootstrap a sandboxed agent starts from. It gets no TypeScript loader (see
 * `checkSandboxEntry`), so when agent-ipc itself runs from its TypeScript sources (its
 * own tests and examples), the agent starts from the built bootstrap beside them.
 */
export function sandboxBootstrap(bootstrap: URL): URL {
  if (!bootstrap.pathname.endsWith('.ts')) return bootstrap;
  const built = new URL('../../dist/process-bootstrap.js', bootstrap);
  if (!existsSync(built)) {
    throw invalidOption('sandbox', `unset while agent-ipc runs from its sources without a build (a sandboxed agent starts from ${fileURLToPath(built)}, which is missing)`, true);
  }
  return built;
}

/**
 * What the library's files in the agent read: the directory of its bootstrap (its
 * built files, or its sources), its `package.json` (Node reads a package's module type
 * there) and its dependencies — not the rest of its package, which in a checkout of
 * agent-ipc is the whole repository.
 */
export function libraryReadPaths(bootstrap: URL): string[] {
  const dir = path.dirname(fileURLToPath(bootstrap));
  const root = packageRoot(dir);
  if (root === undefined) return [dir, realpath(dir)];
  return [dir, realpath(dir), path.join(root, 'package.json'), ...dependencyDirs(root)];
}
