/**
 * Baseline: Node's own `child_process.fork` IPC channel, the obvious way to talk to a
 * child process. One message per call (`process.send`), JSON by default or V8's
 * serializer with `serialization: 'advanced'`, request ids and a pending map in user
 * code: the least an RPC over fork needs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Measurement } from '../harness/case.ts';
import type { Fixture } from '../harness/fixture.ts';
import { pipeline } from '../harness/pipeline.ts';

export type ForkMessage =
  | { op: 'ready' }
  | { op: 'add'; id: number; a: number; b: number }
  | { op: 'result'; id: number; value: number }
  | { op: 'ask'; id: number; a: number; b: number }
  | { op: 'reply'; id: number; value: number }
  | { op: 'burst'; id: number; calls: number };

const childEntry = new URL('./fork-ipc.child.ts', import.meta.url);

/** Starts the fork child and resolves once it said it is ready. */
export function startForkChild(serialization: 'json' | 'advanced'): Promise<ChildProcess> {
  const child = fork(childEntry, [], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`fork-ipc child exited with ${code} before it was ready`));
    child.once('exit', onExit);
    child.once('message', () => {
      child.off('exit', onExit);
      resolve(child);
    });
  });
}

/** Ends a fork child and waits for its exit. */
export function stopForkChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export interface ForkIpc extends Fixture {
  /** `calls` calls of `add(i, 1)` into the child, `inFlight` outstanding. */
  pipelined(calls: number, inFlight: number): Promise<Measurement>;
  /** `calls` sequential calls from the child into the parent, timed in the child. */
  burst(calls: number): Promise<Measurement>;
}

export function forkIpc(serialization: 'json' | 'advanced'): ForkIpc {
  let child: ChildProcess | undefined;
  let nextId = 0;
  const pending = new Map<number, (value: number) => void>();
  let died: Promise<never> | undefined;

  const request = (message: ForkMessage & { id: number }): Promise<number> =>
    new Promise((resolve) => {
      pending.set(message.id, resolve);
      child!.send(message);
    });

  return {
    name: serialization === 'json' ? 'fork-ipc' : 'fork-ipc-advanced',
    async start() {
      child = await startForkChild(serialization);
      const c = child;
      died = new Promise<never>((_, reject) => c.once('exit', (code, signal) => reject(new Error(`fork child exited: ${code ?? signal}`))));
      died.catch(() => undefined);
      c.on('message', (message: ForkMessage) => {
        if (message.op === 'result') {
          pending.get(message.id)?.(message.value);
          pending.delete(message.id);
        } else if (message.op === 'ask') {
          c.send({ op: 'reply', id: message.id, value: message.a + message.b } satisfies ForkMessage);
        }
      });
    },
    async stop() {
      await stopForkChild(child);
      child = undefined;
    },
    pipelined(calls, inFlight) {
      return Promise.race([
        pipeline({
          calls,
          inFlight,
          call: (i) => request({ op: 'add', id: ++nextId, a: i, b: 1 }),
          check: (i, result) => result === i + 1,
        }),
        died!,
      ]);
    },
    async burst(calls) {
      const ns = await Promise.race([request({ op: 'burst', id: ++nextId, calls }), died!]);
      return { ops: calls, ns };
    },
  };
}
