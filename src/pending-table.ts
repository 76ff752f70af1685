/**
 * The calls of one connection waiting for an answer, by request id. Ids are handed out
 * one after another, so a call normally lives in a fixed ring of slots indexed by its
 * id's low bits: a lookup is one array read and nothing is allocated per call (a `Map`
 * costs ~50 ns and ~60 bytes of garbage a call, measured on the pipelined async bench).
 * A call whose slot is still taken by a much older one (a slow call overtaken by more
 * than a ring's worth of others) goes to an overflow map instead.
 */

/** What the table stores: anything that knows its own request id. */
export interface HasRequestId {
  readonly id: number;
}

/** Slots in the ring: a power of two, above the calls a busy connection has in flight. */
const RING_SLOTS = 1024;
const MASK = RING_SLOTS - 1;

/** Outstanding calls by request id. */
export class PendingTable<T extends HasRequestId> {
  // Packed (not holey) so reads stay on V8's fastest path.
  private readonly ring: Array<T | undefined> = Array.from({ length: RING_SLOTS }, () => undefined);
  private readonly overflow = new Map<number, T>();
  private count = 0;

  /** Calls in the table. */
  get size(): number {
    return this.count;
  }

  /** Adds `call` (its id must not be in the table). */
  add(call: T): void {
    const slot = call.id & MASK;
    if (this.ring[slot] === undefined) this.ring[slot] = call;
    else this.overflow.set(call.id, call);
    this.count++;
  }

  /** The call with `id`, if it is in the table. */
  get(id: number): T | undefined {
    const call = this.ring[id & MASK];
    if (call !== undefined && call.id === id) return call;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  /** Removes and returns the call with `id`, if it is in the table. */
  take(id: number): T | undefined {
    const slot = id & MASK;
    const call = this.ring[slot];
    if (call !== undefined && call.id === id) {
      this.ring[slot] = undefined;
      this.count--;
      return call;
    }
    if (this.overflow.size === 0) return undefined;
    const other = this.overflow.get(id);
    if (other !== undefined) {
      this.overflow.delete(id);
      this.count--;
    }
    return other;
  }

  /** Removes and returns every call (in no particular order). */
  drain(): T[] {
    const calls: T[] = [];
    for (let slot = 0; slot < RING_SLOTS; slot++) {
      const call = this.ring[slot];
      if (call !== undefined) {
        calls.push(call);
        this.ring[slot] = undefined;
      }
    }
    for (const call of this.overflow.values()) calls.push(call);
    this.overflow.clear();
    this.count = 0;
    return calls;
  }
}
