/**
 * The `sandbox` option of process agents, and its validation. A sandboxed agent runs
 * under Node.js's permission model with everything denied that the agent's own code
 * does not need; each field of {@link SandboxOptions} widens one thing.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidOption } from '../invalid-option.ts';
import type { Isolation } from '../types.ts';

/**
 * What a sandboxed process agent may do beyond the default. By default it may read
 * only its own module's package (the nearest directory with a `package.json` above the
 * entry) and that package's dependencies, plus agent-ipc's own files; it may not write
 * files, start processes or worker threads, or load native addons; and its
 * environment is empty. Not restricted: the network (see the threat model in the docs
 * for what the sandbox stops and what it does not).
 */
export interface SandboxOptions {
  /**
   * More files or directories the agent may read (a directory with all beneath it).
   * Paths or `file:` URLs; relative paths are taken from the node's working directory.
   */
  allowRead?: ReadonlyArray<string | URL>;
  /** Files or directories the agent may write (none by default). As `allowRead`. */
  allowWrite?: ReadonlyArray<string | URL>;
  /**
   * Let the agent start processes. A process it starts is *not* sandboxed: this
   * gives up the containment of everything but the agent's own Node.js. Default `false`.
   */
  allowChildProcess?: boolean;
  /**
   * Let the agent start worker threads (they run under the same permissions). Default
   * `false`. With it, the agent also gets agent-ipc's watchdog thread, as an unsandboxed
   * agent does; without it, the node's warden process stands in for that thread.
   */
  allowWorker?: boolean;
  /**
   * Let the agent load native addons. Native code is outside the permission model:
   * an addon can do anything the OS user can. Default `false`.
   */
  allowAddons?: boolean;
  /**
   * The agent's whole environment (`process.env`). Default: empty — none of the node's
   * variables are passed on. `NODE_OPTIONS` is refused: the sandbox sets the agent's
   * Node.js options.
   */
  env?: Readonly<Record<string, string>>;
}

/** A `sandbox` option after validation: paths absolute, every field filled in. */
export interface ResolvedSandbox {
  allowRead: string[];
  allowWrite: string[];
  allowChildProcess: boolean;
  allowWorker: boolean;
  allowAddons: boolean;
  env: Record<string, string>;
}

const FIELDS = ['allowRead', 'allowWrite', 'allowChildProcess', 'allowWorker', 'allowAddons', 'env'] as const;

/** File name endings of modules Node.js runs only as TypeScript. */
const TYPESCRIPT = /\.[cm]?ts$/;

function paths(option: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidOption(option, 'an array of paths or file: URLs', value);
  return value.map((item: unknown, i) => {
    if (item instanceof URL) {
      if (item.protocol !== 'file:') throw invalidOption(`${option}[${i}]`, 'a path or a file: URL', item.href);
      return fileURLToPath(item);
    }
    // A NUL would cut the path short where the OS reads it.
    if (typeof item !== 'string' || item.length === 0 || item.includes('\0')) throw invalidOption(`${option}[${i}]`, 'a non-empty path without NUL characters', item);
    return path.resolve(item.startsWith('file:') ? fileURLToPath(item) : item);
  });
}

function flag(option: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidOption(option, 'a boolean', value);
  return value;
}

function environment(value: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  if (value === undefined) return env;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidOption('sandbox.env', 'an object of strings', value);
  for (const [key, item] of Object.entries(value)) {
    if (key.length === 0 || key.includes('=') || key.includes('\0')) throw invalidOption('sandbox.env', "an object whose keys are variable names (no '=' or NUL)", key);
    if (key.toUpperCase() === 'NODE_OPTIONS') throw invalidOption(`sandbox.env.${key}`, "unset (the sandbox sets the agent's Node.js options)", item);
    if (typeof item !== 'string' || item.includes('\0')) throw invalidOption(`sandbox.env.${key}`, 'a string without NUL characters', item);
    env[key] = item;
  }
  return env;
}

/**
 * Validates `sandbox`: `undefined` or `false` is no sandbox, `true` the default one,
 * an object a widened one. Only a process can be sandboxed.
 */
export function resolveSandbox(value: unknown, isolation: Isolation): ResolvedSandbox | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (value === null || typeof value !== 'object' || Array.isArray(value))) throw invalidOption('sandbox', 'a boolean or an object of SandboxOptions', value);
  // Node's permission model applies to a whole process: a worker thread or an inline
  // agent shares the node's, and nothing can deny it what the node may do.
  if (isolation !== 'process') {
    throw invalidOption('sandbox', `unset or false under isolation '${isolation}' (a thread or inline agent shares the node's process and its permissions; only isolation 'process' can be sandboxed)`, value);
  }
  const o = (value === true ? {} : value) as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw invalidOption(`sandbox.${key}`, `one of ${FIELDS.join(', ')}`, key);
  }
  return {
    allowRead: paths('sandbox.allowRead', o.allowRead),
    allowWrite: paths('sandbox.allowWrite', o.allowWrite),
    allowChildProcess: flag('sandbox.allowChildProcess', o.allowChildProcess),
    allowWorker: flag('sandbox.allowWorker', o.allowWorker),
    allowAddons: flag('sandbox.allowAddons', o.allowAddons),
    env: environment(o.env),
  };
}

/**
 * A sandboxed agent gets none of the node's module loaders (they need more than the
 * agent may have: tsx runs esbuild as a child process, from a worker, with a cache it
 * writes). So its module must be JavaScript, unless this Node.js strips types itself.
 */
export function checkSandboxEntry(entry: string): void {
  const file = entry.startsWith('file:') ? fileURLToPath(entry) : entry;
  const strips = (process.features as { typescript?: unknown }).typescript;
  if (TYPESCRIPT.test(file) && !strips) {
    throw invalidOption(
      'sandbox',
      `unset for a TypeScript agent module on Node.js ${process.versions.node} (a sandboxed agent gets no loader such as tsx, which needs child processes, workers and a writable cache; build the agent to JavaScript)`,
      true,
    );
  }
}
