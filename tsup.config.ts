import { defineConfig } from 'tsup';

// Two builds: the public entries ship as ESM + CJS with types; the bootstraps that a
// worker thread or child process starts from are ESM only, because they must be able to
// `import()` an agent module of either format (esbuild turns `import()` into `require()`
// in CJS output, which cannot load ESM agents). A process agent starts from
// process-bootstrap, which starts its watchdog thread from process-watchdog; the node's
// warden process (for agents sandboxed without worker threads) runs process-warden.
export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      agent: 'src/agent.ts',
      lines: 'src/lines/index.ts',
      'lines-agent': 'src/lines/agent/index.ts',
      connection: 'src/connection-layer.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    shims: true,
    splitting: false,
  },
  {
    entry: {
      'thread-bootstrap': 'src/isolation/thread-bootstrap.ts',
      'process-bootstrap': 'src/isolation/process-bootstrap.ts',
      'process-watchdog': 'src/isolation/process-watchdog.ts',
      'process-warden': 'src/isolation/process-warden.ts',
    },
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: true,
    target: 'node20',
    splitting: false,
  },
]);
