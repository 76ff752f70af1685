/**
 * One measurement of the demo and the benchmark: a fresh node (its own process, empty
 * temporary storage) syncs a source node's chain in a given P2P mode while its HTTP API
 * is probed every few ms. Also starts the source node: a chain of N generated blocks,
 * served by another process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Isolation } from '../../../src/index.ts';
import { freePort } from './free-port.ts';
import { HttpProbe } from './http-probe.ts';
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
}

export interface SyncTrialResult {
  mode: Isolation;
  blocks: number;
  syncMs: number;
  blocksPerSec: number;
  /** From going online to the first block stored: connection, handshake, agent start-up, search. */
  firstBlockMs: number;
  /** Blocks per second after the first one: the streaming itself. */
  streamBlocksPerSec: number;
  /** `GET /status` latencies from the node going online until it had the source's best block. */
  http: LatencyStats;
}

function temporaryDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

function modeArgs(mode: Isolation): string[] {
  return mode === 'inline' ? [] : [`--p2p-multiprocess=${mode}`];
}

/** Starts a node that mines `blocks` blocks and then serves them (P2P inline). */
export async function startSourceNode(blocks: number, onLine?: (line: string) => void): Promise<SourceNode> {
  const dir = temporaryDir('fullnode-source-');
  const port = await freePort();
  try {
    const node = await NodeProcess.start({
      args: ['--data-dir', dir, '--generate-blocks', String(blocks), '--port', String(port), '--http-port', '0'],
      startTimeoutMs: 10 * 60_000,
      onLine,
    });
    return {
      port,
      height: blocks,
      async stop() {
        await node.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A fresh node syncs `source` in `mode`; its `GET /status` is probed throughout. */
export async function runSyncTrial(source: Pick<SourceNode, 'port' | 'height'>, mode: Isolation, options: SyncTrialOptions = {}): Promise<SyncTrialResult> {
  const dir = temporaryDir(`fullnode-${mode}-`);
  let node: NodeProcess | undefined;
  let probe: HttpProbe | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const [port, httpPort] = [await freePort(), await freePort()];
    node = await NodeProcess.start({
      args: ['--data-dir', dir, '--port', String(port), '--http-port', String(httpPort), '--bootstrap', `127.0.0.1:${source.port}`, ...modeArgs(mode)],
    });
    probe = new HttpProbe(httpPort, options.probeIntervalMs ?? 5);
    const started = performance.now();
    let firstBlockMs = Number.NaN;
    void probe.until((status) => status.height > 0).then(() => (firstBlockMs = performance.now() - started));
    const synced = probe.until((status) => status.height >= source.height);
    probe.start();
    const timeoutMs = options.timeoutMs ?? 5 * 60_000;
    await Promise.race([
      synced,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${mode}: not synced after ${timeoutMs / 1000} s`)), timeoutMs))),
    ]);
    const syncMs = performance.now() - started;
    const http = latencyStats(probe.latenciesMs);
    return {
      mode,
      blocks: source.height,
      syncMs,
      blocksPerSec: (source.height * 1000) / syncMs,
      firstBlockMs,
      streamBlocksPerSec: ((source.height - 1) * 1000) / (syncMs - firstBlockMs),
      http,
    };
  } finally {
    clearTimeout(timer);
    await probe?.stop();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
