/**
 * The full node as a deployment runs it: compiled JavaScript on a plain `node`, using
 * agent-ipc from its built package (dist/), not TypeScript under tsx. The demo and the
 * benchmark start their nodes from this build, every P2P mode alike.
 *
 * Why it matters for the figures: under tsx on Node.js 20 every agent thread registers
 * tsx's loader itself (workers do not inherit it) and compiles the agent's modules, which
 * adds ~150 ms to each agent's start — time a deployed node never spends, and which a
 * node that starts an agent per peer connection would pay inside its sync.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * Inside the repository (gitignored), not under node_modules: from here the bundle's
 * imports of `agent-ipc`, `agent-ipc/lines`, … resolve through Node's self-reference of
 * the package by its name (the repository's package.json `exports`, i.e. dist/), exactly
 * as they would in a project that installed the package. Under node_modules/ Node does
 * not look for the package's own name.
 */
const outDir = path.join(root, '.cache/agent-ipc-fullnode');

/** The built entries the bundle imports (through the package's `exports`): they must exist. */
const LIBRARY_ENTRIES = ['index', 'agent', 'lines', 'lines-agent', 'connection'].map((name) => path.join(root, `dist/${name}.js`));

let building: Promise<string> | undefined;

/** Builds the node once per process; resolves to the path of its `main.js`. */
export function builtFullNode(): Promise<string> {
  building ??= buildOnce();
  return building;
}

async function buildOnce(): Promise<string> {
  for (const file of LIBRARY_ENTRIES) {
    try {
      statSync(file);
    } catch {
      throw new Error(`${file} is missing: build the library first (npm run build)`);
    }
  }
  await build({
    config: false,
    silent: true,
    entry: { main: path.join(root, 'examples/fullnode/main.ts'), 'p2p/peer-protocol': path.join(root, 'examples/fullnode/p2p/peer-protocol.ts') },
    outDir,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    clean: true,
    dts: false,
    sourcemap: false,
    // The node and its agent share code through chunks, as separate entry points must.
    splitting: true,
    // npm packages (lmdb with its native binding, pino) load from node_modules as usual.
    skipNodeModulesBundle: true,
    esbuildOptions(options) {
      options.outExtension = { '.js': '.js' };
    },
    // The library stays external: its imports are by package name, and the bundle runs
    // beside the repository's package.json (see outDir).
    external: [/^agent-ipc(\/|$)/],
  });
  return path.join(outDir, 'main.js');
}
