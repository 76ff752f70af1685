/**
 * Entry point of a process agent (the main thread of the child process). The node
 * passed it two streams: fd 3 carries start-up and the agent connection (async calls
 * both ways, control messages), fd 4 the blocking calls. This thread owns fd 3 and
 * runs the agent with the same runtime as a thread agent; its I/O thread owns fd 4
 * and serves this thread's blocking mailbox through it (see `blocking-forwarder.ts`).
 *
 * Started as `node <the node's execArgv> process-bootstrap.js <options JSON>`.
 */
import { Socket } from 'node:net';
import { MessageChannel, Worker } from 'node:worker_threads';
import { createMailboxMemory } from '../blocking/mailbox.ts';
import { StreamChannel } from '../transports/stream-frames.ts';
import { StreamLink, StreamTransport } from '../transports/stream-transport.ts';
import { runAgent } from './agent-runtime.ts';
import type { AgentInit } from './control.ts';
import { flushOnExit } from './exit-flush.ts';
import { mailboxBlocking } from './mailbox-blocking.ts';
import type { IoThreadData } from './process-io-thread.ts';
import { workerEntry } from './typescript-loader.ts';

/** What the node passes on the command line: what is needed before the stream is read. */
export interface ProcessArgs {
  name: string;
  maxMessageBytes: number;
}

/** The descriptor of the agent stream in a process agent. */
export const AGENT_FD = 3;

/** Exit code of an agent whose I/O thread failed: its blocking calls can no longer reach the node. */
const IO_THREAD_FAILED = 70;

const here = import.meta.url;
const ioThreadUrl = here.endsWith('.ts') ? new URL('./process-io-thread.ts', here) : new URL('./process-io-thread.js', here);

const args = JSON.parse(process.argv[2] ?? '{}') as ProcessArgs;
process.title = `agent-ipc:${args.name}`;
// Ctrl-C in a terminal signals the whole process group. The agent's lifetime is the
// node's: it exits when the node closes it or its streams end, not on the node's SIGINT.
process.on('SIGINT', () => undefined);
// A line server that hands sockets to this agent opens a Node.js IPC channel for them.
// It must never keep the agent alive on its own: the agent ends with its streams.
process.channel?.unref();

const memory = createMailboxMemory();
const side = new MessageChannel();
const start = workerEntry(ioThreadUrl);
const ioData: IoThreadData & { preload?: unknown } = {
  mailbox: memory,
  sidePort: side.port2,
  maxMessageBytes: args.maxMessageBytes,
  preload: start.preload,
};
const io = new Worker(start.url, { workerData: ioData, transferList: [side.port2], name: 'agent-ipc:io' });
// The agent's own work decides when it may end, not the I/O thread.
io.unref();
io.on('error', (error) => {
  process.stderr.write(`[agent-ipc] agent '${args.name}': its I/O thread failed: ${error.stack ?? error.message}\n`);
  process.exit(IO_THREAD_FAILED);
});

const link = new StreamLink(new Socket({ fd: AGENT_FD, readable: true, writable: true }), { maxMessageBytes: args.maxMessageBytes });
let begun = false;
link.attach(StreamChannel.SETUP, {
  onBatch(batch) {
    if (begun) return;
    begun = true;
    begin(batch[0] as AgentInit);
  },
  onClose: () => undefined,
});

function begin(init: AgentInit): void {
  const running = runAgent(init, {
    transport: new StreamTransport(link, StreamChannel.AGENT),
    blocking: mailboxBlocking(init, memory, side.port1),
    exit: (code) => process.exit(code),
    load: (entry) => import(entry) as Promise<Record<string, unknown>>,
  });
  // A socket write goes straight to the kernel when it has room, so frames flushed
  // as the agent goes down are out before the process is.
  flushOnExit(running.connection);
}
