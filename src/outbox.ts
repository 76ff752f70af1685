/**
 * The frames a connection has queued and not yet sent. Slots are written into one
 * scratch array that is kept from batch to batch, and each batch leaves as an exact-size
 * copy: growing a fresh array push by push cost ~150 bytes of garbage a call (V8 copies
 * the backing store at every growth step), the copy costs one array a batch.
 */
import type { Batch } from './wire.ts';

/** A scratch array bigger than this is dropped after use rather than kept (one huge batch should not pin memory). */
const KEEP_SLOTS = 4096;

/** Queued frames, slot by slot (see wire.ts for the layout). */
export class Outbox {
  private slots: unknown[] = [];
  private used = 0;
  /** Frames queued so far. */
  frames = 0;
  /** Slots queued so far that hold an object (a value that can nest: the depth check walks only batches that have one). */
  objects = 0;

  /** Appends one slot of the frame being queued. */
  put(value: unknown): void {
    if (typeof value === 'object' && value !== null) this.objects++;
    this.slots[this.used++] = value;
  }

  /** Marks the end of a frame. */
  endFrame(): number {
    return ++this.frames;
  }

  /** Everything queued, as a batch of exact size; the outbox is empty afterwards. */
  take(): Batch {
    const batch = this.slots.slice(0, this.used);
    // Drop references to what was sent, so a large argument is not kept alive here.
    if (this.used > KEEP_SLOTS) this.slots = [];
    else this.slots.fill(0, 0, this.used);
    this.used = 0;
    this.frames = 0;
    this.objects = 0;
    return batch;
  }
}
