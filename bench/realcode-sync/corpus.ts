/**
 * The real workload of the sync-main-prettier suite: prettier 3's `format` over a few
 * hundred real source files, the way an ESLint rule or a build-tool plugin calls it.
 *
 * The files are whatever this checkout has installed, so the bench needs no network and
 * no fixtures of its own: JavaScript from ESLint's own sources and TypeScript
 * declarations from typescript-eslint's packages. The list is deterministic for a given
 * package-lock.json (sorted paths, a size cap, a count cap), and every file is read once,
 * before any timing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options } from 'prettier';

/** The repository root (this file is bench/realcode-sync/corpus.ts). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One file to format: where it came from (prettier infers the parser from it) and its text. */
export interface SourceFile {
  /** Repository-relative path, also prettier's `filepath`. */
  file: string;
  source: string;
}

interface Pick {
  /** Directories searched, repository-relative; every match under them, sorted. */
  roots: string[];
  suffix: string;
  maxFiles: number;
}

/**
 * Small and mid-size files: a rule formats one file per call, and most files in a
 * codebase are a few KB. Larger ones would only make prettier's own time dominate more.
 */
const MAX_BYTES = 6_000;

const PICKS: Pick[] = [
  { roots: ['node_modules/eslint/lib'], suffix: '.js', maxFiles: 220 },
  {
    roots: ['node_modules/@typescript-eslint/types/dist', 'node_modules/@typescript-eslint/utils/dist', 'node_modules/@typescript-eslint/scope-manager/dist'],
    suffix: '.d.ts',
    maxFiles: 80,
  },
];

/**
 * The formatting options every runner passes with each file: fixed, plain data (so
 * every bridge can clone them), the parser inferred from `filepath`.
 */
export function formatOptions(file: string): Options {
  return { filepath: file, printWidth: 100, singleQuote: true, trailingComma: 'all' };
}

function walk(dir: string, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const full = path.join(dir, name);
    const stat = statSync(full);
    if (stat.isDirectory()) walk(full, out);
    else out.push(full);
  }
}

/** The corpus: at most `limit` files (default all picked, about 300), read into memory. */
export function loadCorpus(limit = Infinity): SourceFile[] {
  const files: SourceFile[] = [];
  for (const pick of PICKS) {
    const found: string[] = [];
    for (const root of pick.roots) walk(path.join(ROOT, root), found);
    const chosen = found
      .filter((f) => f.endsWith(pick.suffix) && statSync(f).size <= MAX_BYTES)
      .map((f) => path.relative(ROOT, f).split(path.sep).join('/'))
      .sort()
      .slice(0, pick.maxFiles);
    for (const file of chosen) files.push({ file, source: readFileSync(path.join(ROOT, file), 'utf8') });
  }
  if (files.length === 0) throw new Error('sync-main-prettier: no source files found under node_modules (run npm install)');
  return files.slice(0, limit);
}
