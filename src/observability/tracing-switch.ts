/**
 * Whether anyone traces agent-ipc calls, as one boolean the hot paths read, kept current
 * by the channels themselves: told at each subscription change, not asked at each call.
 *
 * Why not ask: a call must know whether any of the five events of `agent-ipc:call` has a
 * subscriber or a bound store. Asking all five per call (what
 * `TracingChannel.hasSubscribers` does) cost ~55 ns a call on Node 20 once a subscriber
 * had come and gone (Node swaps a channel's prototype when its first subscriber comes and
 * its last goes, which leaves the getter calls megamorphic). Asking `start` per call and
 * the other four once per event-loop turn still cost an inline agent's blocking call
 * ~9–10% (Node 20 and 22: ~50 and ~55 ns a call against ~46 and ~50 with tracing
 * compiled out, `bench/inline-ab.ts`), and it left a subscriber to `end` alone unseen
 * until the next turn. Reading one boolean costs one load.
 *
 * How it is told: every subscription change in `node:diagnostics_channel` goes through
 * the channel object's own methods — `subscribe`, `unsubscribe`, `bindStore`,
 * `unbindStore`, called on the object (`diagnostics_channel.subscribe(name, fn)` and
 * `TracingChannel.subscribe` call them too), and the inactive prototype's versions
 * re-dispatch through `this` once they have swapped the prototype (Node 20, 22 and 24;
 * test/tracing-switch.test.ts checks every path on each). So each of the five channel
 * objects gets its own methods of those four names: each calls the method it shadows
 * (looked up on the prototype at the time of the call, since the prototype changes), then
 * tells the watchers. The channel objects are shared by name, so a second copy of the
 * library (its ESM and CJS builds both loaded, or two versions) finds the wrappers
 * already there and adds its watcher to the same set, kept on the channel under a
 * registered symbol.
 *
 * Backstop: should a runtime change a subscription some other way, {@link recheck} is
 * also called once per event-loop turn by the observer, so a subscriber is never missed
 * for longer than the rest of the turn (the behaviour before this file).
 */
import type { Channel } from 'node:diagnostics_channel';
import { callChannel } from './channels.ts';

/** The methods through which a channel's subscribers and bound stores change. */
const CHANGING = ['subscribe', 'unsubscribe', 'bindStore', 'unbindStore'] as const;

/**
 * Where the watchers of a channel are kept, shared by every copy of the library: a
 * `Set` of functions, each called with no argument after every subscription change.
 */
const WATCHERS = Symbol.for('agent-ipc.tracing-watchers');

type Watched = Channel & { [WATCHERS]?: Set<() => void> };
type ChangeMethod = (this: Channel, ...args: unknown[]) => unknown;

const events: readonly Watched[] = [callChannel.start, callChannel.end, callChannel.asyncStart, callChannel.asyncEnd, callChannel.error];

/** Whether any of the five events has a subscriber or a bound store, asked now. */
function anyEventHasSubscribers(): boolean {
  for (const channel of events) if (channel.hasSubscribers) return true;
  return false;
}

const listeners: Array<(on: boolean) => void> = [];

/** Asks the channels again and tells the listeners if the answer changed. */
export function recheck(): void {
  const now = anyEventHasSubscribers();
  if (now === on) return;
  on = now;
  for (const listener of listeners) listener(now);
}

/** Gives `channel` methods that tell its watchers of every subscription change (once per channel, whichever copy comes first). */
function watch(channel: Watched): Set<() => void> {
  const existing = channel[WATCHERS];
  if (existing) return existing;
  const watchers = new Set<() => void>();
  Object.defineProperty(channel, WATCHERS, { value: watchers });
  for (const name of CHANGING) {
    // Someone else's method of that name on the object itself is kept and called; else
    // the prototype's, looked up at each call (the inactive and active prototypes differ).
    const shadowed = Object.getOwnPropertyDescriptor(channel, name)?.value as ChangeMethod | undefined;
    const changed = function (this: Channel, ...args: unknown[]): unknown {
      try {
        const method = shadowed ?? (Reflect.get(Object.getPrototypeOf(this) as object, name) as ChangeMethod);
        return Reflect.apply(method, this, args);
      } finally {
        for (const watcher of watchers) watcher();
      }
    };
    Object.defineProperty(channel, name, { value: changed, writable: true, configurable: true });
  }
  return watchers;
}

for (const channel of events) watch(channel).add(recheck);
let on = anyEventHasSubscribers();

/**
 * Calls `listener` now with whether anyone traces, and again each time that changes (at
 * the subscription change itself; see the file's comment for the once-a-turn backstop).
 */
export function onTracingChange(listener: (on: boolean) => void): void {
  listeners.push(listener);
  listener(on);
}
