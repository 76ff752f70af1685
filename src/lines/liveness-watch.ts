/**
 * Periodic liveness probes of a hand-off agent (`handOffSockets`) while it serves
 * connections.
 *
 * Relayed, every batch of lines is a call of the node's, so an agent stuck in a
 * synchronous loop is noticed when a call times out, and the liveness probe that follows
 * confirms it (`line-agent.ts`). Handed off, the lines never reach the node and the agent
 * bounds its batches with its own timers — which a synchronous loop stops too. Nothing
 * would time out: so the node probes such an agent on its own, every
 * {@link probeIntervalMs}, while it holds at least one connection.
 *
 * The watch only schedules; the probe itself (and what follows when it gets no answer)
 * is the agent's. An agent that holds no connection is not probed: an idle server wakes
 * for nothing. The timer is unref'd: it never keeps the node's process alive.
 */

/** The shortest interval between two probes, whatever `timeoutMs`: no busy probing. */
export const MIN_PROBE_INTERVAL_MS = 100;

/**
 * How often a hand-off agent is probed with the server's `timeoutMs`: every half of it
 * (at least {@link MIN_PROBE_INTERVAL_MS}). A probe waits `timeoutMs` for its answer, so
 * an agent that gets stuck is found at most interval + `timeoutMs` (1.5 × `timeoutMs`)
 * after it stopped turning: no later than a relayed pool agent (its call times out after
 * `timeoutMs`, then its probe after as long). Probing more often would not find it much
 * sooner (the probe's own wait dominates) and would wake a quiet agent more; one small
 * message each way per interval and agent is negligible.
 */
export function probeIntervalMs(timeoutMs: number): number {
  return Math.max(MIN_PROBE_INTERVAL_MS, Math.ceil(timeoutMs / 2));
}

/** Runs `probe` every `intervalMs` while the agent holds connections, until stopped. */
export class LivenessWatch {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly probe: () => void,
  ) {}

  /** True while probes are scheduled. */
  get active(): boolean {
    return this.timer !== undefined;
  }

  /** The agent now holds `connections`: probes run while there is one or more. */
  track(connections: number): void {
    if (connections === 0) this.pause();
    else if (!this.timer && !this.stopped) {
      this.timer = setInterval(this.probe, this.intervalMs);
      this.timer.unref();
    }
  }

  /** No more probes, whatever the agent holds (the agent is gone or closing, the server closes). */
  stop(): void {
    this.stopped = true;
    this.pause();
  }

  private pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
