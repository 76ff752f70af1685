/**
 * The three runners of the real-code table, each a fixture that compiles the Sass
 * workload once per `compile()`: agent-ipc (a thread agent, hooks served by the node
 * through `main.blocking`), a plain worker with direct access to the host's data, and
 * a plain worker reaching the node through sync-message-port.
 */
import * as sass from 'sass';
import { SyncMessagePort } from 'sync-message-port';
import type { Fixture } from '../harness/fixture.ts';
import { BenchWorker } from '../harness/worker.ts';
import { loadAgentIpc } from '../subjects/agent-ipc.ts';
import type SassCallerAgent from '../agents/sass-caller.ts';
import type { Agent } from '../../src/index.ts';
import { directHost, runSassJob, type SassRun } from './sass-job.ts';
import type { SassRequest, SassWorkerData, SassWorkerMode } from './sass.worker.ts';

export interface SassRunner extends Fixture {
  compile(): Promise<SassRun>;
}

/** The CSS hash every runner must produce: compiled once here, with direct access. */
export function referenceRun(): SassRun {
  return runSassJob(sass, directHost);
}

export function agentIpcSassRunner(): SassRunner {
  let agent: Agent<typeof SassCallerAgent> | undefined;
  let died: Promise<never> | undefined;
  return {
    name: 'agent-ipc',
    async start() {
      const { spawnAgent } = await loadAgentIpc();
      agent = await spawnAgent<typeof SassCallerAgent, typeof directHost>(new URL('../agents/sass-caller.ts', import.meta.url), {
        name: 'sass-caller',
        expose: directHost,
      });
      died = agent.exited.then((exit) => {
        throw new Error(`agent sass-caller exited: ${JSON.stringify(exit)}`);
      });
      died.catch(() => {});
    },
    compile() {
      if (agent === undefined) throw new Error('agent-ipc: not started');
      return Promise.race([agent.remote.compile(), died!]);
    },
    async stop() {
      await agent?.close();
      agent = undefined;
    },
  };
}

function workerRunner(mode: SassWorkerMode): SassRunner {
  let worker: BenchWorker | undefined;
  let local: SyncMessagePort | undefined;
  return {
    name: mode === 'direct' ? 'direct-worker' : mode,
    async start() {
      const url = new URL('./sass.worker.ts', import.meta.url);
      if (mode === 'sync-message-port') {
        const channel = SyncMessagePort.createChannel();
        const port = new SyncMessagePort(channel.port1);
        local = port;
        port.on('message', (r: SassRequest) => port.postMessage(r.op === 'token' ? directHost.token(r.name) : directHost.load(r.url)));
        const workerData: SassWorkerData = { mode, port: channel.port2 };
        worker = new BenchWorker(url, { workerData, transferList: [channel.port2] });
      } else {
        const workerData: SassWorkerData = { mode };
        worker = new BenchWorker(url, { workerData });
      }
    },
    compile() {
      const w = worker;
      if (w === undefined) throw new Error(`${mode}: not started`);
      return w.guard(
        new Promise<SassRun>((resolve, reject) => {
          w.worker.once('message', (reply: SassRun | { error: string }) => ('error' in reply ? reject(new Error(reply.error)) : resolve(reply)));
          w.worker.postMessage('compile');
        }),
      );
    },
    async stop() {
      await worker?.terminate();
      local?.close();
      worker = undefined;
      local = undefined;
    },
  };
}

export const directSassRunner = (): SassRunner => workerRunner('direct');
export const smpSassRunner = (): SassRunner => workerRunner('sync-message-port');
