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
const outDir = path.join(root, 'node_modules/.cache/agent-ipc-fullnode');

/**
 * The library's public entries, as the example imports them (by package name), mapped to
 * dist/. The bundle lives under node_modules/.cache, from where Node's self-reference of
 * the package by its name does not reach the project's package.json, hence absolute paths.
 */
const LIBRARY_ENTRIES: Record<string, string> = {
  'agent-ipc': path.join(root, 'dist/index.js'),
  'agent-ipc/agent': path.join(root, 'dist/agent.js'),
  'agent-ipc/lines': path.join(root, 'dist/lines.js'),
  'agent-ipc/lines/agent': path.join(root, 'dist/lines-agent.js'),
  'agent-ipc/connection': path.join(root, 'dist/connection.js'),
};

let building: Promise<string> | undefined;

/** Builds the node once per process; resolves to the path of its `main.js`. */
export function builtFullNode(): Promise<string> {
  building ??= buildOnce();
  return building;
}

async function buildOnce(): Promise<string> {
  for (const file of Object.values(LIBRARY_ENTRIES)) {
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
    esbuildPlugins: [
      {
        name: 'agent-ipc-from-dist',
        setup(esbuild) {
          esbuild.onResolve({ filter: /^agent-ipc(\/|$)/ }, (args) => {
            const target = LIBRARY_ENTRIES[args.path];
            return target ? { path: target, external: true } : undefined;
          });
        },
      },
    ],
  });
  return path.join(outDir, 'main.js');
}
