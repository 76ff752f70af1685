/**
 * The one request of a blocking server that waits for its *ordering fence*: the agent's
 * async calls sent before it have not all started on the node yet
 * (`IpcConnection.whenIncomingStarted`). Both servers of an agent's blocking calls (a
 * thread agent's `MailboxServer`, a process agent's `ProcessBlockingServer`) keep one.
 *
 * Why one, in fields and not in a closure per wait: the fence is the agent's word, and
 * a hostile agent can write an id it never sends, so the wait may never end. A server
 * serves one request at a time, so its next request means the caller gave up on the one
 * waiting; that one is forgotten (command and payload, up to `maxMessageBytes`, dropped),
 * and the connection keeps one wait per server (the `owner` of
 * {@link FenceWait.started}), so nothing piles up however many far fences arrive.
 */

/** Where a server's fence waits come from: `IpcConnection.whenIncomingStarted`, through the host. */
export type FenceStarted = (fence: number, owner: object) => Promise<void> | undefined;

/**
 * A server's request waiting for its fence, `K` naming it (a mailbox's seq, a process
 * call). At most one; a wait that settles is looked up again rather than trusted, since
 * it may be an earlier request's, resolved just before a newer one replaced it.
 */
export class FenceWait<K> {
  /** The waiting request, if any. */
  key: K | undefined = undefined;
  private fence = 0;
  private command = '';
  private payload: unknown = undefined;

  /**
   * @param started - Asks the connection; a wait it returns replaces `owner`'s earlier one.
   * @param owner - The server (bounds the connection's waits to one per server).
   * @param run - Serves a request whose fence has started.
   * @param fail - Answers a request whose wait failed (the connection closed) with `error`.
   */
  constructor(
    private readonly started: FenceStarted,
    private readonly owner: object,
    private readonly run: (key: K, command: string, payload: unknown) => void,
    private readonly fail: (key: K, error: unknown) => void,
  ) {}

  /** Holds `key`'s request until `wait` (its fence's) settles. */
  hold(key: K, fence: number, command: string, payload: unknown, wait: Promise<void>): void {
    this.key = key;
    this.fence = fence;
    this.command = command;
    this.payload = payload;
    this.watch(wait);
  }

  /**
   * Reacts to `wait` without holding a request (a parked node's look, which leaves the
   * request in the mailbox): handled, so a rejection at close is never unhandled.
   */
  watch(wait: Promise<void>): void {
    wait.then(this.onStarted, this.onFailed);
  }

  /** Drops the waiting request and what it holds. */
  forget(): void {
    this.key = undefined;
    this.command = '';
    this.payload = undefined;
  }

  private readonly onStarted = (): void => {
    const key = this.key;
    if (key === undefined) return;
    const again = this.started(this.fence, this.owner);
    if (again !== undefined) {
      this.watch(again);
      return;
    }
    const command = this.command;
    const payload = this.payload;
    this.forget();
    this.run(key, command, payload);
  };

  private readonly onFailed = (error: unknown): void => {
    const key = this.key;
    if (key === undefined) return;
    this.forget();
    this.fail(key, error);
  };
}
