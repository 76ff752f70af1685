/**
 * The peers of the lines suite, in their own worker thread so that generating load
 * does not compete with the node's event loop (real peers are on other machines).
 *
 * Messages in: `{ connect: { port, connections } }`, `{ run: { lines } }`, `{ close: true }`.
 * Each answers `{ ok: ns? }` or `{ error }`. A run writes `lines` lines on every
 * connection at once, as fast as TCP takes them, and ends when every echo is back.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import { parentPort } from 'node:worker_threads';

if (!parentPort) throw new Error('line-load.worker must run in a worker thread');
const port = parentPort;

/** One echoing peer: counts the delimiters that come back. */
class Peer {
  private expected = 0;
  private received = 0;
  private done: (() => void) | undefined;
  private failed: ((error: Error) => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.once('close', () => this.failed?.(new Error('the server closed a bench connection')));
    socket.on('data', (chunk: Buffer) => {
      // '\n' ends every echoed line ('\r\n'), and payloads never contain one.
      for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) this.received++;
      if (this.received >= this.expected) this.done?.();
    });
  }

  run(payload: Buffer, lines: number): Promise<void> {
    this.received = 0;
    this.expected = lines;
    const finished = new Promise<void>((resolve, reject) => {
      this.done = resolve;
      this.failed = reject;
    });
    this.socket.write(payload);
    return finished;
  }
}

/** `lines` lines of 32 bytes: `L<counter, zero-padded>\r\n`. */
function payloadOf(lines: number): Buffer {
  const out = Buffer.alloc(lines * 32);
  for (let i = 0; i < lines; i++) out.write(`L${String(i).padStart(29, '0')}\r\n`, i * 32, 'latin1');
  return out;
}

let peers: Peer[] = [];
let payload: Buffer | undefined;

port.on('message', (message: { connect?: { port: number; connections: number }; run?: { lines: number }; close?: true }) => {
  void (async () => {
    try {
      if (message.connect) {
        const { port: target, connections } = message.connect;
        peers = await Promise.all(
          Array.from({ length: connections }, async () => {
            const socket = net.connect({ port: target, host: '127.0.0.1' });
            await once(socket, 'connect');
            return new Peer(socket);
          }),
        );
        port.postMessage({ ok: 0 });
      } else if (message.run) {
        const { lines } = message.run;
        if (payload?.length !== lines * 32) payload = payloadOf(lines);
        const start = process.hrtime.bigint();
        await Promise.all(peers.map((peer) => peer.run(payload!, lines)));
        port.postMessage({ ok: Number(process.hrtime.bigint() - start) });
      } else if (message.close) {
        await Promise.all(
          peers.map((peer) => {
            peer.socket.removeAllListeners('close');
            const closed = once(peer.socket, 'close');
            peer.socket.destroy();
            return closed;
          }),
        );
        peers = [];
        port.postMessage({ ok: 0 });
      }
    } catch (error) {
      port.postMessage({ error: error instanceof Error ? error.message : String(error) });
    }
  })();
});
