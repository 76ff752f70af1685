/**
 * What the figures were measured on. Absolute numbers mean little without it; ratios
 * travel better, but a reader still needs the core count and Node version to judge them.
 */
import { readFileSync } from 'node:fs';
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
  /** The kernel's release (absent in results recorded before it was kept). */
  kernel?: string;
  /**
   * The kernel's `sched_vcpu_pack` setting, where it has one: a scheduler extension of
   * the VMs this project is benchmarked on, not in upstream Linux, that packs lightly
   * loaded threads onto one vCPU and so decides the calm blocking figures
   * (docs/blocking-calls.md, "Open: short bursts on a calm machine").
   */
  vcpuPack?: string;
}

function vcpuPack(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/sched_vcpu_pack', 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function describeMachine(): Machine {
  const pack = vcpuPack();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpus: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    ...(pack === undefined ? {} : { vcpuPack: pack }),
  };
}

export function machineLine(m: Machine): string {
  const kernel = m.kernel === undefined ? '' : `, ${m.kernel}${m.vcpuPack === undefined ? '' : ` (sched_vcpu_pack ${m.vcpuPack})`}`;
  return `${m.cpuModel}, ${m.cpus} cores, ${m.memoryGiB} GiB, Node ${m.node} (${m.platform}-${m.arch})${kernel}`;
}
