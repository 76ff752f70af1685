// Test files are TypeScript run through tsx. ava's worker-thread mode does not pass
// --import=tsx on, so each test file runs in its own child process instead — which is
// also the right isolation for tests that spawn worker threads and child processes.
export default {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '120s',
  concurrency: 2,
};
