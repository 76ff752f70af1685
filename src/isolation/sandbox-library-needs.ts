/**
 * What agent-ipc's own code in a sandboxed agent needs, beyond what the agent's module
 * needs: its files and dependencies (pino), a JavaScript bootstrap, and on Node.js 25+
 * the network. Not worker threads: a sandboxed agent gets agent-ipc's watchdog thread
 * only when it is granted threads of its own.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidOption } from '../invalid-option.ts';
import type { ResolvedSandbox } from './sandbox-options.ts';
import { dependencyDirs, packageRoot, realpath } from './sandbox-read-paths.ts';

/**
 * Whether a process agent's bootstrap starts its watchdog thread (`process-watchdog.ts`,
 * which ends the agent when the node is gone and the agent's main thread is too busy to
 * notice): yes for an unsandboxed agent and for one sandboxed with `allowWorker`. An
 * agent sandboxed without it may not start a thread, and the permission model cannot
 * grant one to agent-ipc while denying one to the agent's code; so it gets no thread and
 * no `--allow-worker`, and the node's warden process (`process-warden.ts`) ends it
 * instead.
 */
export function startsWatchdogThread(sandbox: ResolvedSandbox | undefined): boolean {
  return sandbox === undefined || sandbox.allowWorker;
}

/**
 * Whether the agent's streams to the node need the network permission: the bootstrap
 * opens fd 3 (and handed-off sockets; a watchdog, fd 5) as `net.Socket`s, which
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
