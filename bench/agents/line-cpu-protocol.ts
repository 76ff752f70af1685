/**
 * Line protocol for the lines suite's proof-of-concept table: `WORK <iterations>` runs
 * the example's CPU-heavy handler (synchronous, it holds its thread), then answers.
 */
import { defineLineProtocol } from '../../src/lines/agent/index.ts';
import { burn } from '../../examples/poc/cpu-work.ts';

export default defineLineProtocol((_main, conn) => ({
  lineReceived(line: string) {
    const [command, iterations] = line.split(' ');
    if (command !== 'WORK') throw new Error(`unexpected line ${line}`);
    conn.sendLine(`DONE ${burn(Number(iterations))}`);
  },
}));
