/**
 * The body of a blocking call or of its answer, written by one side of a mailbox and read
 * by the other: into the mailbox's byte area when it fits, else as a transferred buffer
 * on the mailbox's side port, tagged with the call's sequence number (a body left behind
 * by a call that was given up is recognised by its tag, and skipped or dropped). One implementation
 * for every mailbox — the forward one (agent → node), the reverse one (node → agent) and
 * its call-back slot — so a size limit or an error rule is the same in every direction.
 *
 * Bodies are written before the phase that publishes them (a CAS or store on the state
 * word, see "Memory order" in mailbox.ts); the caller of these functions does that.
 */
import type { MessagePort } from 'node:worker_threads';
import { receiveMessageOnPort } from 'node:worker_threads';
import { ByteArea, decode, decodeCall, encodeCallInto, encodeInto, encodeToNewBuffer } from './value-codec.ts';
import { deserializeError, serializeError, type WireError } from '../error-codec.ts';
import { DataCloneError, MessageTooLargeError, ProtocolError } from '../errors.ts';
import { payloadBytes, wireErrorTooLarge } from '../payload-size.ts';
import { Flag, seqIsAfter, type SideMessage } from './mailbox.ts';
import { cannotRebuild } from '../cannot-rebuild.ts';

/** A byte area a body is written into: growable (the forward mailbox's) or fixed. */
export interface BodyArea {
  /** The area, holding at least `end` bytes if the buffer does (a growable area is re-read only then). */
  current(end?: number): ByteArea;
  /** Encodes `value` at the area's start; the end offset, or -1 if it does not fit (within `limit`, for an area that grows). */
  encode(value: unknown, limit: number): number;
}

/** A byte area of fixed size (the reverse mailbox's call and call-back areas). */
export class FixedArea implements BodyArea {
  constructor(private readonly area: ByteArea) {}
  current(): ByteArea {
    return this.area;
  }
  encode(value: unknown): number {
    return encodeInto(value, this.area, 0);
  }
}

/** Where a body went: its end in the area (0 when on the side port) and the FLAGS bits that say so. */
export interface WrittenBody {
  end: number;
  flags: number;
}

/**
 * Writes the request of blocking call `command` (`[command, payload]`). Throws, and
 * sends nothing, if an argument cannot be encoded (`DataCloneError`) or the body is
 * larger than `limit` (`MessageTooLargeError`): the call fails before it starts.
 */
export function writeRequest(area: BodyArea, sidePort: MessagePort, seq: number, command: string, payload: unknown, limit: number): WrittenBody {
  // The common shape first (value-codec.ts, "The call envelope"): the same bytes, sooner.
  const fast = encodeCallInto(command, payload, area.current());
  if (fast >= 0 && fast <= limit) return { end: fast, flags: 0 };
  const request: unknown[] = [command, payload];
  let end: number;
  try {
    end = area.encode(request, limit);
  } catch (error) {
    throw error instanceof DataCloneError ? new DataCloneError(`an argument of blocking call '${command}'`, { cause: error.cause }) : error;
  }
  if (end > limit) throw new MessageTooLargeError(`blocking call '${command}' request`, end, limit);
  if (end >= 0) return { end, flags: 0 };
  const body = encodeToNewBuffer(request);
  if (body.length > limit) throw new MessageTooLargeError(`blocking call '${command}' request`, body.length, limit);
  sidePort.postMessage({ seq, body } satisfies SideMessage, [body.buffer as ArrayBuffer]);
  return { end: 0, flags: Flag.VIA_PORT };
}

/** Where an answer went, and the error that replaced it if it could not be sent as given. */
export interface WrittenAnswer extends WrittenBody {
  /**
   * The `DataCloneError` or `MessageTooLargeError` the caller gets instead of the value
   * (or error) it was given, or `undefined`: the server reports the call's outcome with
   * it, since that is what the caller sees.
   */
  replaced: Error | undefined;
}

/**
 * Writes the answer to call `seq`: `value`, or the error `value` when `isError`. Never
 * throws: an answer that cannot be encoded becomes a `DataCloneError` answer, one larger
 * than `limit` a `MessageTooLargeError` answer, so the caller always gets an outcome;
 * `replaced` says so.
 */
export function writeAnswer(area: BodyArea, sidePort: MessagePort, seq: number, value: unknown, isError: boolean, limit: number): WrittenAnswer {
  let flags = isError ? Flag.ERROR : 0;
  let body = isError ? serializeError(value) : value;
  let replaced: Error | undefined;
  let end: number;
  try {
    end = area.encode(body, limit);
  } catch (error) {
    replaced = new DataCloneError('the result of the blocking call', { cause: error });
    flags = Flag.ERROR;
    body = serializeError(replaced);
    end = area.encode(body, Number.MAX_SAFE_INTEGER);
  }
  if (end >= 0 && end <= limit) return { end, flags, replaced };
  // Too big for the area (even grown): a transferred buffer on the side port, no copy on arrival.
  let bytes: Uint8Array | undefined;
  if (end < 0) {
    try {
      bytes = encodeToNewBuffer(body);
    } catch (error) {
      // The area ran out before the encoder reached the part it cannot clone (a function
      // after 64 KiB of text): the same DataCloneError answer as a value that fits.
      return writeReplaced(area, new DataCloneError('the result of the blocking call', { cause: error }));
    }
  }
  const size = bytes ? bytes.length : end;
  if (!bytes || size > limit) return writeReplaced(area, new MessageTooLargeError('blocking call answer', size, limit));
  sidePort.postMessage({ seq, body: bytes } satisfies SideMessage, [bytes.buffer as ArrayBuffer]);
  return { end: 0, flags: flags | Flag.VIA_PORT, replaced };
}

/*
 * An inline agent's blocking calls hand their requests and answers over as they are,
 * both ways (`main.blocking.x()` and the node's answer, `agent.blocking.x()` and the
 * agent's): nothing is encoded, so nothing measures them. `maxMessageBytes` holds for
 * them all the same, as one option that does not change with the isolation: a request
 * or an answer a thread or process agent would refuse (`writeRequest`, `writeAnswer`
 * above) is refused with the same error. Measured by
 * the estimate every async answer is held to (`payloadBytes`: strings and byte arrays at
 * the top and one level down, a lower bound of the encoded size), so the size in the
 * message is that estimate, not an encoded length.
 */

/**
 * The `MessageTooLargeError` the caller gets instead of an answer handed over without
 * encoding (an inline agent's blocking call), if its estimated size is over `limit`.
 * Only an object or a string can be (the caller tests that first: a number, a boolean or
 * `undefined` costs it a type check, nothing more).
 */
export function directAnswerTooLarge(value: unknown, limit: number): MessageTooLargeError | undefined {
  const size = payloadBytes(value);
  return size > limit ? new MessageTooLargeError('blocking call answer', size, limit) : undefined;
}

/**
 * The estimated size of a blocking call's request handed over without encoding (an
 * inline agent's, either way): `payload` is its arguments (an array the call's stub
 * built) or the bytes of a byte-layer call. What `payloadBytes` counts for a payload, a
 * lower bound of the encoded size. At most 64 arguments are measured, as `payloadBytes`
 * looks at 64 elements.
 *
 * Split in two for an inline call's path (~35 ns a call, most of it what V8 inlines: see
 * docs/blocking-calls.md, "Hot paths"): this part only looks for an argument that could
 * be large (a string or an object), and arguments that are all numbers, booleans or
 * `undefined` measure 0 without adding anything up. Measured with `bench/inline-ab.ts`
 * (14 rounds, one process per build, a quiet machine), a call with two number
 * arguments: Node.js 20 37.1 ns split, 40.5 ns with the check in one loop that added up
 * as it went, 35.3 ns with no check at all; Node.js 24 32.1, 32.8 and 29.7 ns. What is
 * left is a type check per argument (docs/reliability.md: over the hardening's 5%).
 */
export function requestBytes(payload: unknown): number {
  if (!Array.isArray(payload)) return payloadBytes(payload);
  for (let i = 0; i < payload.length; i++) {
    const kind = typeof payload[i];
    if (kind === 'string' || kind === 'object') return argumentsBytes(payload);
  }
  return 0;
}

/** {@link requestBytes} once an argument may be large: strings by length, objects by `payloadBytes`, the first 64 arguments. */
function argumentsBytes(payload: unknown[]): number {
  let total = 0;
  const n = payload.length < 64 ? payload.length : 64;
  for (let i = 0; i < n; i++) {
    const arg: unknown = payload[i];
    if (typeof arg === 'string') total += arg.length;
    else if (typeof arg === 'object' && arg !== null) total += payloadBytes(arg);
  }
  return total;
}

/**
 * Refuses a blocking call's request handed over without encoding (an inline agent's,
 * either way) at its call site when its estimated size ({@link requestBytes}) is over
 * `limit`: with the error, message included, that `writeRequest` throws for an encoded
 * request over the limit. The error is built out of line, only then.
 */
export function refuseLargeDirectRequest(command: string, payload: unknown, limit: number): void {
  const size = requestBytes(payload);
  if (size > limit) throw directRequestTooLarge(command, size, limit);
}

function directRequestTooLarge(command: string, size: number, limit: number): MessageTooLargeError {
  return new MessageTooLargeError(`blocking call '${command}' request`, size, limit);
}

/**
 * The same for an error thrown in place of the answer, measured as the record it is sent
 * as (`wireErrorTooLarge`). On the error path only: it serializes the error to measure it.
 */
export function directErrorTooLarge(error: unknown, limit: number): MessageTooLargeError | undefined {
  return wireErrorTooLarge(serializeError(error), limit, 'blocking call answer');
}

/** Writes `error` as the answer, in place of one that could not be sent (it is small: it fits any area). */
function writeReplaced(area: BodyArea, error: Error): WrittenAnswer {
  return { end: area.encode(serializeError(error), Number.MAX_SAFE_INTEGER), flags: Flag.ERROR, replaced: error };
}

/**
 * The most bodies of calls given up that a read of the side port skips (or drops) at a
 * time. An honest side leaves one per call given up while its body was on the port, and
 * they are dropped at the next read; a side that posts as fast as the reader skips would
 * otherwise hold the reader's thread (a parked caller's) in the loop for good.
 */
export const MAX_STALE_SIDE_BODIES = 4096;

/**
 * Reads the body of call `seq` that the other side wrote with `flags` and `end`:
 * decoded from the area, or taken from the side port (skipping bodies of calls given
 * up). `what` names the body in the error thrown if it is missing, after the name of
 * blocking call `call` if given: the text is built only then, not on every call.
 * `maxDecoded`: the heap a v8 body may decode to (see `decode`; `decodeBudget` of the
 * reader's `maxMessageBytes`).
 */
export function readBody(area: BodyArea, sidePort: MessagePort, seq: number, flags: number, end: number, what: string, call?: string, maxDecoded = 0): unknown {
  if (!(flags & Flag.VIA_PORT)) return decode(area.current(end), 0, end, false, maxDecoded);
  return takeFromPort(sidePort, seq, () => (call === undefined ? what : `blocking call '${call}': ${what}`), maxDecoded);
}

/** Takes the body of call `seq` off the side port, skipping (at most {@link MAX_STALE_SIDE_BODIES}) stale bodies before it. */
function takeFromPort(sidePort: MessagePort, seq: number, named: () => string, maxDecoded: number): unknown {
  for (let skipped = 0; ; skipped++) {
    // A side that posts bodies as fast as they are skipped would keep this loop going.
    if (skipped > MAX_STALE_SIDE_BODIES) throw new ProtocolError(`${named()}: more than ${MAX_STALE_SIDE_BODIES} stale bodies on the side port before it`);
    const received = receiveMessageOnPort(sidePort);
    if (!received) throw new ProtocolError(`${named()} missing from the side port`);
    const message = received.message as SideMessage;
    if (message?.seq === seq) return decodeSideBody(message, named, maxDecoded);
  }
}

function decodeSideBody(message: SideMessage, named: () => string, maxDecoded: number): unknown {
  const { body } = message;
  if (!(body instanceof Uint8Array)) throw new ProtocolError(`${named()} on the side port is not a byte array`);
  // The buffer was transferred to this thread: its byte arrays may be shared, not copied.
  return decode(new ByteArea(body.buffer, body.byteOffset, body.byteLength), 0, body.byteLength, true, maxDecoded);
}

/**
 * The reading end of a side port that carries requests: a mailbox server's (forward or
 * reverse), and the parked node's end of the call-back slot's. Besides reading a
 * request's body, it drops the bodies of requests withdrawn before they were claimed, at
 * the two moments it can tell them from a live body (see "Withdrawn bodies on the side
 * port" in mailbox.ts): under the claim of a request ({@link read}), and, for a mailbox,
 * when STATE says the caller withdrew a request and published nothing since
 * ({@link dropWithdrawn}).
 */
export class RequestInbox {
  /**
   * A live body {@link dropWithdrawn} took off the port: a later request's, posted before
   * that request was published. Read before the port; dropped by the next sweep or claim
   * that finds it stale.
   */
  private early: SideMessage | undefined;

  /**
   * @param port - The side port's reading end.
   * @param maxDecoded - The heap a request's v8 body may decode to (see `decode`).
   */
  constructor(
    private readonly port: MessagePort,
    readonly maxDecoded = 0,
  ) {}

  /**
   * Reads the body of request `seq` that the caller wrote with `flags` (VIA_PORT or
   * STALE_BEFORE set: a plain request in the area is `readRequest`'s) and `end`, under
   * the server's claim of it. Nothing can come after it meanwhile (its caller waits for
   * it), so every other body on the port is stale: those before its own are skipped (as
   * any side-port read does), and for a body in the area they are all dropped, at most
   * {@link MAX_STALE_SIDE_BODIES} (more is a `ProtocolError`, as for a read).
   */
  read(area: BodyArea, seq: number, flags: number, end: number, what: string): unknown {
    const named = (): string => what;
    const early = this.early;
    this.early = undefined;
    if (flags & Flag.VIA_PORT) {
      return early !== undefined && early.seq === seq ? decodeSideBody(early, named, this.maxDecoded) : takeFromPort(this.port, seq, named, this.maxDecoded);
    }
    for (let dropped = 0; receiveMessageOnPort(this.port) !== undefined; dropped++) {
      if (dropped >= MAX_STALE_SIDE_BODIES) throw new ProtocolError(`${what}: more than ${MAX_STALE_SIDE_BODIES} stale bodies on the side port before it`);
    }
    return decodeCall(area.current(end), end, this.maxDecoded);
  }

  /**
   * Not under a claim: the caller withdrew request `seq` before it was claimed and has
   * published nothing since (STATE is `seq|IDLE`), so the bodies of `seq` and earlier are
   * stale and are dropped. The caller may already have posted its next request's body
   * (it posts before it publishes): the first body of a later seq stops the sweep and is
   * kept for its request's {@link read} (those behind it are later still). Drops at most
   * {@link MAX_STALE_SIDE_BODIES} at a time, and never blocks.
   */
  dropWithdrawn(seq: number): void {
    if (this.early !== undefined) {
      if (seqIsAfter(this.early.seq, seq)) return;
      this.early = undefined;
    }
    for (let dropped = 0; dropped < MAX_STALE_SIDE_BODIES; dropped++) {
      const received = receiveMessageOnPort(this.port);
      if (received === undefined) return;
      const message = received.message as SideMessage | undefined;
      if (seqIsAfter(message?.seq, seq)) {
        this.early = message;
        return;
      }
    }
  }
}

/**
 * Reads the request of call `seq` (see {@link readBody}); one in the area through the call
 * envelope's reader. One on the side port, or marked STALE_BEFORE, is read by `inbox`
 * (under the server's claim: see {@link RequestInbox.read}).
 */
export function readRequest(area: BodyArea, inbox: RequestInbox, seq: number, flags: number, end: number, what = 'blocking request body'): unknown {
  if (!(flags & (Flag.VIA_PORT | Flag.STALE_BEFORE))) return decodeCall(area.current(end), end, inbox.maxDecoded);
  return inbox.read(area, seq, flags, end, what);
}

/**
 * Reads the answer to call `seq` of blocking call `command`, written with `flags` and
 * `end` (read from the header once the caller saw the answer published): the value, or
 * the server's error rebuilt and thrown (`peerName` names the server in its stack).
 */
export function readAnswer(area: BodyArea, sidePort: MessagePort, seq: number, flags: number, end: number, command: string, peerName: string, maxDecoded = 0): unknown {
  let value: unknown;
  try {
    value = readBody(area, sidePort, seq, flags, end, 'answer body', command, maxDecoded);
  } catch (error) {
    throw cannotRebuild(`the answer to blocking call '${command}'`, error);
  }
  if (flags & Flag.ERROR) throw deserializeError(value as WireError, peerName);
  return value;
}
