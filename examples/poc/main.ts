/**
 * The RFC's proof of concept, runnable: `npm run example:poc`.
 *
 * A line server whose protocol has a CPU-heavy handler (~1.5 s). Two peers connect
 * and send `WORK` at the same moment. With the protocol inline (the current
 * architecture) the node's one thread runs the two jobs one after the other and cannot
 * do anything else meanwhile; with an agent per connection they run in parallel and
 * the node's event loop stays free. Prints both side by side.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { availableParallelism } from 'node:os';
import type { Isolation } from 'agent-ipc';
import { createLineServer } from 'agent-ipc/lines';
import { calibrate } from './cpu-work.ts';
import type { PocData } from './heavy-protocol.ts';

const JOB_MS = 1500;
const PEERS = 2;
const ROUNDS = 3;

/** A peer: a raw TCP client that sends a line and reads the answer. */
class Peer {
  private buffered = '';

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
  }

  static async connect(port: number): Promise<Peer> {
    const socket = net.connect({ port, host: '127.0.0.1' });
    await once(socket, 'connect');
    return new Peer(socket);
  }

  /** Sends `line`, resolves with the first line that comes back. */
  request(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const onData = (text: string): void => {
        this.buffered += text;
        const end = this.buffered.indexOf('\r\n');
        if (end < 0) return;
        this.socket.off('data', onData);
        this.socket.off('close', onClose);
        resolve(this.buffered.slice(0, end));
        this.buffered = this.buffered.slice(end + 2);
      };
      const onClose = (): void => reject(new Error('the server closed the connection'));
      this.socket.on('data', onData);
      this.socket.once('close', onClose);
      this.socket.write(`${line}\r\n`);
    });
  }

  async close(): Promise<void> {
    this.socket.end();
    if (!this.socket.closed) await once(this.socket, 'close');
  }
}

/** Measures the longest gap between ticks of a 5 ms heartbeat: how long the node could not answer anything. */
function watchStalls(): () => number {
  let last = performance.now();
  let longest = 0;
  const heartbeat = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  return () => {
    clearInterval(heartbeat);
    return Math.max(longest, performance.now() - last);
  };
}

interface Outcome {
  /** From sending both WORK lines to having both answers. */
  seconds: number;
  /** Longest stall of the node's event loop meanwhile (what an HTTP request would wait). */
  stalledMs: number;
  answers: string[];
}

async function run(isolation: Isolation, data: PocData): Promise<Outcome> {
  const server = createLineServer({ agent: new URL('./heavy-protocol.ts', import.meta.url), isolation, data });
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    const live = new Promise<void>((resolve) => {
      const check = (): void => {
        if (server.connections.length < PEERS) return;
        server.off('connect', check);
        resolve();
      };
      server.on('connect', check);
    });
    const peers = await Promise.all(Array.from({ length: PEERS }, () => Peer.connect(port)));
    // Agents start when peers connect; only the work is timed.
    await live;
    const stalls = watchStalls();
    const start = performance.now();
    const answers = await Promise.all(peers.map((peer) => peer.request('WORK')));
    const seconds = (performance.now() - start) / 1000;
    const stalledMs = stalls();
    await Promise.all(peers.map((peer) => peer.close()));
    return { seconds, stalledMs, answers };
  } finally {
    await server.close();
  }
}

const iterations = calibrate(JOB_MS);
console.log(`Proof of concept: ${PEERS} peers each send one line whose handler burns ~${JOB_MS / 1000} s of CPU.`);
console.log(`(${iterations.toLocaleString('en-US')} iterations per job, calibrated here; ${availableParallelism()} CPUs)`);
console.log(`Each isolation runs ${ROUNDS} times, interleaved (these machines' speed drifts); medians below.\n`);

const isolations: Isolation[] = ['inline', 'thread', 'process'];
const outcomes = new Map<Isolation, Outcome[]>(isolations.map((isolation) => [isolation, []]));
const unavailable = new Map<Isolation, string>();
for (let round = 0; round < ROUNDS; round++) {
  for (const isolation of isolations) {
    if (unavailable.has(isolation)) continue;
    try {
      outcomes.get(isolation)!.push(await run(isolation, { iterations }));
    } catch (error) {
      // Process agents may not be available in this build.
      if (isolation === 'process' && error instanceof TypeError) unavailable.set(isolation, `not available (${error.message})`);
      else throw error;
    }
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const inlineSeconds = median(outcomes.get('inline')!.map((o) => o.seconds));
const rows = [['isolation', 'both answered after', 'node event loop stalled (max)', 'vs inline', 'rounds']];
for (const isolation of isolations) {
  const why = unavailable.get(isolation);
  if (why) {
    rows.push([isolation, why, '', '', '']);
    continue;
  }
  const runs = outcomes.get(isolation)!;
  const seconds = median(runs.map((o) => o.seconds));
  const ratio = isolation === 'inline' ? '(baseline)' : `${(inlineSeconds / seconds).toFixed(2)}× sooner`;
  rows.push([
    isolation,
    `${seconds.toFixed(2)} s`,
    `${Math.round(median(runs.map((o) => o.stalledMs)))} ms`,
    ratio,
    runs.map((o) => o.seconds.toFixed(2)).join(' / '),
  ]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd());

console.log('\nanswers of the last round:');
for (const isolation of isolations) {
  for (const answer of outcomes.get(isolation)!.at(-1)?.answers ?? []) console.log(`  ${isolation.padEnd(7)} ${answer}`);
}
