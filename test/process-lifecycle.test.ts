/**
 * Process agents do not outlive their node, however it dies: a small node (a child of
 * this test) starts three process agents, one parked in a blocking call, and is then
 * killed; every agent must be gone soon after — also one spinning in a synchronous loop
 * (it cannot hear anything; its watchdog thread ends the process). On a calm machine that
 * takes well under 2 s (the test logs it); the bound asserted is a generous 15 s, so
 * that a loaded machine (where a watchdog thread can take seconds to load) does not fail
 * a liveness test on its timing.
 */
import { spawn } from 'node:child_process';
import test from 'ava';
import { gone } from './helpers/process-gone.ts';
import { within } from './helpers/agents.ts';

const doomedNode = new URL('./fixtures/doomed-node.ts', import.meta.url);


/** Starts the doomed node and resolves with its agents' pids, once they are all up. */
function startDoomedNode(mode: 'wait' | 'exit'): { pids: Promise<number[]>; node: ReturnType<typeof spawn> } {
  const node = spawn(process.execPath, [...process.execArgv, new URL(doomedNode).pathname, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pids = new Promise<number[]>((resolve, reject) => {
    let out = '';
    node.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(JSON.parse(line) as number[]);
    });
    node.once('exit', (code, signal) => {
      if (!out.includes('\n')) reject(new Error(`the doomed node died early: ${code ?? signal}`));
    });
  });
  return { pids, node };
}

for (const how of ['SIGKILL', 'SIGTERM', 'process.exit'] as const) {
  test.serial(`when the node dies by ${how}, every process agent exits, parked and spinning ones included`, async (t) => {
    const { pids: started, node } = startDoomedNode(how === 'process.exit' ? 'exit' : 'wait');
    const pids = await started;
    t.teardown(() => {
      // Whatever happens, nothing this test started may survive it.
      for (const pid of [node.pid!, ...pids]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    t.is(pids.length, 3);
    if (how !== 'process.exit') {
      t.true(pids.every((pid) => !gone(pid)), 'all agents run before the node dies');
      node.kill(how);
    }
    t.true(await within(15_000, () => gone(node.pid!)), 'the node is gone');
    // The bound runs from the node's death (observed within 20 ms of it).
    const died = Date.now();
    t.true(await within(15_000, () => pids.every(gone)), `agents still running: ${pids.filter((p) => !gone(p)).join(', ')}`);
    t.log(`all agents gone ${Date.now() - died} ms after the node`);
  });
}
