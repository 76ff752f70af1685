/**
 * One measurement of the demo and the benchmark: a fresh node (its own process, empty
 * temporary storage) syncs a source node's chain — or the same chain from several
 * source nodes at once — in a given P2P mode while its HTTP API is probed every few ms.
 * Also starts source nodes: a chain of N generated blocks, served by another process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Isolation } from 'agent-ipc';
import { freePort } from './free-port.ts';
import { HttpProbe } from './http-probe.ts';
import { agentSummaries, type AgentSummary } from './agent-summary.ts';
import { latencyStats, type LatencyStats } from './latency-stats.ts';
import { NodeProcess } from './node-process.ts';

export interface SourceNode {
  port: number;
  height: number;
  stop(): Promise<void>;
}

export interface SyncTrialOptions {
  /** Between two `GET /status` requests. Default 5 ms. */
  probeIntervalMs?: number;
  /** Give up after this long. Default 5 minutes. */
  timeoutMs?: number;
  /** More flags for the syncing node (e.g. `--p2p-agents 2`). */
  args?: readonly string[];
}

export interface SyncTrialResult {
  mode: Isolation;
  /** Source nodes synced from at once. */
  peers: number;
  blocks: number;
  syncMs: number;
  blocksPerSec: number;
  /** From going online to the first block stored: connection, handshake, agent start-up, search. */
  firstBlockMs: number;
  /** Blocks per second after the first one: the streaming itself. */
  streamBlocksPerSec: number;
  /** `GET /status` latencies from the node going online until it had the source's best block. */
  http: LatencyStats;
  /** Per agent of the syncing node, from its `GET /metrics` at the end of the sync. */
  agents: AgentSummary[];
  /**
   * CPU time (user + system) the syncing node's process spent during the sync, its
   * threads (thread agents) included, process agents not; `NaN` where Linux's `/proc` is
   * missing. Unlike the sync time it does not depend on how busy the machine is.
   */
  cpuMs: number;
}

/** CPU time (user + system) process `pid` has used so far, all its threads: Linux's `/proc`, else `NaN`. */
function processCpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime: fields 14 and 15 of the line, in clock ticks (100 a second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

function temporaryDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

function modeArgs(mode: Isolation): string[] {
  return mode === 'inline' ? [] : [`--p2p-multiprocess=${mode}`];
}

/**
 * Starts a node that mines `blocks` blocks and then serves them (P2P inline). With
 * `chainOf`, it copies that source's chain instead (it syncs it, then serves it): two
 * sources then serve the very same blocks, as two peers of a real network would.
 */
export async function startSourceNode(blocks: number, onLine?: (line: string) => void, chainOf?: SourceNode): Promise<SourceNode> {
  const dir = temporaryDir('fullnode-source-');
  const port = await freePort();
  let node: NodeProcess | undefined;
  try {
    const httpPort = await freePort();
    const chain = chainOf ? ['--bootstrap', `127.0.0.1:${chainOf.port}`] : ['--generate-blocks', String(blocks)];
    node = await NodeProcess.start({
      args: ['--data-dir', dir, ...chain, '--port', String(port), '--http-port', String(httpPort)],
      startTimeoutMs: 10 * 60_000,
      onLine,
    });
    if (chainOf) await waitForHeight(httpPort, chainOf.height, 10 * 60_000);
    const started = node;
    return {
      port,
      height: chainOf?.height ?? blocks,
      async stop() {
        await started.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Resolves once the node whose HTTP API is on `httpPort` has a chain of `height`. */
async function waitForHeight(httpPort: number, height: number, timeoutMs: number): Promise<void> {
  const probe = new HttpProbe(httpPort, 20);
  let timer: NodeJS.Timeout | undefined;
  try {
    const reached = probe.until((status) => status.height >= height);
    probe.start();
    await Promise.race([reached, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no chain of ${height} blocks after ${timeoutMs / 1000} s`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    await probe.stop();
  }
}

/**
 * A fresh node syncs `source` in `mode` (from each of several sources at once, if given
 * a list: they must hold the same chain); its `GET /status` is probed throughout.
 */
export async function runSyncTrial(
  source: Pick<SourceNode, 'port' | 'height'> | ReadonlyArray<Pick<SourceNode, 'port' | 'height'>>,
  mode: Isolation,
  options: SyncTrialOptions = {},
): Promise<SyncTrialResult> {
  const sources = 'port' in source ? [source] : source;
  const height = Math.max(...sources.map((s) => s.height));
  const dir = temporaryDir(`fullnode-${mode}-`);
  let node: NodeProcess | undefined;
  let probe: HttpProbe | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const [port, httpPort] = [await freePort(), await freePort()];
    node = await NodeProcess.start({
      args: [
        ...['--data-dir', dir, '--port', String(port), '--http-port', String(httpPort)],
        ...['--bootstrap', ...sources.map((s) => `127.0.0.1:${s.port}`)],
        ...modeArgs(mode),
        ...(options.args ?? []),
      ],
    });
    probe = new HttpProbe(httpPort, options.probeIntervalMs ?? 5);
    const started = performance.now();
    const cpuAtStart = processCpuMs(node.child.pid);
    let firstBlockMs = Number.NaN;
    void probe.until((status) => status.height > 0).then(() => (firstBlockMs = performance.now() - started));
    const synced = probe.until((status) => status.height >= height);
    probe.start();
    const timeoutMs = options.timeoutMs ?? 5 * 60_000;
    await Promise.race([
      synced,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${mode}: not synced after ${timeoutMs / 1000} s`)), timeoutMs))),
    ]);
    const syncMs = performance.now() - started;
    const cpuMs = processCpuMs(node.child.pid) - cpuAtStart;
    const http = latencyStats(probe.latenciesMs);
    // Read while the node (and its agents) still run; a summary is not worth failing the trial.
    const agents = await agentSummaries(httpPort).catch(() => []);
    return {
      mode,
      peers: sources.length,
      blocks: height,
      syncMs,
      blocksPerSec: (height * 1000) / syncMs,
      firstBlockMs,
      streamBlocksPerSec: ((height - 1) * 1000) / (syncMs - firstBlockMs),
      http,
      agents,
      cpuMs,
    };
  } finally {
    clearTimeout(timer);
    await probe?.stop();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
