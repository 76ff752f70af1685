/**
 * TypeScript agents in worker threads. On Node 20, tsx registers its loader hooks on
 * the main thread only, and workers do not inherit them, so a worker could not load a
 * `.ts` agent even though the node itself runs under `--import tsx`. When the node runs
 * under tsx on such a Node, a thread agent starts from a tiny preamble that registers
 * tsx through its API inside the worker, then loads the real bootstrap.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Node majors whose workers do not get the node's tsx hooks. */
const NEEDS_PREAMBLE = Number(process.versions.node.split('.')[0]) < 22;

const PREAMBLE = [
  "import { workerData } from 'node:worker_threads';",
  'const { register } = await import(workerData.preload.loader);',
  'register();',
  'await import(workerData.preload.bootstrap);',
].join('\n');

/** What a worker must load first, if anything: the tsx API module as a `file:` URL. */
function tsxLoaderUrl(): string | undefined {
  if (!NEEDS_PREAMBLE) return undefined;
  const underTsx = process.execArgv.some((arg) => /(^|[=\s/])tsx(\/|$|\s|\b)/.test(arg)) || process.argv.some((arg) => /[/\\]tsx[/\\]dist[/\\]cli/.test(arg));
  if (!underTsx) return undefined;
  try {
    // The ESM build of tsx's API, found through tsx's own exports map (require.resolve
    // would pick the CJS build, whose register() cannot run in a worker).
    const manifestPath = createRequire(pathToFileURL(process.cwd() + '/').href).resolve('tsx/package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> };
    const target = manifest.exports?.['./esm/api']?.import?.default;
    return target ? new URL(target, pathToFileURL(manifestPath)).href : undefined;
  } catch {
    return undefined;
  }
}

/** The script a worker starts from, and what it must be told to preload. */
export function workerEntry(bootstrap: URL): { url: URL; preload?: { loader: string; bootstrap: string } } {
  const loader = tsxLoaderUrl();
  if (!loader) return { url: bootstrap };
  return {
    url: new URL(`data:text/javascript,${encodeURIComponent(PREAMBLE)}`),
    preload: { loader, bootstrap: bootstrap.href },
  };
}
