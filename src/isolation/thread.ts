/**
 * Thread isolation: the agent runs in a worker thread with its own event loop and
 * heap, started from `thread-bootstrap`, which then imports the agent module.
 */
import { MessageChannel, Worker, type ResourceLimits } from 'node:worker_threads';
import { createMailboxMemory } from '../blocking/mailbox.ts';
import { createReverseMemory } from '../blocking/reverse-mailbox.ts';
import { dropShadowingKeys } from '../error-codec.ts';
import type { AgentExit } from '../errors.ts';
import type { AgentInit } from './control.ts';
import { setHandlesRef, type AgentLauncher } from './launcher.ts';
import type { ThreadInit } from './thread-bootstrap.ts';
import { threadStoppedProbe, withNewThread } from './thread-liveness.ts';
import { DrainablePortTransport } from './thread-port-transport.ts';
import { workerEntry } from './typescript-loader.ts';

// From source (tests, tsx) the bootstrap is the .ts beside this file; in the built
// package every entry sits flat in dist/, and the bootstrap is ESM in both builds.
const here = import.meta.url;
const bootstrapUrl = here.endsWith('.ts') ? new URL('./thread-bootstrap.ts', here) : new URL('./thread-bootstrap.js', here);

/** Whether the node was started with `--input-type`, which its workers inherit. */
function inheritsInputType(): boolean {
  return process.execArgv.some((option) => option === '--input-type' || option.startsWith('--input-type='));
}

/** Starts a thread agent; `watchOsThread`: identify its OS thread (see `threadStoppedProbe`). */
export function launchThread(init: AgentInit, resourceLimits: ResourceLimits | undefined, watchOsThread = false): AgentLauncher {
  const memory = createMailboxMemory();
  const { port1, port2 } = new MessageChannel();
  // The connection gets a channel of its own: posting on a bare MessagePort skips the
  // argument handling of Worker.postMessage, which showed up in profiles of pipelined calls.
  const calls = new MessageChannel();
  // The reverse mailbox (the node blocking on the agent) and its two side channels.
  const reverseMemory = createReverseMemory();
  const reverseSide = new MessageChannel();
  const callbackSide = new MessageChannel();
  const start = workerEntry(bootstrapUrl);
  const workerData: ThreadInit & { preload?: unknown } = {
    ...init,
    mailbox: memory,
    sidePort: port2,
    port: calls.port2,
    reverse: { memory: reverseMemory, sidePort: reverseSide.port2, callbackPort: callbackSide.port2 },
    preload: start.preload,
  };
  const workerOptions = {
    workerData,
    transferList: [port2, calls.port2, reverseSide.port2, callbackSide.port2],
    resourceLimits,
    name: `agent:${init.name}`,
  };
  // A worker inherits the node's execArgv, and with `--input-type` in it (a node started
  // as `node --input-type=module -e …`) Node.js 22 and later refuse a worker entry given
  // as a URL ("--input-type can only be used with string input"). A string entry is
  // accepted, so the entry is then imported from one.
  const create = (): Worker =>
    inheritsInputType() ? new Worker(`import(${JSON.stringify(start.url.href)});`, { ...workerOptions, eval: true }) : new Worker(start.url, workerOptions);
  const { value: worker, tid } = watchOsThread ? withNewThread(create) : { value: create(), tid: undefined };
  const transport = new DrainablePortTransport(calls.port1);
  let crash: Error | undefined;
  let exitListener: ((exit: AgentExit) => void) | undefined;
  let exit: AgentExit | undefined;
  // An uncaught error in the agent ends its thread; keep it as the exit's cause.
  worker.on('error', (error) => {
    // Node's copy of the agent's error keeps its own data; one shadowing an inherited
    // method (`toString: 'x'`) would make String(exit.error) throw in the node.
    if (error !== null && typeof error === 'object') dropShadowingKeys(error);
    crash ??= error;
  });
  worker.once('exit', (code) => {
    // Node delivers what a dying worker posted on its own parentPort before 'exit', but
    // not what it posted on a port of ours: the agent's last answers (a close that waited
    // for calls in progress) may still be queued here. Read them now, or closing the
    // connection below would reject calls whose answers had arrived.
    transport.drain();
    port1.close();
    calls.port1.close();
    reverseSide.port1.close();
    callbackSide.port1.close();
    exit = crash ? { code, signal: null, error: crash } : { code, signal: null };
    exitListener?.(exit);
  });
  return {
    isolation: 'thread',
    pid: process.pid,
    threadId: worker.threadId,
    transport,
    mailbox: { memory, sidePort: port1 },
    reverse: {
      memory: reverseMemory,
      sidePort: reverseSide.port1,
      callbackPort: callbackSide.port1,
      drain: (limit) => transport.drain(limit),
      threadStopped: threadStoppedProbe(worker, tid),
    },
    onExit(listener) {
      if (exit) listener(exit);
      else exitListener = listener;
    },
    terminate() {
      void worker.terminate();
    },
    setRef(ref) {
      // The worker, and the one port the node listens on (the others are read on demand).
      setHandlesRef([worker, calls.port1], ref);
    },
  };
}
