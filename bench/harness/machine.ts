/**
 * What the figures were measured on. Absolute numbers mean little without it; ratios
 * travel better, but a reader still needs the core count and Node version to judge them.
 */
import os from 'node:os';

export interface Machine {
  node: string;
  v8: string;
  platform: string;
  arch: string;
  cpuModel: string;
  /** Cores available to this process (what worker threads actually compete for). */
  cpus: number;
  memoryGiB: number;
}

export function describeMachine(): Machine {
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpus: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpuModel}, ${m.cpus} cores, ${m.memoryGiB} GiB, Node ${m.node} (${m.platform}-${m.arch})`;
}
