/**
 * The heart of a process agent's I/O thread: it serves the main thread's blocking
 * mailbox by forwarding each call to the node over the agent's second stream (the
 * BLOCKING channel, on its own socket) and answering when the node does. The main
 * thread owns the first stream (async calls) itself; a thread of its own is needed
 * only here, because a main thread parked in `Atomics.wait` cannot read anything.
 *
 * It is also the agent's watchdog: when its stream ends (the node died, however) or
 * the parent pid changes, it closes the mailbox (a parked main thread wakes with an
 * error and the agent exits), and a backstop kills the process if its main thread is
 * too busy to get round to exiting.
 */
import type { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { HEADER_BYTES, Slot } from '../blocking/mailbox.ts';
import { MailboxServer } from '../blocking/server.ts';
import { IpcConnection } from '../connection.ts';
import { ConnectionClosedError } from '../errors.ts';
import { StreamChannel } from '../transports/stream-frames.ts';
import { StreamLink, StreamTransport } from '../transports/stream-transport.ts';
import { Control } from './control.ts';

/** How long the main thread may take to exit once the node is gone, before SIGKILL. */
const BACKSTOP_MS = 500;

/** How often the parent pid is checked: the backstop for a stream that never ends. */
const PARENT_CHECK_MS = 500;

/** What the I/O thread is started with. */
export interface BlockingForwarderOptions {
  /** The blocking stream to the node (fd 4 of the agent process). */
  stream: Duplex;
  /** The main thread's blocking mailbox and its side port. */
  mailbox: SharedArrayBuffer;
  sidePort: MessagePort;
  maxMessageBytes: number;
}

/**
 * A forwarded blocking call as it travels: the fence (the id of the last async
 * request the agent sent before it — the node serves the call only after it has
 * started that one, as for a thread agent) and the call's payload.
 */
export type ForwardedCall = [fence: number, payload: unknown];

/** Serves the main thread's blocking calls through the node until either goes away. */
export class BlockingForwarder {
  private readonly link: StreamLink;
  private readonly blocking: IpcConnection;
  private readonly server: MailboxServer;
  private readonly header: Int32Array;
  private gone = false;

  constructor(options: BlockingForwarderOptions) {
    this.header = new Int32Array(options.mailbox, 0, HEADER_BYTES / 4);
    this.link = new StreamLink(options.stream, { maxMessageBytes: options.maxMessageBytes, onEnd: () => this.nodeGone() });
    this.blocking = new IpcConnection(new StreamTransport(this.link, StreamChannel.BLOCKING), {
      peerName: 'the node',
      // The node closing the agent must wake a main thread parked in a blocking call.
      onNotify: (command) => {
        if (command === Control.CLOSE) this.server.close();
      },
    });
    this.blocking.onClose(() => this.nodeGone());
    this.server = new MailboxServer(options.mailbox, options.sidePort, {
      dispatch: (command, payload) => this.forward(command, payload),
      // The fence is kept by the node, which sees the async calls (this thread does
      // not): the request's own fence here means "nothing to wait for".
      asyncCallsStarted: () => undefined,
      maxMessageBytes: options.maxMessageBytes,
    });
    this.server.start();
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) this.nodeGone();
    }, PARENT_CHECK_MS).unref();
  }

  /** Sends a blocking call to the node; the mailbox server answers the main thread when it settles. */
  private forward(command: string, payload: unknown): Promise<unknown> {
    // Read now, while the request is being served: the slot is the current call's.
    const fence = Atomics.load(this.header, Slot.FENCE);
    const call: ForwardedCall = [fence, payload];
    const answer = this.blocking.request(command, call);
    this.blocking.flush();
    return answer.catch((error: unknown) => {
      throw withRemoteStacks(error);
    });
  }

  private nodeGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.server.close();
    this.link.fail(new ConnectionClosedError('the node is gone'));
    // The main thread sees its own stream end and exits; if it is too busy to notice:
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), BACKSTOP_MS);
  }
}

/**
 * The error the node answered, with the node's stacks as they were: this thread is a
 * relay, not a party, so its own "received at" trace would only be noise in the agent.
 */
function withRemoteStacks(error: unknown): unknown {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 16; e = e.cause, depth++) {
    const remote = (e as Error & { remoteStack?: string }).remoteStack;
    if (remote !== undefined) Object.defineProperty(e, 'stack', { value: remote, writable: true, configurable: true });
  }
  return error;
}
