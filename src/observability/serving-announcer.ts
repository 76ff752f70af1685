/**
 * The agent's side of `parentCallId`: while the node traces calls (it says so with
 * `Control.TRACE`), the agent tells it which node call it is serving before it makes
 * calls of its own, so the node can link each call the agent makes to the node call it
 * serves.
 *
 * Which node call is being served is kept in an `AsyncLocalStorage`, created only once
 * the node first traces, so it follows the handler across `await`s. (On Node 24 it costs
 * little: the store rides on the async context frame. On Node 20 and 22 an enabled store
 * installs promise hooks, which is why it is never created when nobody traces.)
 *
 * The announcement is a request, not a NOTIFY frame: a blocking call waits on the node
 * side until the agent's last request has been dispatched (the ordering fence), and that
 * covers the announcement too. It is sent only when the served call changes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConnectionObserver } from './call-observer.ts';
import { SERVING_COMMAND } from './agent-observer.ts';

/** Tracks the node call an agent serves and announces it. @internal */
export class ServingAnnouncer implements ConnectionObserver {
  private on = false;
  private store: AsyncLocalStorage<number> | undefined;
  /** The call id last announced (0: none). */
  private announced = 0;

  constructor(private readonly send: (command: string, args: unknown[]) => Promise<unknown>) {}

  /** The node started (`true`) or stopped tracing. */
  setTracing(on: unknown): void {
    this.on = on === true;
    if (this.on) this.store ??= new AsyncLocalStorage<number>();
    else {
      // Disabled, an enabled store would go on costing every promise (Node 20, 22).
      this.store?.disable();
      this.store = undefined;
    }
    // The node forgot what it was told when tracing stopped: tell it again.
    this.announced = 0;
  }

  // The agent's connection reports to the announcer (ConnectionObserver): a served call's
  // token is its request id while the node traces, and its handler runs in the store
  // holding that id. The handler is called as it is (no wrapper per call, and no
  // AbortController for a handler that does not take the call's signal), so a node that
  // traces costs the agent one `store.run` per served call.
  outgoingStarted(): unknown {
    return undefined;
  }
  outgoingSettled(): void {}
  incomingStarted(id: number): unknown {
    return this.on ? id : undefined;
  }
  run<A, B, C, R>(token: unknown, fn: (a: A, b: B, c: C) => R, a: A, b: B, c: C): R {
    // The store is there whenever a token is: setTracing(true) made it.
    return token === undefined || !this.store ? fn(a, b, c) : this.store.run(token as number, fn, a, b, c);
  }
  incomingPending(): void {}
  incomingSettled(): void {}

  /** Called before every call the agent makes: announces the served call if it changed. */
  beforeCall(): void {
    // Only this check runs while the node does not trace: small enough to be inlined
    // into every call stub.
    if (this.on) this.announceIfChanged();
  }

  private announceIfChanged(): void {
    const serving = this.store!.getStore() ?? 0;
    if (serving === this.announced) return;
    this.announced = serving;
    // Nothing waits for the answer; a failure (the connection closed) changes nothing.
    this.send(SERVING_COMMAND, [serving]).then(undefined, () => undefined);
  }
}
