/**
 * The transport between threads: a `MessagePort`-like object (a `MessagePort`, a
 * `Worker`, or a worker's `parentPort`). A batch is posted as is; structured clone
 * does the encoding natively, which beats any JS codec for mixed values.
 */
import { checkOptionsObject, invalidArgument, invalidOption } from '../invalid-option.ts';
import type { Batch } from '../wire.ts';
import { cannotRebuild } from '../cannot-rebuild.ts';
import type { Transport, TransportSink } from './transport.ts';

/** The part of `MessagePort` / `Worker` this transport uses. */
export interface PortLike {
  /** Sends one batch to the other end (structured clone); throws if it cannot be cloned. */
  postMessage(value: unknown): void;
  /** Subscribes to the batches that arrive from the other end. */
  on(event: 'message', listener: (value: unknown) => void): unknown;
  /** Subscribes to the port closing (the other end closed it, or its thread exited). */
  on(event: 'close', listener: () => void): unknown;
  /** Subscribes to messages that arrived but could not be deserialized (a `MessagePort` or `Worker` emits these). */
  on(event: 'messageerror', listener: (error: Error) => void): unknown;
  /** Unsubscribes a `'message'` listener (when the transport closes). */
  off(event: 'message', listener: (value: unknown) => void): unknown;
  /** Unsubscribes a `'close'` listener (when the transport closes). */
  off(event: 'close', listener: () => void): unknown;
  /** Unsubscribes a `'messageerror'` listener (when the transport closes). */
  off(event: 'messageerror', listener: (error: Error) => void): unknown;
}

/** What a batch this thread cannot deserialize is called in the error that closes its connection. */
export const LOST_BATCH = 'a batch received (and the calls in it, which are lost)';

/** Moves batches over a `MessagePort`, a `Worker` or a `parentPort`. */
export class PortTransport implements Transport {
  private sink: TransportSink | undefined;
  private closed = false;
  private readonly port: PortLike;
  /** Whether `close()` also closes the port (not for a `Worker`, whose lifetime is the agent's). */
  private readonly ownsPort: boolean;
  /** Whether the port's 'close' event closes the connection (else the owner decides, e.g. on exit). */
  private readonly reportClose: boolean;

  /**
   * Throws a `TypeError` for a `port` without `postMessage`, `on` and `off`, or bad
   * `options`.
   *
   * @param port - A `MessagePort`, a `Worker` or a `parentPort`.
   * @param options - Who owns the port and who decides that the connection closed.
   */
  constructor(
    port: PortLike,
    options: {
      /** Whether `close()` also closes the port (default `true`; `false` for a `Worker`, whose lifetime is its owner's). */
      ownsPort?: boolean;
      /** Whether the port's `'close'` event closes the connection (default `true`; `false`: the owner decides, e.g. on exit). */
      reportClose?: boolean;
    } = {},
  ) {
    if (port === null || typeof port !== 'object' || !['postMessage', 'on', 'off'].every((m) => typeof (port as unknown as Record<string, unknown>)[m] === 'function')) {
      throw invalidArgument(`the port of a PortTransport must be a MessagePort, a Worker or a parentPort (postMessage, on and off methods), got ${port === null ? 'null' : typeof port}`);
    }
    const checked = checkOptionsObject(options, ['ownsPort', 'reportClose']) ?? {};
    for (const option of ['ownsPort', 'reportClose']) {
      if (checked[option] !== undefined && typeof checked[option] !== 'boolean') throw invalidOption(option, 'a boolean', checked[option]);
    }
    this.port = port;
    this.ownsPort = options.ownsPort ?? true;
    this.reportClose = options.reportClose ?? true;
  }

  private readonly handleMessage = (value: unknown): void => {
    if (this.closed || !this.sink) return;
    // Anything that is not a batch is a protocol error for the connection to judge.
    this.sink.onBatch(value as Batch);
  };

  /**
   * A batch arrived that this thread could not deserialize (nested deeper than its stack
   * rebuilds, or a value V8 serializes but will not deserialize here). It is gone, with
   * whatever calls and answers it held, and nothing says which: so the connection closes
   * with a `ProtocolError`, and every call in flight settles with it instead of waiting
   * for ever.
   */
  private readonly handleMessageError = (error: Error): void => {
    if (this.closed) return;
    this.shutdown();
    this.sink?.onClose(cannotRebuild(LOST_BATCH, error));
  };

  private readonly handleClose = (): void => {
    this.shutdown();
    if (this.reportClose) this.sink?.onClose();
  };

  /** Listens to the port's messages and `'close'`, delivering them to `sink` (see {@link Transport.attach}). */
  attach(sink: TransportSink): void {
    this.sink = sink;
    this.port.on('message', this.handleMessage);
    this.port.on('close', this.handleClose);
    this.port.on('messageerror', this.handleMessageError);
  }

  /** Posts `batch` as one message (structured clone); throws if it cannot be cloned (see {@link Transport.send}). Ignored once closed. */
  send(batch: Batch): void {
    if (this.closed) return;
    this.port.postMessage(batch);
  }

  /** Stops listening, and closes the port if it owns it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.shutdown();
    if (this.ownsPort) (this.port as { close?: () => void }).close?.();
  }

  private shutdown(): void {
    this.closed = true;
    this.port.off('message', this.handleMessage);
    this.port.off('close', this.handleClose);
    this.port.off('messageerror', this.handleMessageError);
  }
}
