/**
 * The Node.js options that put a process under the permission model, spelled the way
 * the running Node.js spells them. The agent runs on the node's own binary
 * (`process.execPath`), so the node's list of options is the agent's.
 *
 * - `--permission` from Node.js 22.13 / 23.5; `--experimental-permission` before
 *   (Node.js 20), where every start also prints an ExperimentalWarning — silenced
 *   (with the other warnings about flags the sandbox sets), or a line server would
 *   print one per connection.
 * - Everything not granted is denied: file reads and writes, child processes, worker
 *   threads, native addons (`--allow-addons`, from Node.js 20.x late releases and 22),
 *   WASI, and from Node.js 25 the network (`--allow-net`).
 * - One `--allow-fs-read=` / `--allow-fs-write=` per path: Node.js 20 also split a
 *   single value at commas, later releases do not, so one path per option reads the
 *   same on every release. A directory grants everything beneath it.
 */
import { invalidOption } from '../invalid-option.ts';

/** What to grant; everything else stays denied. */
export interface PermissionGrant {
  read: readonly string[];
  write: readonly string[];
  childProcess: boolean;
  /** Worker threads (`sandbox.allowWorker`; agent-ipc's watchdog thread then runs too). */
  worker: boolean;
  addons: boolean;
  /** The network, where Node.js restricts it (25+). */
  net: boolean;
}

function supported(option: string): boolean {
  return process.allowedNodeEnvironmentFlags.has(option);
}

/** The option turning the permission model on, on this Node.js. */
export function permissionOption(): string | undefined {
  if (supported('--permission')) return '--permission';
  if (supported('--experimental-permission')) return '--experimental-permission';
  return undefined;
}

/** The options that grant exactly `grant` and deny the rest. */
export function permissionFlags(grant: PermissionGrant): string[] {
  const enable = permissionOption();
  if (enable === undefined) throw invalidOption('sandbox', `unset on Node.js ${process.versions.node}, which has no permission model`, true);
  const flags = [enable];
  // Warnings Node prints at every start of the agent and of each of its threads, about
  // flags the sandbox itself sets: noise, one per agent (a line server's per connection).
  // The SecurityWarning printed for a grant of workers, processes or addons is not one
  // of them: agent-ipc grants none of these on its own account, so it is shown only
  // for what the node granted on purpose.
  const quiet = new Set<string>();
  if (enable === '--experimental-permission') quiet.add('ExperimentalWarning');
  for (const file of grant.read) flags.push(`--allow-fs-read=${file}`);
  for (const file of grant.write) flags.push(`--allow-fs-write=${file}`);
  if (grant.childProcess) flags.push('--allow-child-process');
  if (grant.worker) flags.push('--allow-worker');
  if (grant.addons) {
    if (!supported('--allow-addons')) throw invalidOption('sandbox.allowAddons', `false on Node.js ${process.versions.node} (no --allow-addons: addons cannot load under its permission model)`, true);
    flags.push('--allow-addons');
  }
  // Below Node.js 25 there is no network permission: the network is open either way.
  // Where there is one, --allow-net is still experimental (and says so).
  if (grant.net && supported('--allow-net')) {
    flags.push('--allow-net');
    quiet.add('ExperimentalWarning');
  }
  if (supported('--disable-warning')) for (const warning of quiet) flags.push(`--disable-warning=${warning}`);
  return flags;
}
