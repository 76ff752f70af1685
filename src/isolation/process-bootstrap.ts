/**
 * Entry point of a process agent (the main thread of the child process). The node
 * passed it two sockets: fd 3 carries start-up and the agent connection (async calls
 * both ways, control messages), fd 4 the blocking calls. This thread owns both and
 * runs the agent with the same runtime as a thread agent: fd 3 through libuv, fd 4
 * with blocking reads and writes of its own (see `process-caller.ts`). A
 * watchdog thread ends the agent if the node dies while this thread is busy — unless
 * the agent is sandboxed without worker threads, where the node's warden process does
 * (`process-warden.ts`).
 *
 * Started as `node <the node's execArgv> process-bootstrap.js <options JSON>`.
 */
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { ConnectionClosedError } from '../errors.ts';
import { StreamChannel } from '../transports/stream-frames.ts';
import { StreamLink, StreamTransport } from '../transports/stream-transport.ts';
import { runAgent } from './agent-runtime.ts';
import type { AgentInit } from './control.ts';
import { flushOnExit } from './exit-flush.ts';
import { ProcessBlockingCaller } from '../blocking/process-caller.ts';
import type { WatchdogData } from './process-watchdog.ts';
import { workerEntry } from './typescript-loader.ts';

/** What the node passes on the command line: what is needed before the stream is read. */
export interface ProcessArgs {
  name: string;
  maxMessageBytes: number;
  /**
   * Whether to start the watchdog thread: false for an agent sandboxed without worker
   * threads, which may not start one (see `startsWatchdogThread`).
   */
  watchdog: boolean;
  /**
   * Descriptors this process inherited from the node beyond its stdio (a sandboxed agent
   * only, see `inheritedDescriptors`): closed before anything else runs.
   */
  closeFds?: number[];
}

/** The descriptor of the agent stream in a process agent. */
export const AGENT_FD = 3;

/** The descriptor of the blocking socket in a process agent (left in blocking mode). */
export const BLOCKING_FD = 4;

/** Exit code of an agent whose watchdog failed: it could outlive the node. */
const WATCHDOG_FAILED = 70;

const here = import.meta.url;
const watchdogUrl = here.endsWith('.ts') ? new URL('./process-watchdog.ts', here) : new URL('./process-watchdog.js', here);

const args = JSON.parse(process.argv[2] ?? '{}') as ProcessArgs;
// The node's own descriptors that came along (files, sockets of its supervisor): the
// permission model does not check reads and writes through a descriptor.
for (const fd of args.closeFds ?? []) {
  if (Number.isInteger(fd) && fd > BLOCKING_FD) {
    try {
      closeSync(fd);
    } catch {
      // not open
    }
  }
}
process.title = `agent-ipc:${args.name}`;
// Ctrl-C in a terminal signals the whole process group. The agent's lifetime is the
// node's: it exits when the node closes it or its streams end, not on the node's SIGINT.
process.on('SIGINT', () => undefined);
// A line server that hands sockets to this agent opens a Node.js IPC channel for them.
// It must never keep the agent alive on its own: the agent ends with its streams.
process.channel?.unref();

if (args.watchdog) startWatchdog();

/** Starts the watchdog thread (`process-watchdog.ts`). */
function startWatchdog(): void {
  const start = workerEntry(watchdogUrl);
  const watchdogData: WatchdogData & { preload?: unknown } = { nodePid: process.ppid, preload: start.preload };
  const watchdog = new Worker(start.url, { workerData: watchdogData, name: 'agent-ipc:watchdog' });
  // The agent's own work decides when it may end, not the watchdog.
  watchdog.unref();
  watchdog.on('error', (error) => {
    process.stderr.write(`[agent-ipc] agent '${args.name}': its watchdog thread failed: ${error.stack ?? error.message}\n`);
    process.exit(WATCHDOG_FAILED);
  });
}

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
    blocking: (connection) =>
      new ProcessBlockingCaller({
        fd: BLOCKING_FD,
        timeoutMs: init.timeoutMs,
        maxMessageBytes: init.maxMessageBytes,
        // Async calls queued before a blocking call leave first, and the node starts them first.
        beforeBlock: (command) => connection.blockingFence(command),
        closedError: (cause) => new ConnectionClosedError(`agent '${init.name}' is closing: the node no longer answers blocking calls`, cause ? { cause } : undefined),
        peerName: 'the node',
      }),
    exit: (code) => process.exit(code),
    load: (entry) => import(entry) as Promise<Record<string, unknown>>,
  });
  // A socket write goes straight to the kernel when it has room, so frames flushed
  // as the agent goes down are out before the process is.
  flushOnExit(running.connection);
}
