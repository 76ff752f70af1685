/**
 * A fixed pool of agents shared by all connections: the RFC's open question 4. Fewer
 * agents (say one per CPU), with peers isolated from the node but not from each other:
 * an agent that dies takes the connections it served with it, and is replaced.
 *
 * Supervision: an agent that exits, crashes or hangs (see `line-agent.ts`: a call timed
 * out and a liveness probe got no answer; with `handOffSockets`, also a periodic probe
 * while the agent holds connections) is replaced; its connections close with
 * `AgentExitedError` (`AgentUnresponsiveError` for a hang). A replacement that cannot
 * start (its start-up error, or `StartupTimeoutError`) is a failure too, and is retried.
 * A place in the pool whose agents keep failing backs off: the first replacement starts
 * at once, the next ones after 100 ms doubling up to 10 s; an agent that ran
 * {@link STABLE_MS} before failing starts the count over. Every replacement is reported
 * (the server's `agentRestart` event; a failed start also as an `error` event).
 *
 * New connections: one goes at once to the healthy agent serving the fewest connections.
 * When no agent is healthy (every place is being replaced: starting, backing off, or its
 * hung agent being stopped), the connection waits — through failed starts and their
 * back-off — and goes to the first agent that becomes ready, in whichever place; waiting
 * connections are served in arrival order. A failed start fails no waiting connection. A
 * connection waits at most the server's `startupTimeoutMs` from its arrival (none if 0),
 * then fails with `StartupTimeoutError` (its `cause`: the pool's latest failure); a server
 * close ends the wait with `ConnectionClosedError`; a connection that gives up (its socket was
 * reset or closed: the signal passed to `acquire`) leaves the queue at once. Waiting connections never start
 * agents themselves: every start is a reported replacement, after its back-off.
 *
 * Once the pool has started (the first `listen`/`connect`), `start()` no longer waits for
 * agents: a later `listen` or `connect` is not failed by a replacement that cannot start.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { StartupTimeoutError, type AgentExitedError } from '../errors.ts';
import { abortReason, closedError, namer, type AgentSupply, type SupplyReports } from './agent-supply.ts';
import { LineAgent } from './line-agent.ts';
import type { ResolvedLineServerOptions } from './line-server-options.ts';

/** Back-off after the second failure in a row, doubled with each further one. */
export const RESTART_BASE_MS = 100;
/** The longest back-off between replacements. */
export const RESTART_MAX_MS = 10_000;
/** An agent that ran this long before failing was healthy: the failure count starts over. */
export const STABLE_MS = 10_000;

/** The wait before the replacement after `failures` failures in a row. */
export function restartDelayMs(failures: number): number {
  if (failures <= 1) return 0;
  return Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.min(failures - 2, 30));
}

interface PoolSlot {
  agent: LineAgent | undefined;
  starting: Promise<LineAgent> | undefined;
  /** Connections assigned to this slot, whichever of its agents serves them. */
  load: number;
  /** Failures in a row of this slot's agents. */
  failures: number;
  /** When the slot's current agent became ready (`performance.now()`). */
  readyAt: number;
  /** Name of the agent being started or running. */
  name: string;
}

/**
 * A connection waiting for a healthy agent. Settling it (either way) also takes it out of
 * the queue and clears its timer and its abort listener, whoever settles it: the pool,
 * the timer or the connection giving up.
 */
interface Waiter {
  resolve(agent: LineAgent): void;
  reject(error: Error): void;
}

/**
 * `size` agents shared by all connections. A connection goes to the healthy slot with
 * the fewest connections, or waits for the first slot to become healthy; an agent that
 * dies or hangs is replaced, with back-off if it keeps failing.
 */
export class AgentPool implements AgentSupply {
  private readonly nextName: () => string;
  private readonly slots: PoolSlot[];
  private readonly slotOf = new Map<LineAgent, PoolSlot>();
  /** Aborted on close: agent starts in progress and back-off waits give up. */
  private readonly stopping = new AbortController();
  private closing = false;
  /** Set once every slot had its agent: from then on supervision keeps the slots filled. */
  private started = false;
  /** Connections waiting for a healthy agent, in arrival order. */
  private readonly waiting = new Set<Waiter>();
  /** The latest failure of any slot (an agent's exit or a failed start): why connections wait. */
  private lastFailure: Error | undefined;
  /** Name of the agent the pool started last. */
  private lastStarted = '';

  constructor(
    private readonly options: ResolvedLineServerOptions,
    size: number,
    private readonly reports: SupplyReports,
  ) {
    this.nextName = namer(options.name);
    // Every agent start in progress listens on it: more than ten at once is normal, not a leak.
    setMaxListeners(0, this.stopping.signal);
    this.slots = Array.from({ length: size }, () => ({ agent: undefined, starting: undefined, load: 0, failures: 0, readyAt: 0, name: '' }));
  }

  async start(): Promise<void> {
    // Started once, the slots are kept filled by supervision: a listen() or connect() made
    // while agents are being replaced must not fail because a replacement cannot start.
    if (this.started) return;
    await Promise.all(this.slots.map((slot) => this.fill(slot)));
    this.started = true;
  }

  acquire(signal?: AbortSignal): Promise<LineAgent> {
    if (this.closing) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    // Healthy agents first: a connection must not wait for a replacement while another agent can serve it.
    const slot = this.healthiest();
    if (slot) {
      slot.load++;
      return Promise.resolve(slot.agent!);
    }
    // No agent is healthy: every slot is being replaced. A slot with nothing under way
    // (none once start() succeeded, and connections come only after that) is started here, supervised.
    for (const idle of this.slots) if (!idle.agent && !idle.starting) this.fillOrRestart(idle);
    return new Promise<LineAgent>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // A connection whose peer left stops waiting at once: kept in the queue, it would
      // hold its socket until an agent or the timeout came (never, with
      // startupTimeoutMs 0 and a pool that cannot start), and then get an agent for nothing.
      const onAbort = (): void => waiter.reject(abortReason(signal!));
      const done = (): void => {
        this.waiting.delete(waiter);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        resolve: (agent) => {
          done();
          resolve(agent);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      const timeoutMs = this.options.startupTimeoutMs;
      if (timeoutMs > 0) timer = setTimeout(() => waiter.reject(this.noAgentWithin(timeoutMs)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.add(waiter);
    });
  }

  /** Connections waiting for a healthy agent (for tests and diagnostics). */
  get waiters(): number {
    return this.waiting.size;
  }

  release(agent: LineAgent): void {
    const slot = this.slotOf.get(agent);
    if (!slot) return;
    slot.load--;
    // A replaced agent is forgotten once its last connection is finished.
    if (slot.agent !== agent && agent.load === 0) this.slotOf.delete(agent);
  }

  stopStarting(): void {
    if (this.closing) return;
    this.closing = true;
    this.stopping.abort(closedError());
    for (const waiter of [...this.waiting]) waiter.reject(closedError());
  }

  async close(): Promise<void> {
    this.stopStarting();
    await Promise.allSettled(this.slots.map((slot) => slot.starting));
    await Promise.allSettled(this.slots.map((slot) => slot.agent?.retire()));
  }

  /** The slot's agent, started (after `delayMs`) if it has none. */
  private fill(slot: PoolSlot, delayMs = 0): Promise<LineAgent> {
    if (slot.agent?.alive) return Promise.resolve(slot.agent);
    if (this.closing) return Promise.reject(closedError());
    // The slot's agent was found stuck and is being stopped: its exit is what starts the
    // replacement, through `replace` (reported, counted, after the back-off). Whoever asks
    // meanwhile waits for that start (connections wait in `acquire` and never get here);
    // were it to start the replacement itself, the exit would find the slot taken and go
    // unreported and uncounted (and skip the back-off).
    if (slot.agent?.stopping) return slot.agent.exitHandled.then(() => this.fill(slot));
    slot.starting ??= this.startAgent(slot, delayMs).then(
      (agent) => {
        slot.starting = undefined;
        slot.agent = agent;
        slot.readyAt = performance.now();
        this.slotOf.set(agent, slot);
        if (this.closing) void agent.retire();
        else this.serveWaiting();
        return agent;
      },
      (error: unknown) => {
        slot.starting = undefined;
        throw error;
      },
    );
    return slot.starting;
  }

  private async startAgent(slot: PoolSlot, delayMs: number): Promise<LineAgent> {
    const { signal } = this.stopping;
    if (delayMs > 0) {
      await sleep(delayMs, undefined, { signal }).catch(() => {
        throw closedError();
      });
    }
    if (signal.aborted) throw closedError();
    slot.name = this.lastStarted = this.nextName();
    return LineAgent.start(this.options, slot.name, (agent, error) => this.replace(agent, error), { signal, supervised: true, closing: signal });
  }

  private replace(dead: LineAgent, error: AgentExitedError): void {
    const slot = this.slotOf.get(dead);
    if (!slot || slot.agent !== dead) return;
    slot.agent = undefined;
    if (this.closing) return;
    // An agent that ran long enough was healthy: its failure is a first one.
    const healthy = performance.now() - slot.readyAt >= STABLE_MS;
    this.restart(slot, dead.name, error, healthy);
  }

  /** Reports the failure of `slot`'s agent `name` and starts its replacement after the back-off. */
  private restart(slot: PoolSlot, name: string, reason: Error, countAfresh: boolean): void {
    slot.failures = countAfresh ? 1 : slot.failures + 1;
    this.lastFailure = reason;
    const delayMs = restartDelayMs(slot.failures);
    this.reports.restart({ agent: name, reason, failures: slot.failures, delayMs });
    this.fillOrRestart(slot, delayMs);
  }

  /** Starts `slot`'s agent (after `delayMs`); if it cannot start, that is one more failure in a row. */
  private fillOrRestart(slot: PoolSlot, delayMs = 0): void {
    this.fill(slot, delayMs).catch((error: unknown) => {
      if (this.closing) return;
      const failure = error instanceof Error ? error : new Error(String(error));
      this.reports.error(failure);
      // The replacement could not start (start-up error or timeout): that is a failure in a row too.
      // Connections waiting for an agent go on waiting: for this slot's next try or another slot.
      this.restart(slot, slot.name, failure, false);
    });
  }

  /** The slot whose agent is healthy and serves the fewest connections, if any. */
  private healthiest(): PoolSlot | undefined {
    let slot: PoolSlot | undefined;
    for (const candidate of this.slots) if (candidate.agent?.alive && (!slot || candidate.load < slot.load)) slot = candidate;
    return slot;
  }

  /** Hands healthy agents to the connections waiting for one, in arrival order. */
  private serveWaiting(): void {
    for (const waiter of this.waiting) {
      const slot = this.healthiest();
      if (!slot) return;
      slot.load++;
      waiter.resolve(slot.agent!);
    }
  }

  /** What a connection that waited `timeoutMs` for a healthy agent fails with. */
  private noAgentWithin(timeoutMs: number): StartupTimeoutError {
    const error = new StartupTimeoutError(this.lastStarted, timeoutMs);
    const cause = this.lastFailure;
    // Before anything reads `stack`, whose first line V8 writes from the message when first read.
    error.message =
      `[agent-ipc] no agent of the pool was ready within ${timeoutMs} ms (startupTimeoutMs) of the connection's arrival: ` +
      `every agent of the pool was being replaced${cause ? ` (latest failure: ${cause.message.replace('[agent-ipc] ', '')})` : ''}`;
    if (cause) Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true, enumerable: false });
    return error;
  }
}
