/**
 * A TCP socket as a stream of lines: the RFC's `LineReceiver` on a live socket. It frames
 * the socket's bytes into lines, hands them on one batch at a time (the next batch goes
 * once the previous one was processed), writes the lines the protocol sends, and carries
 * back-pressure both ways:
 *
 * - reading: when more than `highWaterMark` lines wait for the protocol, the socket is
 *   paused; it resumes once at most half as many wait;
 * - writing: when the socket's write buffer is full the owner hears `writable(false)`,
 *   and `writable(true)` once it drained;
 * - both: while the write buffer is full, nothing more is read either. A peer that sends
 *   requests and never reads the replies would otherwise have the protocol answer each,
 *   into a buffer that only grows (an echo protocol ran the node out of memory so); this
 *   way TCP's own flow control stops the peer. (A protocol that sends on its own, with no
 *   line to answer, still owes `writable` its attention.)
 *
 * The same class runs in the node (lines relayed to an agent over IPC) and in a process
 * agent that was handed the socket (lines go straight to the protocol): one framing, one
 * flow control, whichever side owns the socket.
 */
import type { Socket } from 'node:net';
import { ConnectionClosedError } from '../../errors.ts';
import { LineBudget } from './line-budget.ts';
import { LineCarrier, type CarrierEvents } from './line-carrier.ts';
import { LineReceiver } from './line-receiver.ts';

/** Framing and flow settings of a line socket. */
export interface LineSocketSettings {
  delimiter: string;
  maxLineLength: number;
  highWaterMark: number;
  /**
   * How many lines one delivery may carry, when a delivery is a message to an agent
   * (relayed lines); none given: every line waiting goes in one delivery.
   */
  lineBudget?: LineBudget;
}

/** After a graceful close, how long a peer that does not read may keep its socket. */
export const LINGER_MS = 5000;

/** One socket, framed into lines. */
export class LineSocket extends LineCarrier {
  readonly closed: Promise<void>;
  private readonly receiver: LineReceiver;
  /** Lines received, waiting for the protocol from index {@link head} on. */
  private queue: string[] = [];
  /** The first line of {@link queue} not yet handed on (a batch may take only part of it). */
  private head = 0;
  private readonly budget: LineBudget;
  /** Lines in the batch the protocol is processing. */
  private delivering = 0;
  private readingPaused = false;
  /** More than `highWaterMark` lines waited for the protocol (cleared at half as many). */
  private queueFull = false;
  private socketWritable = true;
  private linger: NodeJS.Timeout | undefined;

  /** `id` names the connection in errors. */
  constructor(
    private readonly socket: Socket,
    id: number,
    private readonly settings: LineSocketSettings,
    events: CarrierEvents,
  ) {
    super(events);
    this.receiver = new LineReceiver(settings);
    this.budget = settings.lineBudget ?? LineBudget.UNLIMITED;
    // A socket can be gone before it gets here (a handed-off one, on its way to the agent).
    this.closed = socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
    // Small request/response lines must not wait for Nagle's algorithm.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('end', () => this.requestClose(undefined, true));
    socket.on('error', (error) => this.fail(error));
    socket.on('drain', () => this.drained());
    socket.once('close', () => {
      clearTimeout(this.linger);
      // Only a close we did not ask for (and that came without 'end' or 'error').
      this.requestClose(new ConnectionClosedError(`the socket of connection ${id} closed`), false);
    });
    if (socket.destroyed) {
      // A handed-off socket that the peer reset (or that failed) while it waited in the
      // agent's inbox, where its 'error' went to nobody: that error is the connection's,
      // reported as it would have been had the socket failed a moment later.
      const error = socket.errored;
      if (error) this.fail(error);
      else this.requestClose(new ConnectionClosedError(`the socket of connection ${id} closed`), false);
    }
    // A handed-off socket can have read the peer's FIN (and emitted 'end', to nobody) while
    // it waited in the agent's inbox, half-open: that is a FIN like any other.
    else if (socket.readableEnded) this.requestClose(undefined, true);
  }

  write(lines: readonly string[]): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded || lines.length === 0) return;
    const delimiter = this.settings.delimiter;
    let text = '';
    for (const line of lines) {
      text += line;
      text += delimiter;
    }
    if (!socket.write(text) && this.socketWritable) {
      this.socketWritable = false;
      this.syncReading();
      this.events.writable(false);
    }
  }

  /** Ends our side once what was written left; a peer that does not read is cut off later. */
  closeGracefully(): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    // Reading again lets the peer's end (or reset) arrive, so that 'close' follows.
    if (this.readingPaused) socket.resume();
    socket.end(() => socket.destroy());
    this.linger = setTimeout(() => socket.destroy(), LINGER_MS);
  }

  destroy(): void {
    if (!this.socket.destroyed) this.socket.destroy();
  }

  protected nothingOwed(): boolean {
    return this.waiting === 0 && this.delivering === 0;
  }

  protected flow(): void {
    if (this.delivering > 0 || this.waiting === 0) return;
    // A batch is also bounded in bytes: a delivery over the agent's maxMessageBytes would
    // be refused whole and cut off a peer whose lines are all within maxLineLength.
    const count = this.budget.fits(this.queue, this.head);
    let batch: string[];
    if (this.head === 0 && count === this.queue.length) {
      batch = this.queue;
      this.queue = [];
    } else {
      batch = this.queue.slice(this.head, this.head + count);
      this.head += count;
      if (this.head === this.queue.length) this.dropPending();
      // Lines handed on are let go of once they are the larger part: linear work overall.
      else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    }
    this.delivering = batch.length;
    this.handOn(batch, this.settled);
  }

  protected dropPending(): void {
    this.queue = [];
    this.head = 0;
  }

  /** Lines received and not yet handed on. */
  private get waiting(): number {
    return this.queue.length - this.head;
  }

  private readonly settled = (ok: boolean): void => {
    this.delivering = 0;
    if (!ok) return;
    if (this.queueFull && this.waiting <= this.settings.highWaterMark / 2) {
      this.queueFull = false;
      this.syncReading();
    }
    this.advance();
  };

  /** Reads while neither the protocol's queue nor the socket's write buffer is full; once ending, reading is `closeGracefully`'s. */
  private syncReading(): void {
    if (this.ending || this.ended) return;
    const pause = this.queueFull || !this.socketWritable;
    if (pause === this.readingPaused) return;
    this.readingPaused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  private received(chunk: Buffer): void {
    if (this.ending || this.ended) return;
    const { lines, error } = this.receiver.push(chunk);
    if (lines.length > 0) {
      if (this.waiting === 0) {
        this.queue = lines;
        this.head = 0;
      } else for (const line of lines) this.queue.push(line);
    }
    if (error) {
      // Lines before the bad one are still delivered (as Twisted would have), then the
      // connection closes; nothing more is read.
      this.events.failed(error);
      this.requestClose(error, true);
    } else if (!this.queueFull && this.waiting + this.delivering > this.settings.highWaterMark) {
      this.queueFull = true;
      this.syncReading();
    }
    this.advance();
  }

  private drained(): void {
    if (this.socketWritable) return;
    this.socketWritable = true;
    this.syncReading();
    this.events.writable(true);
  }
}
