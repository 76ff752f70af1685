/**
 * The reverse mailbox: the node's thread blocks on a thread agent (`agent.blocking.x()`,
 * `spawnAgentSync`). One `SharedArrayBuffer` per thread agent, beside the forward mailbox
 * of `mailbox.ts`, whose phase machine it reuses for the call itself with the roles
 * swapped: the node is the caller (it parks in `Atomics.wait`), the agent the server (it
 * waits with `Atomics.waitAsync` on its event loop, so its method may be async).
 *
 * Layout: a 64-byte header of int32 slots, the call area, then the call-back area.
 *
 * | slot          | meaning                                                                    |
 * |---------------|----------------------------------------------------------------------------|
 * | STATE         | `seq << 3 | phase` of the node's call, phases as in `mailbox.ts`          |
 * | LENGTH, FLAGS | end of the encoded request / answer in the call area; ERROR, VIA_PORT bits |
 * | FENCE         | id of the node's last async request sent before the call (ordering)       |
 * | SERVER_PARKED | 1 while the agent waits for a request on its event loop                    |
 * | CALLER_PARKED | 1 while the node's thread sleeps on DOORBELL                               |
 * | DOORBELL      | a counter: whoever has news for the parked node adds 1 and notifies it    |
 * | NODE_BLOCKED  | 1 while the node's thread is parked on this agent (call or start-up)       |
 * | LIFE          | {@link Life}: set by the agent's bootstrap and its `process` 'exit' hook   |
 * | EXIT_CODE     | the code the agent's thread exited with                                    |
 * | CB_STATE      | the call-back slot: {@link CallbackPhase}                                 |
 * | CB_LENGTH, CB_FLAGS | as LENGTH and FLAGS, for the call-back area                          |
 * | CB_SEQ        | tag of the call-back (matches bodies on the call-back side port)           |
 * | POSTED        | batches the agent has posted on the connection's port (a parked node reads the port only when it moved) |
 * | CB_WITHDRAWN  | tag of the agent's last call-back that left a body on the call-back side port unclaimed (0: none); the node drops such bodies when it parks and when it leaves |
 *
 * One word to sleep on. A parked thread can wait on one address only, but the parked node
 * must wake for several things: the answer, a call-back from the agent's method (a
 * blocking one in the call-back slot, or async frames on the connection's port), the
 * agent's exit. So it sleeps on DOORBELL, and everything it must notice rings it *after*
 * publishing: the agent's server after writing the answer, the agent's call-back after
 * its CAS to REQUEST, the agent's transport after posting a batch while NODE_BLOCKED, the
 * agent's own blocking call after publishing it in the forward mailbox while NODE_BLOCKED
 * (it read NODE_BLOCKED as 0 just before the node parked, see `caller.ts`), the agent's
 * 'exit' hook after setting LIFE. The node reads DOORBELL before it looks at
 * anything and waits only while DOORBELL still holds that value, so no news is lost.
 *
 * Call-backs while the node is parked do not use the forward mailbox: its server runs on
 * the node's event loop, which is not running. They use the call-back slot, open only
 * while the node is parked (SHUT ─node parks→ OPEN ─agent→ REQUEST ─node→ CLAIMED ─node→
 * RESPONSE ─agent→ OPEN; the node shuts it when it leaves, serving a REQUEST first). An
 * agent that finds it SHUT takes the forward mailbox as usual.
 *
 * Liveness. A dead agent can no longer ring: its 'exit' hook rings when the thread ends
 * through JavaScript (`process.exit`, an uncaught error, a close), but a thread stopped by
 * its heap limit runs no JavaScript. So the node sleeps in bounded slices and, between
 * them, asks the worker's handle whether its thread still runs (see `thread-liveness.ts`).
 */
import { ByteArea } from './value-codec.ts';
import { Flag, HEADER_BYTES } from './mailbox.ts';
import { FixedArea } from './mailbox-body.ts';
import type { ServedMailbox } from './server.ts';

/** Header slots of the reverse mailbox (int32 indexes). STATE..FENCE match `mailbox.ts`. */
export const RSlot = {
  STATE: 0,
  LENGTH: 1,
  FLAGS: 2,
  FENCE: 3,
  SERVER_PARKED: 4,
  CALLER_PARKED: 5,
  DOORBELL: 6,
  NODE_BLOCKED: 7,
  LIFE: 8,
  EXIT_CODE: 9,
  CB_STATE: 10,
  CB_LENGTH: 11,
  CB_FLAGS: 12,
  CB_SEQ: 13,
  POSTED: 14,
  CB_WITHDRAWN: 15,
} as const;

/** Values of the LIFE slot. */
export const Life = { NOT_STARTED: 0, RUNNING: 1, EXITED: 2 } as const;

/** Phases of the call-back slot (CB_STATE). */
export const CallbackPhase = { SHUT: 0, OPEN: 1, REQUEST: 2, CLAIMED: 3, RESPONSE: 4 } as const;

/** FLAGS bits, as in the forward mailbox. */
export { Flag };

/** Size of each of the two byte areas. */
export const REVERSE_AREA_BYTES = 64 * 1024;

/** Byte offset of the call area. */
export const CALL_AREA_OFFSET = HEADER_BYTES;

/** Byte offset of the call-back area. */
export const CALLBACK_AREA_OFFSET = HEADER_BYTES + REVERSE_AREA_BYTES;

/** Creates the shared memory of a reverse mailbox. */
export function createReverseMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + 2 * REVERSE_AREA_BYTES);
}

/** The int32 header view of a reverse mailbox. */
export function reverseHeader(memory: SharedArrayBuffer): Int32Array {
  return new Int32Array(memory, 0, HEADER_BYTES / 4);
}

/** The reverse mailbox in `memory` as its server (the agent) sees it. */
export function servedReverseMailbox(memory: SharedArrayBuffer): ServedMailbox {
  const header = reverseHeader(memory);
  return {
    header,
    area: new FixedArea(new ByteArea(memory, CALL_AREA_OFFSET, REVERSE_AREA_BYTES)),
    callerName: 'the node',
    wakeCaller(): boolean {
      // The node sleeps on DOORBELL, which other news rings too (see above).
      const parked = Atomics.load(header, RSlot.CALLER_PARKED) === 1;
      ringDoorbell(header);
      return parked;
    },
  };
}

/** Tells a parked node that something changed (call only after publishing the change). */
export function ringDoorbell(header: Int32Array): void {
  Atomics.add(header, RSlot.DOORBELL, 1);
  if (Atomics.load(header, RSlot.CALLER_PARKED) === 1) Atomics.notify(header, RSlot.DOORBELL);
}
