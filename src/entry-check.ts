/**
 * The node's side of a missing agent module. Checked before anything is started: a
 * thread or process started only to fail on `import()` costs tens of milliseconds, and
 * Node.js's error then names the library's bootstrap as the importer ("Cannot find module
 * '…' imported from …/dist/thread-bootstrap.js"), not what the caller passed. When the
 * check lets an entry through and the agent's import still does not find it (a loader
 * such as tsx that maps `agent.js` to `agent.ts` did not, the file went away meanwhile),
 * the agent's report is turned into the same error ({@link entryNotFound}).
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentModuleNotFoundError } from './errors.ts';

/** The entry of an agent: as the caller passed it, and as the `file:` URL the agent imports. */
export interface AgentEntry {
  /** A path, or a `file:` URL's `href`, as passed. */
  given: string;
  /** The `file:` URL the agent imports (`resolveEntry`). */
  url: string;
}

/**
 * The TypeScript files a loader (tsx) would load for an entry named with the JavaScript
 * extension it compiles to: `agent.js` is `agent.ts` until it is built.
 */
const TYPESCRIPT_SOURCES: Readonly<Record<string, readonly string[]>> = {
  '.js': ['.ts', '.tsx'],
  '.jsx': ['.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
};

/** The absolute path of a `file:` URL, or `undefined` if it has none (then the loader reports it). */
function pathOf(url: string): string | undefined {
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

/**
 * Throws {@link AgentModuleNotFoundError} if the entry's file plainly does not exist:
 * neither it nor a TypeScript source a loader could map it to. An entry without an
 * extension is left to the agent's loader (tsx resolves `./agent` to `./agent.ts`), and
 * so is one this process may not read under Node.js's permission model (it cannot tell).
 */
export function checkEntryExists(entry: AgentEntry): void {
  const path = pathOf(entry.url);
  if (path === undefined || existsSync(path)) return;
  const ext = extname(path);
  if (ext === '') return;
  const permission = (process as { permission?: { has(scope: string, reference?: string): boolean } }).permission;
  if (permission && !permission.has('fs.read', path)) return;
  const stem = path.slice(0, -ext.length);
  if ((TYPESCRIPT_SOURCES[ext] ?? []).some((source) => existsSync(stem + source))) return;
  throw new AgentModuleNotFoundError(entry.given, path);
}

/**
 * The error a start-up failure reported by the agent becomes: {@link AgentModuleNotFoundError}
 * if it is Node.js's "module not found" for the entry itself (not for a module the entry
 * imports, whose error names the importing file already), else `undefined`.
 */
export function entryNotFound(error: Error, entry: AgentEntry): AgentModuleNotFoundError | undefined {
  const { code, url } = error as Error & { code?: unknown; url?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  const path = pathOf(entry.url);
  if (path === undefined) return undefined;
  // Node.js puts the missing module's URL on its error; a loader's own error may only name it.
  if (url !== entry.url && !error.message.includes(`'${path}'`)) return undefined;
  return new AgentModuleNotFoundError(entry.given, path, { cause: error });
}
