/**
 * The blocking mailbox: one `SharedArrayBuffer` per agent thread, shared by the agent
 * (the caller, which parks in `Atomics.wait`) and the node (the server, which answers on
 * its event loop). The reverse mailbox (`reverse-mailbox.ts`, the node blocking on an
 * agent) reuses this header's first six slots and this phase machine with the roles
 * swapped, and both are served by the same `MailboxServer` (server.ts).
 *
 * Layout: a 64-byte header of int32 slots, then the byte area.
 *
 * | slot   | meaning                                                          |
 * |--------|------------------------------------------------------------------|
 * | STATE  | `seq << 3 | phase` — one word, so every transition is one CAS     |
 * | LENGTH | end offset of the encoded request or answer in the byte area     |
 * | FLAGS  | answer: bit 0 error; request/answer: bit 1 body on the side port; request: bit 2 withdrawn bodies may be on the side port before it |
 * | FENCE  | request: id of the agent's last async request sent before it     |
 * | SERVER_PARKED | 1 while the node does not watch this mailbox (asleep, or between turns) |
 * | CALLER_PARKED | 1 while the agent sleeps in `Atomics.wait`                     |

 * Phases of one call (who moves it):
 *
 *     IDLE ─agent→ REQUEST ─node→ SERVING ─node→ WRITING ─node→ RESPONSE ─agent→ (next REQUEST)
 *                     │  └─node→ CLAIMED ─node→ ┘ (a body on the side port, or STALE_BEFORE)
 *                     └─agent (timeout)→ IDLE      SERVING ─agent (timeout)→ ABANDONED
 *     any ─node (close)→ CLOSED
 *
 * The node decodes a request in the byte area *before* it claims it, with one CAS
 * `seq|REQUEST → seq|SERVING`: the agent writes the area only after moving STATE off its
 * request (a timeout's `REQUEST → IDLE`), so a claim that succeeds proves the bytes read
 * were the request's, and one that fails drops them. A body on the side port is claimed
 * first (CLAIMED), since reading takes it off the port (and so is a request marked
 * STALE_BEFORE, see below). Once SERVING the byte area is
 * free and a timed-out agent may move on. The node writes an answer only after winning the
 * CAS `seq|SERVING → seq|WRITING`; a late answer to an abandoned call loses that CAS
 * and is dropped, so the next call always reads its own answer. A body larger than the
 * byte area makes its writer grow the area (up to MAX_AREA_BYTES); larger still, it
 * travels as a transferred `ArrayBuffer` on the mailbox's side port, read synchronously
 * with `receiveMessageOnPort`.
 *
 * Withdrawn bodies on the side port. A request withdrawn before the server claimed it
 * (REQUEST → IDLE) leaves its side-port body, if it had one, on the server's end of the
 * port, where the server may not simply drain it: the caller posts its next body *before*
 * the CAS that publishes it, so at any moment the port may also hold a live body the
 * server has not seen the request of. The server drops stale bodies only where it can
 * tell them apart (`RequestInbox` in mailbox-body.ts):
 *
 * - under its claim of a request: the caller is waiting for that call and posts nothing
 *   more, so every body but the request's own is stale. The caller marks its next request
 *   STALE_BEFORE after such a withdrawal (until a request is claimed), and the server
 *   claims a marked request first (CLAIMED, as a body on the port) even when its body is
 *   in the area, then drops the bodies before it. An unmarked request in the area, the
 *   hot path, costs nothing more: the mark is one more bit in the FLAGS test it made.
 * - when it sees `seq|IDLE` (the caller withdrew `seq` and has published nothing since):
 *   bodies of `seq` or earlier are stale, a later one is the next request's, posted early
 *   (the port is FIFO and the caller's seqs grow); it is kept aside and read first when
 *   its request is claimed. So a withdrawn body does not wait for a next request either.
 *
 * Waking: each side notifies the other only when the other is parked. A side sets its
 * PARKED flag before it re-checks STATE and waits, and the other side changes STATE
 * before it reads the flag, so (all accesses being sequentially consistent) a wake-up is
 * never lost, and a spinning side is not disturbed by notifications it does not need.
 *
 * Memory order: LENGTH, FLAGS and FENCE are plain (non-atomic) reads and writes. The
 * writer sets them before its atomic store or CAS of STATE, and the reader reads them
 * after its atomic load of STATE has seen that store; JavaScript's memory model makes
 * them visible then, without a full fence per slot. A body on the side port is posted
 * before that CAS too (`postMessage` queues it on the reader's end at once), so a reader
 * that has seen the request finds its body; and the port keeps the order of posting,
 * which the sweep of withdrawn bodies relies on (above).
 *
 * Spinning (see spin-budget.ts for how each wait learns whether spinning pays): SERVER_PARKED
 * is 0 only while the node watches this mailbox — in its poll loop, serving or spinning
 * for the next request — and 1 while it sleeps on its event loop or has yielded a turn.
 * The agent spins for an answer only while it is 0: a node that must first be woken
 * takes longer than a spin worth doing, and the waking thread may need the spinner's
 * core. The node spins after an answer only when its policy says so, with one policy for
 * an agent that was spinning (CALLER_PARKED = 0 when answered) and one for an agent it had
 * to wake; never while another mailbox on its thread has a request waiting.
 */

import { ByteArea, encodeInto, type Shortfall } from './value-codec.ts';
import type { ServedMailbox } from './server.ts';

/** Header slot indexes (int32). */
export const Slot = { STATE: 0, LENGTH: 1, FLAGS: 2, FENCE: 3, SERVER_PARKED: 4, CALLER_PARKED: 5 } as const;

/** Bytes before the byte area. */
export const HEADER_BYTES = 64;

/** Size of the byte area at first. */
export const DEFAULT_AREA_BYTES = 64 * 1024;

/**
 * Largest the byte area grows to (a growable `SharedArrayBuffer`: address space is
 * reserved, memory is committed only as it grows). A body up to this size is written
 * straight into shared memory and read from it: one copy each way, no message. Larger
 * bodies go through the side port. An area never shrinks, so an agent that once moved
 * a 4 MiB body keeps 4 MiB; the cap bounds that.
 */
export const MAX_AREA_BYTES = 4 * 1024 * 1024;

/** Phases, in the low 3 bits of STATE. */
export const Phase = {
  IDLE: 0,
  REQUEST: 1,
  CLAIMED: 2,
  SERVING: 3,
  WRITING: 4,
  RESPONSE: 5,
  ABANDONED: 6,
  CLOSED: 7,
} as const;

/**
 * FLAGS bits. STALE_BEFORE is on a request whose caller withdrew the request(s) before it
 * unclaimed with a body on the side port: the server claims it first and drops them (see
 * "Withdrawn bodies on the side port" above).
 */
export const Flag = { ERROR: 1, VIA_PORT: 2, STALE_BEFORE: 4 } as const;

/** Sequence numbers use the upper 28 bits of STATE and wrap. */
export const SEQ_MASK = 0x0fffffff;

/** Packs a sequence number and a phase into a STATE word. */
export function stateWord(seq: number, phase: number): number {
  return ((seq & SEQ_MASK) << 3) | phase;
}

/** The phase part of a STATE word. */
export function phaseOf(word: number): number {
  return word & 7;
}

/** The sequence part of a STATE word. */
export function seqOf(word: number): number {
  return (word >>> 3) & SEQ_MASK;
}

/** A message on the side port: a body too large for the byte area. */
export interface SideMessage {
  seq: number;
  body: Uint8Array;
}

/** Creates the shared memory of a mailbox with a byte area of `areaBytes`, growable to `maxAreaBytes`. */
export function createMailboxMemory(areaBytes = DEFAULT_AREA_BYTES, maxAreaBytes = MAX_AREA_BYTES): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + areaBytes, { maxByteLength: HEADER_BYTES + Math.max(areaBytes, maxAreaBytes) });
}

/**
 * One side's view of a mailbox's byte area. The area is a growable `SharedArrayBuffer`:
 * the side that writes a body grows it when the body does not fit, before it publishes
 * the body's STATE, so the other side, having seen that STATE, sees the new length and
 * rebuilds its view ({@link current}) before it reads. Only the side that owns the area
 * in the current phase writes or grows it.
 */
export class MailboxArea {
  private view: ByteArea;
  private readonly shortfall: Shortfall = { bytes: 0 };

  constructor(private readonly memory: SharedArrayBuffer) {
    this.view = new ByteArea(memory, HEADER_BYTES);
  }

  /**
   * The area's view, rebuilt only when a body ends beyond it (`end`): then the other
   * side grew the buffer (views made with a length do not follow a growing buffer).
   * Not asked on every call: a growable buffer's length is an atomic read (~20 ns here,
   * a sixth of decoding a small answer).
   */
  current(end = 0): ByteArea {
    if (end > this.view.bytes.length) this.refresh();
    return this.view;
  }

  /** Rebuilds the view if the buffer grew; true if it did. */
  private refresh(): boolean {
    if (this.view.bytes.length === this.memory.byteLength - HEADER_BYTES) return false;
    this.view = new ByteArea(this.memory, HEADER_BYTES);
    return true;
  }

  /**
   * Encodes `value` at the start of the area, growing it (doubling, within the cap and
   * `limit`) until it fits. Returns the end offset, or -1 if it cannot fit: the caller
   * then sends it through the side port, or refuses it.
   */
  encode(value: unknown, limit: number): number {
    for (;;) {
      const end = encodeInto(value, this.view, 0, this.shortfall);
      if (end >= 0) return end;
      // Too small: first take up what the other side may have grown, then grow it.
      if (!this.refresh() && !(this.shortfall.bytes <= limit && this.grow(this.shortfall.bytes))) return -1;
    }
  }

  /** Grows the buffer to hold `endOffset` bytes of area (and its view with it); false if it cannot. */
  private grow(endOffset: number): boolean {
    const { memory } = this;
    const max = memory.growable ? memory.maxByteLength : memory.byteLength;
    const wanted = HEADER_BYTES + endOffset;
    if (wanted > max) return false;
    try {
      memory.grow(Math.min(max, Math.max(wanted, memory.byteLength * 2)));
    } catch {
      return false; // no memory: the side port still works
    }
    return this.refresh();
  }
}

/** The forward mailbox in `memory` as its server (the node) sees it. */
export function servedForwardMailbox(memory: SharedArrayBuffer): ServedMailbox {
  const header = new Int32Array(memory, 0, HEADER_BYTES / 4);
  return {
    header,
    area: new MailboxArea(memory),
    callerName: 'the agent',
    wakeCaller(): boolean {
      // The agent sleeps on STATE itself (it waits for nothing else).
      if (Atomics.load(header, Slot.CALLER_PARKED) !== 1) return false;
      Atomics.notify(header, Slot.STATE);
      return true;
    },
  };
}

/**
 * Withdraws call `seq` for its caller (a timeout), in either mailbox: REQUEST → IDLE if
 * the server has not claimed it (it may be reading it: its claim then fails), SERVING →
 * ABANDONED if it is being served (its answer is then dropped; a server asleep is
 * woken). False while the server holds the byte area or the side port's body (CLAIMED,
 * WRITING): the caller waits for the next phase and tries again, or takes the answer.
 */
export function withdrawCall(header: Int32Array, seq: number): boolean {
  const requested = stateWord(seq, Phase.REQUEST);
  if (Atomics.compareExchange(header, Slot.STATE, requested, stateWord(seq, Phase.IDLE)) === requested) return true;
  const serving = stateWord(seq, Phase.SERVING);
  if (Atomics.compareExchange(header, Slot.STATE, serving, stateWord(seq, Phase.ABANDONED)) !== serving) return false;
  // A server asleep on SERVING learns it at once: one waiting for the call's ordering
  // fence then drops the request, and what it holds (see fence-wait.ts).
  if (Atomics.load(header, Slot.SERVER_PARKED) === 1) Atomics.notify(header, Slot.STATE);
  return true;
}

/**
 * The FLAGS bit a caller's next request carries after it withdrew a request written with
 * `flags` before the server claimed it: STALE_BEFORE if that request's body, or the
 * bodies it was itself marked for, stay on the side port; else 0. For the call-back slot,
 * whose withdrawal is always before the claim; a mailbox's caller uses
 * {@link staleAfterWithdrawal}.
 */
export function staleAfterUnclaimed(flags: number): number {
  return (flags & (Flag.VIA_PORT | Flag.STALE_BEFORE)) !== 0 ? Flag.STALE_BEFORE : 0;
}

/**
 * {@link staleAfterUnclaimed} for call `seq` of a mailbox, once {@link withdrawCall}
 * succeeded: only a request withdrawn before its claim leaves bodies behind (one
 * abandoned while SERVING had its body read, and its marked bodies dropped, when it was
 * claimed). After its withdrawal STATE stays `seq|IDLE` or `seq|ABANDONED` until the
 * caller's next request (the server moves neither), or CLOSED.
 */
export function staleAfterWithdrawal(header: Int32Array, seq: number, flags: number): number {
  return Atomics.load(header, Slot.STATE) === stateWord(seq, Phase.IDLE) ? staleAfterUnclaimed(flags) : 0;
}

/**
 * Whether `seq` comes after `than` in the order of a mailbox's calls (28-bit sequence
 * numbers that wrap: "after" is up to half the range ahead). False for anything that is
 * not a number (a side port's message comes from the other thread).
 */
export function seqIsAfter(seq: unknown, than: number): boolean {
  if (typeof seq !== 'number') return false;
  const ahead = (seq - than) & SEQ_MASK;
  return ahead !== 0 && ahead <= SEQ_MASK >>> 1;
}
