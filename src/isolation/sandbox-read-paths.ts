/**
 * What a sandboxed agent may read by default: a module's package — the nearest
 * directory above it with a `package.json`, Node's own notion of a package scope — and
 * every package that one depends on, found the way Node finds them (the `node_modules`
 * directories of the package and of its ancestors), transitively.
 *
 * A package's own `node_modules` lies inside it already; the walk matters for
 * dependencies hoisted above it (npm, yarn and pnpm workspaces) and for symlinked ones
 * (pnpm's store), whose real paths are what Node reads when it loads them.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import * as path from 'node:path';

/** Per package root, the directories of its dependencies (computed once: a line server starts many agents). */
const cache = new Map<string, readonly string[]>();

/** The nearest directory at or above `dir` holding a `package.json`, or undefined. */
export function packageRoot(dir: string): string | undefined {
  for (let at = path.resolve(dir); ; ) {
    if (existsSync(path.join(at, 'package.json'))) return at;
    const up = path.dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}

/** Where `name` resolves as a package from inside `from`, as Node looks it up. */
function findPackage(name: string, from: string): string | undefined {
  for (let at = from; ; ) {
    if (path.basename(at) !== 'node_modules') {
      const candidate = path.join(at, 'node_modules', name);
      if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    }
    const up = path.dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}

/**
 * Whether `name` can be a package's name: `name` or `@scope/name`, no `.` or `..`
 * segment, no backslash. A manifest is the package author's to write, and a "dependency"
 * named `../../..` would otherwise grant the directory it leads to.
 */
function packageName(name: string): boolean {
  const parts = name.split('/');
  if (parts.length > 2 || (parts.length === 2 && !name.startsWith('@'))) return false;
  return parts.every((part) => part !== '' && part !== '.' && part !== '..' && part !== '@' && !part.includes('\\'));
}

/** The names a package needs at run time: its dependencies, optional and peer dependencies. */
function dependencyNames(root: string): string[] {
  try {
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    const names = new Set<string>();
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      const table = manifest[field];
      if (table !== null && typeof table === 'object') for (const name of Object.keys(table)) if (packageName(name)) names.add(name);
    }
    return [...names];
  } catch {
    // No readable manifest: a package without dependencies, as far as anyone can tell.
    return [];
  }
}

/** The real path of `dir`, or `dir` itself if it does not exist (yet). */
export function realpath(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/**
 * The directories of every package the package at `root` depends on, transitively:
 * as found and, where it differs, as their real paths.
 */
export function dependencyDirs(root: string): readonly string[] {
  const cached = cache.get(root);
  if (cached) return cached;
  const found = new Set<string>();
  const pending = [root];
  const visited = new Set<string>([realpath(root)]);
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const name of dependencyNames(dir)) {
      const at = findPackage(name, dir);
      if (at === undefined) continue; // an optional or peer dependency not installed
      const real = realpath(at);
      found.add(at);
      found.add(real);
      if (visited.has(real)) continue;
      visited.add(real);
      pending.push(real);
    }
  }
  const dirs = [...found];
  cache.set(root, dirs);
  return dirs;
}

/** The package at `root` and everything it depends on (as given and as real paths). */
export function packageAndDependencies(root: string): string[] {
  return [root, realpath(root), ...dependencyDirs(root)];
}

/**
 * The fewest paths that cover all of `paths`: a path inside another is dropped (the
 * permission model grants a directory with everything beneath it).
 */
export function coveringPaths(paths: Iterable<string>): string[] {
  // Shorter first, so that a directory is kept before anything beneath it.
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const candidate of sorted) {
    if (kept.some((dir) => candidate.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep))) continue;
    kept.push(candidate);
  }
  return kept;
}
