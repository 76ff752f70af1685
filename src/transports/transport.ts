/**
 * What a transport is: something that moves whole batches of frames to the other end
 * and hands received batches up. Batching itself happens in the connection; a
 * transport sends what it is given as one message.
 */
import type { Batch } from '../wire.ts';

/** Receives what a transport delivers. */
export interface TransportSink {
  /** A batch arrived from the other end. */
  onBatch(batch: Batch): void;
  /** The transport closed; `error` says why if it was not a normal close. */
  onClose(error?: Error): void;
}

/** Moves batches of frames between two ends. */
export interface Transport {
  /** Starts delivering to `sink`. Called once, by the connection. */
  attach(sink: TransportSink): void;
  /**
   * Sends one batch as one message. Throws synchronously, having sent nothing, if it
   * cannot be serialized or (a transport with a size limit) is too large
   * (`MessageTooLargeError`): the connection then decides what fails, frame by frame.
   */
  send(batch: Batch): void;
  /** Stops sending and receiving; further `send`s are ignored. */
  close(): void;
}
