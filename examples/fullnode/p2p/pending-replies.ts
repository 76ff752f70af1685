/**
 * Replies a connection is waiting for, keyed by the reply's command (one outstanding
 * request per kind, as in sync-v2). A protocol's `lineReceived` must never wait for a
 * later line — the line server delivers one line at a time — so the sync flow awaits
 * these promises on its own, and `lineReceived` only settles them: Twisted's Deferreds.
 */
import { ProtocolViolation } from './protocol-violation.ts';

interface Waiter {
  resolve(payload: string): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingReplies {
  private readonly waiting = new Map<string, Waiter>();

  constructor(private readonly timeoutMs: number) {}

  /** Resolves with the payload of the next `command` line; rejects after the timeout. */
  wait(command: string): Promise<string> {
    if (this.waiting.has(command)) return Promise.reject(new Error(`already waiting for ${command}`));
    return new Promise((resolve, reject) => {
      this.waiting.set(command, { resolve, reject, timer: this.timer(command) });
    });
  }

  /** Hands `payload` to the waiter of `command`. False if nobody waits: an unsolicited reply. */
  settle(command: string, payload: string): boolean {
    const waiter = this.waiting.get(command);
    if (!waiter) return false;
    this.waiting.delete(command);
    clearTimeout(waiter.timer);
    waiter.resolve(payload);
    return true;
  }

  /** Restarts the timeout of `command`'s waiter: the request is making progress (a stream flows). */
  extend(command: string): void {
    const waiter = this.waiting.get(command);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    waiter.timer = this.timer(command);
  }

  rejectAll(error: Error): void {
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiting.clear();
  }

  private timer(command: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const waiter = this.waiting.get(command);
      this.waiting.delete(command);
      waiter?.reject(new ProtocolViolation(`no ${command} within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    timer.unref();
    return timer;
  }
}
