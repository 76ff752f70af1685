/**
 * Per-call timeouts without a timer per call. At a million calls a second, a
 * `setTimeout` + `clearTimeout` per call costs more than the call itself. Calls that
 * share a timeout duration expire in the order they were made, so each duration keeps
 * a FIFO and one timer for its head. Settled calls are popped off the head eagerly,
 * so the queue holds about as many entries as there are calls in flight.
 */

/** Something that can expire. */
export interface Expirable {
  /** True once settled; the queue then drops it. */
  settled: boolean;
  /** Called once when the deadline passes before the call settled. */
  expire(): void;
}

class Lane {
  private items: Expirable[] = [];
  private deadlines: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Set while expiring: an expiring call settles, and its compact() must not move the head under us. */
  private firing = false;

  constructor(
    private readonly durationMs: number,
    private readonly unref: boolean,
  ) {}

  add(item: Expirable): void {
    this.items.push(item);
    this.deadlines.push(performance.now() + this.durationMs);
    if (!this.timer) this.arm();
  }

  /** Drops settled calls from the head; cheap because replies mostly come in order. */
  compact(): void {
    if (this.firing) return;
    const { items } = this;
    while (this.head < items.length && items[this.head]!.settled) this.head++;
    if (this.head === items.length) {
      this.items = [];
      this.deadlines = [];
      this.head = 0;
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.deadlines = this.deadlines.slice(this.head);
      this.head = 0;
    }
  }

  get empty(): boolean {
    return this.head === this.items.length;
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.items = [];
    this.deadlines = [];
    this.head = 0;
  }

  private arm(): void {
    const wait = Math.max(0, this.deadlines[this.head]! - performance.now());
    this.timer = setTimeout(this.fire, Math.ceil(wait));
    if (this.unref) this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const items = this.items;
    this.firing = true;
    try {
      while (this.head < items.length) {
        const item = items[this.head]!;
        if (!item.settled) {
          if (this.deadlines[this.head]! > now) break;
          item.expire();
          // Expiring may close the connection, which clears this lane.
          if (this.items !== items) return;
        }
        this.head++;
      }
    } finally {
      this.firing = false;
    }
    this.compact();
    if (!this.empty && !this.timer) this.arm();
  };
}

/** A set of FIFO lanes, one per timeout duration. */
export class DeadlineQueue {
  private readonly lanes = new Map<number, Lane>();

  /** @param unref whether pending deadlines should not keep the process alive. */
  constructor(private readonly unref = false) {}

  /** Schedules `item.expire()` after `durationMs` unless it has settled by then. */
  add(item: Expirable, durationMs: number): Lane {
    let lane = this.lanes.get(durationMs);
    if (!lane) {
      lane = new Lane(durationMs, this.unref);
      this.lanes.set(durationMs, lane);
    }
    lane.add(item);
    return lane;
  }

  /** Cancels every deadline. */
  clear(): void {
    for (const lane of this.lanes.values()) lane.clear();
    this.lanes.clear();
  }
}

export type { Lane as DeadlineLane };
