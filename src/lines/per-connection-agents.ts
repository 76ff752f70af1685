/**
 * Agents one per connection: the RFC's design, where every peer is isolated from the
 * node and from every other peer. An agent starts when its connection arrives and is
 * closed when that connection is finished.
 */
import { setMaxListeners } from 'node:events';
import { abortReason, closedError, namer, type AgentSupply } from './agent-supply.ts';
import { LineAgent } from './line-agent.ts';
import type { ResolvedLineServerOptions } from './line-server-options.ts';

/** One agent per connection, closed when its connection is finished. */
export class PerConnectionAgents implements AgentSupply {
  private readonly nextName: () => string;
  private readonly live = new Set<LineAgent>();
  private readonly starting = new Set<Promise<LineAgent>>();
  private readonly retiring = new Set<Promise<void>>();
  private closing = false;
  /** Aborted on close: agent starts in progress give up. */
  private readonly stopping = new AbortController();

  constructor(private readonly options: ResolvedLineServerOptions) {
    this.nextName = namer(options.name);
    // Every agent start in progress listens on it: more than ten at once is normal, not a leak.
    setMaxListeners(0, this.stopping.signal);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  async acquire(signal?: AbortSignal): Promise<LineAgent> {
    if (this.closing) throw closedError();
    if (signal?.aborted) throw abortReason(signal);
    // The start gives up when the server closes or the connection does (its socket was reset):
    // an agent that never becomes ready (startupTimeoutMs 0) must not outlive its peer.
    const giveUp = new AbortController();
    const stop = (): void => giveUp.abort(this.stopping.signal.aborted ? this.stopping.signal.reason : abortReason(signal!));
    this.stopping.signal.addEventListener('abort', stop, { once: true });
    signal?.addEventListener('abort', stop, { once: true });
    // Its death closes its one connection (through the agent's handle); nothing to replace.
    // A hand-off agent found stuck by its periodic probe is stopped so (until close()).
    const spawning = LineAgent.start(this.options, this.nextName(), () => undefined, { signal: giveUp.signal, closing: this.stopping.signal });
    this.starting.add(spawning);
    try {
      const agent = await spawning;
      this.live.add(agent);
      if (this.closing || signal?.aborted) {
        const reason = this.closing ? closedError() : abortReason(signal!);
        this.release(agent);
        throw reason;
      }
      return agent;
    } finally {
      this.starting.delete(spawning);
      this.stopping.signal.removeEventListener('abort', stop);
      signal?.removeEventListener('abort', stop);
    }
  }

  release(agent: LineAgent): void {
    if (!this.live.delete(agent)) return;
    const retired = agent.retire();
    this.retiring.add(retired);
    void retired.finally(() => this.retiring.delete(retired));
  }

  stopStarting(): void {
    if (this.closing) return;
    this.closing = true;
    this.stopping.abort(closedError());
  }

  async close(): Promise<void> {
    this.stopStarting();
    await Promise.allSettled([...this.starting]);
    for (const agent of [...this.live]) this.release(agent);
    await Promise.allSettled([...this.retiring]);
  }
}
