/**
 * The agent side of the proof of concept: the RFC's `HathorProtocol` stand-in. A `WORK`
 * line runs a CPU-heavy handler (~1.5 s, synchronous: it holds its thread), then
 * answers `DONE`. The same module runs inline (on the node's thread, the RFC's current
 * architecture) and in a thread or process agent.
 */
import { defineLineProtocol } from 'agent-ipc/lines/agent';
import { burn } from './cpu-work.ts';

export interface PocData {
  /** Iterations of `burn` for one job, calibrated on the node. */
  iterations: number;
}

export default defineLineProtocol((_main, conn, ctx) => ({
  lineReceived(line: string) {
    if (line !== 'WORK') {
      conn.sendLine(`ERROR unknown command ${JSON.stringify(line)}`);
      return;
    }
    const start = performance.now();
    const checksum = burn((ctx.data as PocData).iterations);
    conn.sendLine(`DONE ${Math.round(performance.now() - start)} ms in ${ctx.name} (${checksum.toString(16)})`);
  },
}));
