/**
 * Thread agents from the built package (dist/) in a plain `node` process, for the goals
 * on start-up time and memory. The rest of the bench runs from source under tsx, and
 * there every agent thread registers tsx and compiles its modules on the way up, which
 * inflates both figures; a user of the npm package pays neither. The measuring happens
 * in bench/built/probe.mjs, forked without the bench's `--import=tsx`.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Case } from '../harness/case.ts';
import type { Fixture } from '../harness/fixture.ts';
import { progress } from '../harness/report.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const probeEntry = new URL('../built/probe.mjs', import.meta.url);

export type StartKind = 'agent' | 'worker';

type ProbeReply = { ready: true } | { id: number; value: number } | { id: number; error: string };

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Rebuilds dist/ when any file in src/ is newer, so the figures are of the current code. */
export function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(path.join(root, 'dist/index.js')).mtimeMs;
  } catch {
    // not built yet
  }
  if (built >= newestMtime(path.join(root, 'src'))) return;
  progress('building dist/ (src/ is newer)');
  execFileSync(process.execPath, [path.join(root, 'node_modules/tsup/dist/cli-default.js'), '--silent'], { cwd: root, stdio: 'inherit' });
}

export class BuiltPackageProbe implements Fixture {
  readonly name = 'built package probe';
  private child: ChildProcess | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(v: number): void; reject(e: Error): void }>();

  async start(): Promise<void> {
    ensureBuilt();
    // execArgv [] drops the bench's --import=tsx: the probe runs as a plain node would.
    const child = fork(probeEntry, [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => {
        const error = new Error(`built-package probe exited with ${code}`);
        reject(error);
        for (const p of this.pending.values()) p.reject(error);
        this.pending.clear();
      });
      child.on('message', (reply: ProbeReply) => {
        if ('ready' in reply) return resolve();
        const p = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if ('error' in reply) p?.reject(new Error(reply.error));
        else p?.resolve(reply.value);
      });
    });
  }

  private request(message: Record<string, unknown>): Promise<number> {
    const child = this.child;
    if (!child) return Promise.reject(new Error('built-package probe not started'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send({ ...message, id });
    });
  }

  /** Nanoseconds from spawn until the agent (or bare worker) answered. */
  spawnNs(kind: StartKind): Promise<number> {
    return this.request({ op: 'spawn', kind });
  }

  /**
   * Growth of the probe's resident memory per live agent, `count` started at once. Ask
   * a fresh probe: once threads have come and gone, the allocator reuses their freed
   * pages and the next measurement would read close to zero.
   */
  residentBytes(kind: StartKind, count: number): Promise<number> {
    return this.request({ op: 'memory', kind, count });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill();
    });
  }
}

/** Resident bytes per live thread of `kind`, measured in a probe started for just this. */
export async function builtResidentBytes(kind: StartKind, count: number): Promise<number> {
  const probe = new BuiltPackageProbe();
  try {
    await probe.start();
    return await probe.residentBytes(kind, count);
  } finally {
    await probe.stop();
  }
}

/** A start-up case timed inside the probe; fails its rows if the probe did not start. */
export function builtSpawnCase(name: string, probe: BuiltPackageProbe, kind: StartKind, startError: unknown): Case {
  return {
    name,
    setup() {
      if (startError !== undefined) throw startError instanceof Error ? startError : new Error(String(startError));
    },
    async run() {
      return { ops: 1, ns: await probe.spawnNs(kind) };
    },
  };
}
