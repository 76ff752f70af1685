/**
 * agent-ipc's line server as the lines suite uses it: a `createLineServer` per case
 * (one isolation, per-connection agents or a pool), fed by peers that run in their own
 * worker thread (bench/agents/line-load.worker.ts), or by two local peers for the
 * proof-of-concept jobs.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { SkipCase, type Case, type Measurement } from '../harness/case.ts';
import { BenchWorker } from '../harness/worker.ts';
import type { Isolation } from '../../src/index.ts';
import type { LineAgents, LineServer } from '../../src/lines/index.ts';
import { loadAgentIpc } from './agent-ipc.ts';

const echoProtocol = new URL('../agents/line-echo-protocol.ts', import.meta.url);
const cpuProtocol = new URL('../agents/line-cpu-protocol.ts', import.meta.url);
const loadWorker = new URL('../agents/line-load.worker.ts', import.meta.url);

/** `SkipCase` if this checkout's `spawnAgent` cannot run agents of `isolation` yet. */
async function requireIsolation(isolation: Isolation): Promise<void> {
  if (isolation === 'inline') return;
  const { spawnAgent } = await loadAgentIpc();
  try {
    const probe = await spawnAgent(new URL('../agents/adder.ts', import.meta.url), { isolation });
    await probe.close();
  } catch (error) {
    if (error instanceof TypeError) throw new SkipCase(`${isolation} isolation not available: ${error.message}`);
    throw error;
  }
}

/** Resolves once `server` has `count` live connections. */
function whenLive(server: LineServer, count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (server.connections.length < count) return;
      server.off('connect', check);
      resolve();
    };
    server.on('connect', check);
    check();
  });
}

/** A line server whose first error fails the run in progress. */
async function startServer(
  agent: URL,
  isolation: Isolation,
  agents: LineAgents,
  handOffSockets = false,
): Promise<{ server: LineServer; port: number; failure: Promise<never> }> {
  const { createLineServer } = await import('../../src/lines/index.ts');
  const server = createLineServer({ agent, isolation, agents, handOffSockets, name: `bench-lines-${isolation}` });
  const failure = new Promise<never>((_, reject) => server.on('error', (error) => reject(error)));
  failure.catch(() => undefined);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, failure };
}

export interface LineThroughputOptions {
  /** Row name, e.g. `thread` or `thread-pool2`. */
  name: string;
  isolation: Isolation;
  agents: LineAgents;
  /** Connections, all sending at once. */
  connections: number;
  /** Lines each connection sends (and gets echoed) per run. */
  lines: number;
  /** Process agents read and write their sockets themselves (no line crosses the IPC). */
  handOffSockets?: boolean;
}

/** Echoed lines per second through `connections` connections. One op = one line there and back. */
export function lineThroughputCase(o: LineThroughputOptions): Case {
  let server: LineServer | undefined;
  let failure: Promise<never> | undefined;
  let load: BenchWorker | undefined;

  const ask = async (message: unknown): Promise<number> => {
    const worker = load!;
    const answer = once(worker.worker, 'message') as Promise<[{ ok?: number; error?: string }]>;
    worker.worker.postMessage(message);
    const [reply] = await worker.guard(Promise.race([answer, failure!]));
    if (reply.error !== undefined) throw new Error(`line peers: ${reply.error}`);
    return reply.ok!;
  };

  return {
    name: o.name,
    async setup() {
      await requireIsolation(o.isolation);
      const started = await startServer(echoProtocol, o.isolation, o.agents, o.handOffSockets);
      server = started.server;
      failure = started.failure;
      load = new BenchWorker(loadWorker, {});
      const live = whenLive(server, o.connections);
      await ask({ connect: { port: started.port, connections: o.connections } });
      await Promise.race([live, failure]);
    },
    async run(): Promise<Measurement> {
      const ns = await ask({ run: { lines: o.lines } });
      return { ops: o.lines * o.connections, ns };
    },
    async teardown() {
      if (load) {
        await ask({ close: true }).catch(() => undefined);
        await load.terminate();
      }
      await server?.close();
      load = undefined;
      server = undefined;
    },
  };
}

export interface LineJobsOptions {
  name: string;
  isolation: Isolation;
  /** Peers, each sending one job at the same moment. */
  peers: number;
  /** Iterations of the CPU-heavy handler per job (calibrated by the suite). */
  iterations: number;
}

/**
 * The RFC's proof of concept: `peers` connections each send one CPU-heavy line at once;
 * a run ends when every answer is back. One op = one job.
 */
export function lineJobsCase(o: LineJobsOptions): Case {
  let server: LineServer | undefined;
  let failure: Promise<never> | undefined;
  let sockets: net.Socket[] = [];

  const answer = (socket: net.Socket): Promise<string> =>
    new Promise((resolve, reject) => {
      let text = '';
      const onData = (chunk: string): void => {
        text += chunk;
        if (!text.includes('\r\n')) return;
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(text.trim());
      };
      const onClose = (): void => reject(new Error('the server closed a bench connection'));
      socket.on('data', onData);
      socket.once('close', onClose);
    });

  return {
    name: o.name,
    async setup() {
      await requireIsolation(o.isolation);
      const started = await startServer(cpuProtocol, o.isolation, 'per-connection');
      server = started.server;
      failure = started.failure;
      const live = whenLive(server, o.peers);
      sockets = await Promise.all(
        Array.from({ length: o.peers }, async () => {
          const socket = net.connect({ port: started.port, host: '127.0.0.1' });
          await once(socket, 'connect');
          socket.setEncoding('utf8');
          return socket;
        }),
      );
      await Promise.race([live, failure]);
    },
    async run(): Promise<Measurement> {
      const answers = sockets.map(answer);
      const start = process.hrtime.bigint();
      for (const socket of sockets) socket.write(`WORK ${o.iterations}\r\n`);
      const lines = await Promise.race([Promise.all(answers), failure!]);
      const ns = Number(process.hrtime.bigint() - start);
      if (!lines.every((line) => line.startsWith('DONE '))) throw new Error(`unexpected answers ${JSON.stringify(lines)}`);
      return { ops: o.peers, ns };
    },
    async teardown() {
      await Promise.all(
        sockets.map((socket) => {
          const closed = once(socket, 'close');
          socket.destroy();
          return closed;
        }),
      );
      sockets = [];
      await server?.close();
      server = undefined;
    },
  };
}
