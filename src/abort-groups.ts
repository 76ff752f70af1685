/**
 * Cancellation through a shared `AbortSignal` at O(1) per call. An `EventTarget` keeps
 * its listeners in a list that `addEventListener` and `removeEventListener` scan, so one
 * listener per call makes N calls sharing a signal cost O(N²) (tens of seconds at 50k
 * calls). Instead a connection registers one listener per signal and keeps the calls
 * that share it in a `Set`: joining and leaving are one `Set` operation each, and the
 * listener is removed when the last call leaves.
 */

/** A call that can be aborted through a shared signal. */
export interface SignalMember {
  /** The group it joined, if any (kept by the group). */
  abortGroup: AbortGroup<SignalMember> | undefined;
}

/** The calls of one connection waiting on one signal, behind one listener. */
export class AbortGroup<T extends SignalMember> {
  private readonly members = new Set<T>();

  constructor(
    private readonly signal: AbortSignal,
    private readonly onAbort: (member: T, reason: unknown) => void,
  ) {}

  /** Adds `member`; the first member registers the group's one listener. */
  join(member: T): void {
    if (this.members.size === 0) this.signal.addEventListener('abort', this.fire, { once: true });
    this.members.add(member);
    member.abortGroup = this as unknown as AbortGroup<SignalMember>;
  }

  /** Removes `member` (it settled); the last one out removes the listener. */
  leave(member: T): void {
    if (!this.members.delete(member)) return;
    member.abortGroup = undefined;
    if (this.members.size === 0) this.signal.removeEventListener('abort', this.fire);
  }

  private readonly fire = (): void => {
    // Aborting a member settles it, which calls leave(): iterate over a copy.
    const members = [...this.members];
    this.members.clear();
    const reason: unknown = this.signal.reason;
    for (const member of members) {
      member.abortGroup = undefined;
      this.onAbort(member, reason);
    }
  };
}

/** One {@link AbortGroup} per signal, for one connection. */
export class AbortGroups<T extends SignalMember> {
  // Weak: a signal the caller dropped takes its (empty) group with it.
  private readonly groups = new WeakMap<AbortSignal, AbortGroup<T>>();

  constructor(private readonly onAbort: (member: T, reason: unknown) => void) {}

  /** Makes `member` abort when `signal` does. */
  join(signal: AbortSignal, member: T): void {
    let group = this.groups.get(signal);
    if (!group) {
      group = new AbortGroup(signal, this.onAbort);
      this.groups.set(signal, group);
    }
    group.join(member);
  }
}
