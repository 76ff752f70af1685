/**
 * The transport between processes: batches as length-prefixed stream frames over a
 * duplex byte stream (a pipe or a Unix socket). The format is documented in
 * `stream-frames.ts`. One {@link StreamLink} owns the stream; each channel of it is a
 * {@link StreamTransport} that an `IpcConnection` can sit on.
 */
import type { Duplex } from 'node:stream';
import { ConnectionClosedError, MessageTooLargeError, ProtocolError } from '../errors.ts';
import { checkOptionsObject, invalidArgument, invalidOption } from '../invalid-option.ts';
import type { Batch } from '../wire.ts';
import { ReadWhileDrained } from './read-while-drained.ts';
import { StreamFrameWriter } from './stream-frame-writer.ts';
import { StreamFrameReader, bodyLimit, decodeStreamBody } from './stream-frames.ts';
import type { Transport, TransportSink } from './transport.ts';

/** Options of a {@link StreamLink}; a bad or unknown one is a `TypeError` (code `ERR_AGENT_IPC_INVALID_ARGUMENT`). */
export interface StreamLinkOptions {
  /** Largest frame body sent or accepted, in bytes: a positive integer (required). */
  maxMessageBytes: number;
  /**
   * Called once when the stream ends (end of file, or a stream error) rather than
   * closing the channels at once; the owner then calls {@link StreamLink.fail} when
   * it knows why (a process agent's launcher waits for the exit status, so calls
   * reject with `AgentExitedError` and not a bare "closed"). Without it, every
   * channel closes right away.
   */
  onEnd?: (error: Error | undefined) => void;
  /**
   * Stop reading the stream while more than 1 MiB this side wrote waits in it (the other
   * end is not reading), and read on once it drained (see `read-while-drained.ts`).
   * Default `false`. For the side that must bound its memory against the other (the
   * node against a process agent), and only one end of a stream: if both ends stopped
   * reading while their writes waited, each could wait for the other for good.
   */
  pauseWhileBacklogged?: boolean;
}

/** A duplex byte stream carrying stream frames on numbered channels. */
export class StreamLink {
  private readonly sinks = new Map<number, TransportSink>();
  private readonly reader: StreamFrameReader;
  private readonly writer: StreamFrameWriter;
  private readonly afterWritesQueue: Array<() => void> = [];
  private pendingWrites = 0;
  private readonly backlog: ReadWhileDrained | undefined;
  private ended = false;
  private closed = false;

  /**
   * Starts reading `stream` at once. Throws a `TypeError` for a `stream` that is not a
   * duplex stream or bad `options`.
   *
   * @param stream - The byte stream to the other end (a socket, a child's stdio pipe).
   * @param options - `maxMessageBytes` (required) and `onEnd`.
   */
  constructor(
    private readonly stream: Duplex,
    private readonly options: StreamLinkOptions,
  ) {
    if (stream === null || typeof stream !== 'object' || typeof stream.on !== 'function' || typeof stream.write !== 'function') {
      throw invalidArgument(`the stream of a StreamLink must be a duplex stream, got ${stream === null ? 'null' : typeof stream}`);
    }
    if (options === undefined) throw invalidOption('options', 'an object with maxMessageBytes', options);
    const checked = checkOptionsObject(options, ['maxMessageBytes', 'onEnd', 'pauseWhileBacklogged'])!;
    if (typeof checked.maxMessageBytes !== 'number' || !Number.isSafeInteger(checked.maxMessageBytes) || checked.maxMessageBytes < 1) {
      throw invalidOption('maxMessageBytes', 'a positive integer number of bytes', checked.maxMessageBytes);
    }
    if (checked.onEnd !== undefined && typeof checked.onEnd !== 'function') throw invalidOption('onEnd', 'a function', checked.onEnd);
    if (checked.pauseWhileBacklogged !== undefined && typeof checked.pauseWhileBacklogged !== 'boolean') throw invalidOption('pauseWhileBacklogged', 'a boolean', checked.pauseWhileBacklogged);
    const backlog = options.pauseWhileBacklogged === true ? new ReadWhileDrained(stream) : undefined;
    this.backlog = backlog;
    const limit = bodyLimit(options.maxMessageBytes);
    this.reader = new StreamFrameReader(limit, this.receiveFrame);
    this.writer = new StreamFrameWriter(limit, {
      write: (frame) => {
        this.pendingWrites++;
        this.stream.write(frame, this.written);
        backlog?.wrote();
      },
    });
    stream.on('data', this.receiveChunk);
    stream.on('end', () => this.end(undefined));
    stream.on('close', () => this.end(undefined));
    stream.on('error', (error) => this.end(new ConnectionClosedError('the stream to the other process failed', { cause: error })));
  }

  /** Whether the stream is gone (ended, failed or closed). */
  get isOpen(): boolean {
    return !this.ended && !this.closed;
  }

  /** Delivers batches of `channel` to `sink` from now on. */
  attach(channel: number, sink: TransportSink): void {
    this.sinks.set(channel, sink);
  }

  /** Stops delivering `channel`; once no channel is left the stream is ended. */
  detach(channel: number): void {
    if (!this.sinks.delete(channel) || this.sinks.size > 0 || this.closed) return;
    this.closed = true;
    this.stream.end();
  }

  /**
   * Writes `batch` on `channel` as one frame, one `write`. Throws, having written
   * nothing, if the batch cannot be serialized at all (a function, a symbol) or is over
   * the size limit (`MessageTooLargeError`), as a `Transport` may: the connection then
   * sends its frames one by one and fails only those that do not go.
   */
  send(channel: number, batch: Batch): void {
    if (this.isOpen) this.writer.send(channel, batch);
  }

  /** Runs `callback` once everything written so far has been handed to the OS. */
  afterWrites(callback: () => void): void {
    if (this.pendingWrites === 0 || !this.isOpen) callback();
    else this.afterWritesQueue.push(callback);
  }

  /** Closes every channel with `error` and destroys the stream. Idempotent. */
  fail(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.off('data', this.receiveChunk);
    this.backlog?.dispose();
    // A frame cut short (or refused) is not kept alive by whoever still holds this link's errors.
    this.reader.clear();
    this.stream.destroy();
    const sinks = [...this.sinks.values()];
    this.sinks.clear();
    for (const sink of sinks) sink.onClose(error);
    this.runAfterWrites();
  }

  private readonly written = (): void => {
    if (--this.pendingWrites === 0) this.runAfterWrites();
  };

  private runAfterWrites(): void {
    for (const callback of this.afterWritesQueue.splice(0)) callback();
  }

  private readonly receiveChunk = (chunk: Buffer): void => {
    try {
      this.reader.push(chunk);
    } catch (error) {
      this.fail(error instanceof MessageTooLargeError || error instanceof ProtocolError ? error : new ProtocolError('unreadable stream', { cause: error }));
    }
  };

  private readonly receiveFrame = (channel: number, body: Buffer): void => {
    if (this.closed) return;
    const sink = this.sinks.get(channel);
    if (!sink) throw new ProtocolError(`received a stream frame on unknown channel ${channel}`);
    sink.onBatch(decodeStreamBody(body) as Batch);
  };

  private end(error: Error | undefined): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    this.runAfterWrites();
    if (this.options.onEnd) this.options.onEnd(error);
    else this.fail(error);
  }
}

/** One channel of a {@link StreamLink}, as a {@link Transport}. */
export class StreamTransport implements Transport {
  /** Channel `channel` (an integer from 0 to 255, the frame header's byte) of `link`. */
  constructor(
    private readonly link: StreamLink,
    private readonly channel: number,
  ) {
    if (!(link instanceof StreamLink)) throw invalidArgument('the link of a StreamTransport must be a StreamLink');
    if (!Number.isInteger(channel) || channel < 0 || channel > 255) throw invalidArgument(`the channel of a StreamTransport must be an integer from 0 to 255, got ${String(channel)}`);
  }

  /** Delivers this channel's batches to `sink` (see {@link Transport.attach}). */
  attach(sink: TransportSink): void {
    this.link.attach(this.channel, sink);
  }

  /** Writes `batch` as one frame on this channel; throws, having written nothing, if it cannot be serialized or is too large (see {@link StreamLink.send}). */
  send(batch: Batch): void {
    this.link.send(this.channel, batch);
  }

  /** Stops this channel; the stream ends once no channel is left (see {@link StreamLink.detach}). */
  close(): void {
    this.link.detach(this.channel);
  }
}
