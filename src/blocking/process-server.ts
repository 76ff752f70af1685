/**
 * The node's side of a process agent's blocking socket (frames in
 * `process-frames.ts`): reads the agent's requests on the node's event loop,
 * runs the same handler a thread agent's mailbox would (through `dispatch`, after the
 * ordering fence), and writes exactly one ANSWER, ERROR or TIMEOUT per request.
 *
 * The node keeps the call's timeout: the agent's thread sleeps in `read`, where no
 * timer of its own can reach it, so when the timeout elapses the node answers TIMEOUT
 * and drops the handler's late result. Closing writes CLOSE, which wakes a parked agent.
 *
 * Everything read here comes from the agent and is untrusted: a frame that is not a
 * request, a body over `maxMessageBytes`, or a second request while one is unanswered
 * breaks the protocol (`onBroken`: the launcher then ends the agent). A request whose
 * body cannot be decoded is answered with a `ProtocolError`, as in a mailbox.
 */
import type { Duplex } from 'node:stream';
import { ByteArea, decodeCall, encodeInto, encodeToNewBuffer } from './value-codec.ts';
import { serializeError } from '../error-codec.ts';
import { DataCloneError, MessageTooLargeError, ProtocolError } from '../errors.ts';
import { isPromiseLike } from '../promise-like.ts';
import { ChunkQueue } from '../transports/chunk-queue.ts';
import { ReadWhileDrained } from '../transports/read-while-drained.ts';
import { FRAME_HEADER_BYTES, FrameKind, readFrameHeader, writeFrameHeader, type FrameHeader } from './process-frames.ts';
import { RunningHandlers, badFence, noBegin, noEnd, type ServedCallHooks, type ServedCallOptions } from './server.ts';
import { isRequestId } from '../wire.ts';
import { FenceWait } from './fence-wait.ts';
import { decodeBudget } from '../decoded-size.ts';

/** Answers up to this size are encoded in a reusable area and leave as one copied buffer. */
const AREA_BYTES = 64 * 1024;

/** The longest delay `setTimeout` keeps (a longer timeout is as good as none). */
const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * What the server needs from the node (the same seam a thread agent's mailbox uses): the
 * call's lifecycle hooks (`begin`, `dispatch`, `end`: see `ServedCallHooks`), and more.
 */
export type ProcessBlockingServerOptions = ServedCallOptions & {
  /**
   * A promise that settles once the agent's async request `fence` has started, or
   * `undefined` if it has. A wait of `owner` (the server) replaces its earlier one, which
   * never settles: the server keeps at most one.
   */
  asyncCallsStarted(fence: number, owner: object): Promise<void> | undefined;
  /** Largest request body accepted and answer body sent. */
  maxMessageBytes: number;
  /** The agent broke the protocol: it is not trusted to go on. */
  onBroken(error: Error): void;
};

/** The request being served: answered at most once, by whichever comes first. */
interface OpenCall {
  seq: number;
  timer: NodeJS.Timeout | undefined;
}

/** The token of an answer no handler ran for (unreadable, malformed, a failed fence, a TIMEOUT): its end is not reported. */
const NOT_BEGUN: unique symbol = Symbol('not begun');

/** Serves one process agent's blocking calls on the node's end of its blocking socket. */
export class ProcessBlockingServer {
  private readonly area = new ByteArea(new ArrayBuffer(AREA_BYTES));
  private readonly queue = new ChunkQueue();
  /** The header of the frame being read, once complete. */
  private header: FrameHeader | undefined;
  private open: OpenCall | undefined;
  /** The heap a request's v8 body may decode to (`decodeBudget` of `maxMessageBytes`), worked out once. */
  private readonly maxDecoded: number;
  /**
   * The open call while it waits for its ordering fence: answering it otherwise (TIMEOUT,
   * close) forgets it with its payload, even if the fence never comes (see fence-wait.ts).
   */
  private readonly fenceWait: FenceWait<OpenCall>;
  private closed = false;
  /** The call lifecycle's hooks (no-ops if not given). */
  private readonly begin: ServedCallHooks['begin'];
  private readonly end: ServedCallHooks['end'];
  /** Answers the agent does not read stop the node from reading its requests (see read-while-drained.ts). */
  private readonly backlog: ReadWhileDrained;
  /** Handlers still running (see `ServedCallOptions.maxRunning`). */
  private readonly running: RunningHandlers;

  constructor(
    private readonly socket: Duplex,
    private readonly options: ProcessBlockingServerOptions,
  ) {
    this.begin = options.begin ?? noBegin;
    this.end = options.end ?? noEnd;
    this.maxDecoded = decodeBudget(options.maxMessageBytes);
    this.running = new RunningHandlers(options.maxRunning);
    this.fenceWait = new FenceWait<OpenCall>(
      (fence, owner) => options.asyncCallsStarted(fence, owner),
      this,
      (call, command, payload) => this.run(call, command, payload),
      (call, error) => this.answer(call, FrameKind.ERROR, error, NOT_BEGUN),
    );
    socket.on('data', this.receive);
    this.backlog = new ReadWhileDrained(socket);
  }

  /**
   * Stops answering: CLOSE wakes an agent parked in a call (or fails its next one), a
   * call in progress is not answered, later requests are ignored. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.open?.timer);
    this.open = undefined;
    this.fenceWait.forget();
    this.socket.off('data', this.receive);
    this.backlog.dispose();
    this.queue.clear();
    const frame = Buffer.alloc(FRAME_HEADER_BYTES);
    writeFrameHeader(frame, 0, FrameKind.CLOSE, 0);
    this.send(frame);
  }

  private readonly receive = (chunk: Buffer): void => {
    this.queue.push(chunk);
    while (!this.closed) {
      if (!this.header) {
        if (this.queue.length < FRAME_HEADER_BYTES) return;
        const header = readFrameHeader(this.queue.take(FRAME_HEADER_BYTES), 0);
        if (header.kind !== FrameKind.REQUEST) return this.break(new ProtocolError(`blocking socket: a frame of kind ${header.kind} from the agent`));
        if (header.bodyLength > this.options.maxMessageBytes) {
          return this.break(new MessageTooLargeError('blocking call request', header.bodyLength, this.options.maxMessageBytes));
        }
        this.header = header;
      }
      if (this.queue.length < this.header.bodyLength) return;
      const header = this.header;
      this.header = undefined;
      this.request(header, this.queue.take(header.bodyLength));
    }
  };

  private request(header: FrameHeader, body: Buffer): void {
    if (this.open) return this.break(new ProtocolError('blocking socket: a second request before the first was answered'));
    const call: OpenCall = { seq: header.seq, timer: undefined };
    this.open = call;
    if (header.timeoutMs > 0) {
      call.timer = setTimeout(() => this.answer(call, FrameKind.TIMEOUT, undefined, NOT_BEGUN), Math.min(header.timeoutMs, MAX_TIMER_MS));
    }
    let request: unknown;
    try {
      request = decodeCall(new ByteArea(body.buffer, body.byteOffset, body.length), body.length, this.maxDecoded);
    } catch (error) {
      return this.answer(call, FrameKind.ERROR, new ProtocolError('unreadable blocking request', { cause: error }), NOT_BEGUN);
    }
    if (!Array.isArray(request) || request.length !== 2 || typeof request[0] !== 'string') {
      return this.answer(call, FrameKind.ERROR, new ProtocolError('malformed blocking request'), NOT_BEGUN);
    }
    // The agent wrote the fence (the id of its last async request): one AND and a compare.
    if (!isRequestId(header.fence)) return this.answer(call, FrameKind.ERROR, badFence('the agent', header.fence), NOT_BEGUN);
    const [command, payload] = request as [string, unknown];
    const started = this.options.asyncCallsStarted(header.fence, this);
    if (!started) return this.run(call, command, payload);
    // Async calls sent before this one are still on the other socket: start them first.
    this.fenceWait.hold(call, header.fence, command, payload, started);
  }

  /**
   * Whether a call waits for its ordering fence (for tests).
   *
   * @internal
   */
  get waitingForFence(): boolean {
    return this.fenceWait.key !== undefined;
  }

  /** Begins the call, runs its handler and answers it (the token is this call's: see `ServedCallHooks`). */
  private run(call: OpenCall, command: string, payload: unknown): void {
    if (call !== this.open) return;
    const refused = this.running.refusal();
    if (refused) return this.answer(call, FrameKind.ERROR, refused, NOT_BEGUN);
    const token = this.begin(command);
    let result: unknown;
    try {
      result = this.options.dispatch(command, payload, token);
    } catch (error) {
      return this.answer(call, FrameKind.ERROR, error, token);
    }
    if (!isPromiseLike(result)) return this.answer(call, FrameKind.ANSWER, result, token);
    const settled = this.running.started();
    result.then(
      (value) => {
        settled();
        this.answer(call, FrameKind.ANSWER, value, token);
      },
      (error: unknown) => {
        settled();
        this.answer(call, FrameKind.ERROR, error, token);
      },
    );
  }

  /**
   * Writes the one answer of `call`, unless it already has one (then this one is
   * dropped), and ends the call begun with `token` with the outcome the agent sees.
   */
  private answer(call: OpenCall, kind: number, value: unknown, token: unknown): void {
    if (call !== this.open) {
      // Answered TIMEOUT already (the handler's outcome stands) or the server closed.
      if (token !== NOT_BEGUN) this.end(token, this.closed ? 'closed' : kind === FrameKind.ERROR ? 'error' : 'ok', kind === FrameKind.ERROR ? value : undefined);
      return;
    }
    const replaced = this.write(call, kind, value);
    if (token === NOT_BEGUN) return;
    if (replaced !== undefined) this.end(token, 'error', replaced);
    else if (kind === FrameKind.ERROR) this.end(token, 'error', value);
    else this.end(token, 'ok', undefined);
  }

  /** Writes `call`'s answer; the error the agent gets instead of `value`, if it could not be sent as given. */
  private write(call: OpenCall, kind: number, value: unknown): Error | undefined {
    this.open = undefined;
    clearTimeout(call.timer);
    // Answered otherwise (TIMEOUT) while it waited for its fence: the wait is over.
    if (this.fenceWait.key !== undefined) this.fenceWait.forget();
    let body: unknown = kind === FrameKind.ERROR ? serializeError(value) : value;
    if (kind === FrameKind.TIMEOUT) {
      const frame = Buffer.alloc(FRAME_HEADER_BYTES);
      writeFrameHeader(frame, 0, kind, call.seq);
      this.send(frame);
      return undefined;
    }
    let replaced: Error | undefined;
    let end: number;
    try {
      end = encodeInto(body, this.area, FRAME_HEADER_BYTES);
    } catch (error) {
      kind = FrameKind.ERROR;
      replaced = new DataCloneError('the result of the blocking call', { cause: error });
      body = serializeError(replaced);
      end = encodeInto(body, this.area, FRAME_HEADER_BYTES);
    }
    let large: Uint8Array | undefined;
    if (end < 0) large = encodeToNewBuffer(body);
    const size = large ? large.length : end - FRAME_HEADER_BYTES;
    if (size > this.options.maxMessageBytes) {
      kind = FrameKind.ERROR;
      large = undefined;
      replaced = new MessageTooLargeError('blocking call answer', size, this.options.maxMessageBytes);
      end = encodeInto(serializeError(replaced), this.area, FRAME_HEADER_BYTES);
    }
    if (large) {
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      writeFrameHeader(header, large.length, kind, call.seq);
      // One writev for both: no copy of the body.
      this.socket.cork();
      this.send(header);
      this.send(large);
      this.socket.uncork();
      return replaced;
    }
    const frame = Buffer.allocUnsafe(end);
    frame.set(this.area.bytes.subarray(FRAME_HEADER_BYTES, end), FRAME_HEADER_BYTES);
    writeFrameHeader(frame, end - FRAME_HEADER_BYTES, kind, call.seq);
    this.send(frame);
    return replaced;
  }

  private send(bytes: Uint8Array): void {
    // The agent may be gone already: its exit is reported elsewhere.
    if (!this.socket.writable) return;
    this.socket.write(bytes);
    this.backlog.wrote();
  }

  private break(error: Error): void {
    this.close();
    this.options.onBroken(error);
  }
}
