/**
 * The runners of the sync-main-prettier suite. Each formats one file per call; all but
 * the first do it from synchronous code on the main thread, the formatting itself
 * running in a worker thread:
 *
 * - `direct`: `await prettier.format(...)` on the main thread (the reference: its output
 *   is what every other runner must produce, its time what the bridges add to);
 * - `agent-ipc`: `spawnAgentSync` + `agent.blocking.format(source, options)`;
 * - `synckit`: `createSyncFn` (what eslint-plugin-prettier uses);
 * - `make-synchronized`: the prettier module made synchronous (what `@prettier/sync` does);
 * - `sync-message-port`: a request and `receiveMessage()` on a SyncMessagePort pair.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as prettier from 'prettier';
import { createSyncFn } from 'synckit';
import { makeSynchronized } from 'make-synchronized';
import { SyncMessagePort } from 'sync-message-port';
import type { Fixture } from '../harness/fixture.ts';
import { loadAgentIpc } from '../subjects/agent-ipc.ts';
import type { Agent } from '../../src/index.ts';
import type PrettierAgent from './prettier-agent.ts';

/** A contender, started once per suite run. */
export type PrettierRunner = Fixture &
  ({ kind: 'sync'; format(source: string, options: prettier.Options): string } | { kind: 'async'; format(source: string, options: prettier.Options): Promise<string> });

/** Generous: a loaded 2-core machine formats a file in well under a second. */
const CALL_TIMEOUT_MS = 60_000;

export function directRunner(): PrettierRunner {
  return {
    name: 'direct',
    kind: 'async',
    async start() {},
    format: (source, options) => prettier.format(source, options),
    async stop() {},
  };
}

export function agentIpcRunner(): PrettierRunner {
  let agent: Agent<typeof PrettierAgent> | undefined;
  return {
    name: 'agent-ipc',
    kind: 'sync',
    async start() {
      const { spawnAgentSync } = await loadAgentIpc();
      agent = spawnAgentSync<typeof PrettierAgent>(new URL('./prettier-agent.ts', import.meta.url), { name: 'bench-prettier', timeoutMs: CALL_TIMEOUT_MS });
    },
    format(source, options) {
      if (agent === undefined) throw new Error('agent-ipc: not started');
      return agent.blocking.format(source, options);
    },
    async stop() {
      await agent?.close();
      agent = undefined;
    },
  };
}

type SynckitRequest = { op: 'format'; source: string; options: prettier.Options } | { op: 'exit' };

export function synckitRunner(): PrettierRunner {
  let fn: ((request: SynckitRequest) => string) | undefined;
  return {
    name: 'synckit',
    kind: 'sync',
    async start() {
      const worker = fileURLToPath(new URL('./synckit-prettier.worker.mjs', import.meta.url));
      // execArgv: none of the bench's own (--import=tsx): the worker is plain JavaScript.
      fn = createSyncFn<(request: SynckitRequest) => Promise<string>>(worker, { execArgv: [], timeout: CALL_TIMEOUT_MS });
    },
    format(source, options) {
      if (fn === undefined) throw new Error('synckit: not started');
      return fn({ op: 'format', source, options });
    },
    async stop() {
      fn?.({ op: 'exit' });
      fn = undefined;
    },
  };
}

export function makeSynchronizedRunner(): PrettierRunner {
  let format: ((source: string, options: prettier.Options) => string) | undefined;
  return {
    name: 'make-synchronized',
    kind: 'sync',
    async start() {
      // The whole module made synchronous, as @prettier/sync does.
      const synchronized = makeSynchronized(import.meta.resolve('prettier')) as unknown as { format(source: string, options: prettier.Options): string };
      format = (source, options) => synchronized.format(source, options);
    },
    format(source, options) {
      if (format === undefined) throw new Error('make-synchronized: not started');
      return format(source, options);
    },
    async stop() {
      // make-synchronized unrefs its worker and offers no way to stop it; it ends with the process.
      format = undefined;
    },
  };
}

type PortAnswer = { ok: true; value: string } | { ok: false; message: string };

export function syncMessagePortRunner(): PrettierRunner {
  let worker: Worker | undefined;
  let port: SyncMessagePort | undefined;
  return {
    name: 'sync-message-port',
    kind: 'sync',
    async start() {
      const channel = SyncMessagePort.createChannel();
      worker = new Worker(
        `const { workerData } = require('node:worker_threads');
         const { SyncMessagePort } = require(workerData.portModule);
         const port = new SyncMessagePort(workerData.port);
         const prettier = import(workerData.prettier);
         port.on('message', async (m) => {
           if (m === 'exit') { port.close(); return; }
           try { port.postMessage({ ok: true, value: await (await prettier).format(m.source, m.options) }); }
           catch (error) { port.postMessage({ ok: false, message: String(error && error.stack || error) }); }
         });`,
        {
          eval: true,
          workerData: {
            port: channel.port2,
            portModule: fileURLToPath(import.meta.resolve('sync-message-port')),
            prettier: import.meta.resolve('prettier'),
          },
          transferList: [channel.port2],
          execArgv: [],
        },
      );
      port = new SyncMessagePort(channel.port1);
    },
    format(source, options) {
      if (port === undefined) throw new Error('sync-message-port: not started');
      port.postMessage({ source, options });
      const answer = port.receiveMessage({ timeout: CALL_TIMEOUT_MS }) as PortAnswer;
      if (!answer.ok) throw new Error(`sync-message-port worker: ${answer.message}`);
      return answer.value;
    },
    async stop() {
      port?.postMessage('exit');
      await worker?.terminate();
      port?.close();
    },
  };
}

/** Every runner, the reference first. */
export function allRunners(): PrettierRunner[] {
  return [directRunner(), agentIpcRunner(), synckitRunner(), makeSynchronizedRunner(), syncMessagePortRunner()];
}

