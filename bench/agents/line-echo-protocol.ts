/** Line protocol for the lines suite's throughput tables: every line comes straight back. */
import { defineLineProtocol } from '../../src/lines/agent/index.ts';

export default defineLineProtocol((_main, conn) => ({
  lineReceived(line: string) {
    conn.sendLine(line);
  },
}));
