/**
 * The agent's side of the reverse mailbox (see `reverse-mailbox.ts`): serves the node's
 * blocking calls (`agent.blocking.x()`) on the agent's event loop. It waits with
 * `Atomics.waitAsync`, never parking the agent's thread, so the agent's method may be
 * async and the agent keeps serving its async calls meanwhile. After a synchronous answer
 * it spins for the node's next request only while that has been paying (a burst), and
 * yields to its event loop at least every {@link AGENT_TURN_BUDGET_MS}.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ByteArea, decode, encodeInto, encodeToNewBuffer } from '../codec.ts';
import { serializeError } from '../error-codec.ts';
import { DataCloneError, MessageTooLargeError, ProtocolError } from '../errors.ts';
import { isPromiseLike } from '../promise-like.ts';
import { Flag, Phase, phaseOf, seqOf, stateWord, type SideMessage } from './mailbox.ts';
import { CALL_AREA_OFFSET, REVERSE_AREA_BYTES, RSlot, SpinGate, reverseHeader, ringDoorbell } from './reverse-mailbox.ts';

/** Longest stretch the agent serves a burst of the node's calls before its event loop runs. */
export const AGENT_TURN_BUDGET_MS = 1;

/** What the server needs from the agent runtime. */
export interface AgentServerOptions {
  /** Runs the agent's method `command` (throws, or returns a value or a promise). */
  dispatch(command: string, payload: unknown): unknown;
  /** Resolves once the node's async request `fence` has started here (`undefined`: it has). */
  asyncCallsStarted(fence: number): Promise<void> | undefined;
  /** Largest answer body the node accepts. */
  maxMessageBytes: number;
}

/** Serves the node's blocking calls into one agent. */
export class AgentServer {
  private readonly header: Int32Array;
  private readonly area: ByteArea;
  // Long enough to cover the node's own wake-up and its next request, which is how a burst
  // gets going: once the node finds the agent awake it spins too, and calls take microseconds.
  private readonly gate = new SpinGate(0.1);

  private closed = false;
  private parkedOn: number | undefined;

  constructor(
    memory: SharedArrayBuffer,
    private readonly sidePort: MessagePort,
    private readonly options: AgentServerOptions,
  ) {
    this.header = reverseHeader(memory);
    this.area = new ByteArea(memory, CALL_AREA_OFFSET, REVERSE_AREA_BYTES);
  }

  /** Starts serving. */
  start(): void {
    this.poll();
  }

  /** Stops serving (the agent is going down). */
  stop(): void {
    this.closed = true;
  }

  private readonly requestPending = (): boolean => phaseOf(Atomics.load(this.header, RSlot.STATE)) === Phase.REQUEST;

  private readonly poll = (): void => {
    if (this.closed) return;
    Atomics.store(this.header, RSlot.SERVER_PARKED, 0);
    const turnEnd = performance.now() + AGENT_TURN_BUDGET_MS;
    for (;;) {
      const word = Atomics.load(this.header, RSlot.STATE);
      const phase = phaseOf(word);
      if (phase === Phase.CLOSED) return;
      if (phase !== Phase.REQUEST) {
        if (this.park(word)) return;
        continue;
      }
      if (!this.serve(word)) {
        // An async method runs; watch for a next request meanwhile (the node may give up on this one).
        if (this.park(Atomics.load(this.header, RSlot.STATE))) return;
        continue;
      }
      if (performance.now() > turnEnd) {
        setImmediate(this.poll);
        return;
      }
      // A burst: the node's next request usually follows within microseconds.
      if (this.gate.shouldSpin()) this.gate.spin(this.requestPending);
    }
  };

  /** Waits on the event loop until STATE leaves `word`; false if it already has. */
  private park(word: number): boolean {
    Atomics.store(this.header, RSlot.SERVER_PARKED, 1);
    if (Atomics.load(this.header, RSlot.STATE) !== word) {
      Atomics.store(this.header, RSlot.SERVER_PARKED, 0);
      return false;
    }
    if (this.parkedOn === word) return true;
    const result = Atomics.waitAsync(this.header, RSlot.STATE, word);
    if (!result.async) {
      Atomics.store(this.header, RSlot.SERVER_PARKED, 0);
      return false;
    }
    this.parkedOn = word;
    void result.value.then(() => {
      if (this.parkedOn === word) this.parkedOn = undefined;
      this.poll();
    });
    return true;
  }

  /** Serves the request in `word`; true if it was answered synchronously. */
  private serve(word: number): boolean {
    const { header } = this;
    const seq = seqOf(word);
    if (Atomics.compareExchange(header, RSlot.STATE, word, stateWord(seq, Phase.CLAIMED)) !== word) return true;
    const fence = header[RSlot.FENCE]!;
    let request: unknown;
    try {
      request = this.readRequest(seq);
    } catch (error) {
      Atomics.store(header, RSlot.STATE, stateWord(seq, Phase.SERVING));
      this.answer(seq, new ProtocolError('unreadable blocking request from the node', { cause: error }), true);
      return true;
    }
    Atomics.store(header, RSlot.STATE, stateWord(seq, Phase.SERVING));
    if (!Array.isArray(request) || request.length !== 2 || typeof request[0] !== 'string') {
      this.answer(seq, new ProtocolError('malformed blocking request from the node'), true);
      return true;
    }
    const [command, payload] = request as [string, unknown];
    const started = this.options.asyncCallsStarted(fence);
    if (started) {
      started.then(
        () => {
          if (this.run(seq, command, payload)) this.poll();
        },
        (error: unknown) => this.answer(seq, error, true),
      );
      return false;
    }
    return this.run(seq, command, payload);
  }

  private run(seq: number, command: string, payload: unknown): boolean {
    let result: unknown;
    try {
      result = this.options.dispatch(command, payload);
    } catch (error) {
      this.answer(seq, error, true);
      return true;
    }
    if (isPromiseLike(result)) {
      result.then(
        (value) => {
          this.answer(seq, value, false);
          this.poll();
        },
        (error: unknown) => {
          this.answer(seq, error ?? new Error('rejected without a reason'), true);
          this.poll();
        },
      );
      return false;
    }
    this.answer(seq, result, false);
    return true;
  }

  private readRequest(seq: number): unknown {
    const { header } = this;
    if (header[RSlot.FLAGS]! & Flag.VIA_PORT) {
      for (;;) {
        const received = receiveMessageOnPort(this.sidePort);
        if (!received) throw new ProtocolError('blocking request body missing from the side port');
        const message = received.message as SideMessage;
        if (message?.seq !== seq) continue; // left behind by a call the node gave up on
        const { body } = message;
        return decode(new ByteArea(body.buffer, body.byteOffset, body.byteLength), 0, body.byteLength, true);
      }
    }
    return decode(this.area, 0, header[RSlot.LENGTH]!);
  }

  /** Writes the answer unless the node gave up on `seq`, then rings the node. */
  private answer(seq: number, value: unknown, isError: boolean): void {
    const { header } = this;
    const serving = stateWord(seq, Phase.SERVING);
    if (Atomics.compareExchange(header, RSlot.STATE, serving, stateWord(seq, Phase.WRITING)) !== serving) return;
    let flags = isError ? Flag.ERROR : 0;
    let body = isError ? serializeError(value) : value;
    let end: number;
    try {
      end = encodeInto(body, this.area, 0);
    } catch (error) {
      flags = Flag.ERROR;
      body = serializeError(new DataCloneError('the result of the blocking call', { cause: error }));
      end = encodeInto(body, this.area, 0);
    }
    if (end < 0) {
      const bytes = encodeToNewBuffer(body);
      if (bytes.length > this.options.maxMessageBytes) {
        flags = Flag.ERROR;
        end = encodeInto(serializeError(new MessageTooLargeError('blocking call answer', bytes.length, this.options.maxMessageBytes)), this.area, 0);
      } else {
        this.sidePort.postMessage({ seq, body: bytes } satisfies SideMessage, [bytes.buffer as ArrayBuffer]);
        flags |= Flag.VIA_PORT;
        end = 0;
      }
    }
    // Plain writes, published by the STATE store (see "Memory order" in mailbox.ts).
    header[RSlot.LENGTH] = end;
    header[RSlot.FLAGS] = flags;
    Atomics.store(header, RSlot.STATE, stateWord(seq, Phase.RESPONSE));
    ringDoorbell(header);
  }
}
