/**
 * A fixed pool of agents shared by all connections: the RFC's open question 4. Fewer
 * agents (say one per CPU), with peers isolated from the node but not from each other:
 * an agent that dies takes the connections it served with it, and is replaced.
 */
import type { AgentExitedError } from '../errors.ts';
import { closedError, namer, type AgentSupply, type SupplyErrorListener } from './agent-supply.ts';
import { LineAgent } from './line-agent.ts';
import type { ResolvedLineServerOptions } from './line-server-options.ts';

interface PoolSlot {
  agent: LineAgent | undefined;
  starting: Promise<LineAgent> | undefined;
  /** Connections assigned to this slot, whichever of its agents serves them. */
  load: number;
}

/**
 * `size` agents shared by all connections. A connection goes to the slot with the
 * fewest connections; an agent that dies is replaced at once (its connections are
 * closed by its handle, with `AgentExitedError`).
 */
export class AgentPool implements AgentSupply {
  private readonly nextName: () => string;
  private readonly slots: PoolSlot[];
  private readonly slotOf = new Map<LineAgent, PoolSlot>();
  private closing = false;

  constructor(
    private readonly options: ResolvedLineServerOptions,
    size: number,
    private readonly onError: SupplyErrorListener,
  ) {
    this.nextName = namer(options.name);
    this.slots = Array.from({ length: size }, () => ({ agent: undefined, starting: undefined, load: 0 }));
  }

  async start(): Promise<void> {
    await Promise.all(this.slots.map((slot) => this.fill(slot)));
  }

  async acquire(): Promise<LineAgent> {
    if (this.closing) throw closedError();
    let slot = this.slots[0]!;
    for (const candidate of this.slots) if (candidate.load < slot.load) slot = candidate;
    slot.load++;
    try {
      return await this.fill(slot);
    } catch (error) {
      slot.load--;
      throw error;
    }
  }

  release(agent: LineAgent): void {
    const slot = this.slotOf.get(agent);
    if (!slot) return;
    slot.load--;
    // A replaced agent is forgotten once its last connection is finished.
    if (slot.agent !== agent && agent.load === 0) this.slotOf.delete(agent);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled(this.slots.map((slot) => slot.starting));
    await Promise.allSettled(this.slots.map((slot) => slot.agent?.retire()));
  }

  /** The slot's agent, started if it has none. */
  private fill(slot: PoolSlot): Promise<LineAgent> {
    if (slot.agent?.alive) return Promise.resolve(slot.agent);
    if (this.closing) return Promise.reject(closedError());
    slot.starting ??= LineAgent.start(this.options, this.nextName(), (agent, error) => this.replace(agent, error)).then(
      (agent) => {
        slot.starting = undefined;
        slot.agent = agent;
        this.slotOf.set(agent, slot);
        if (this.closing) void agent.retire();
        return agent;
      },
      (error: unknown) => {
        slot.starting = undefined;
        throw error;
      },
    );
    return slot.starting;
  }

  private replace(dead: LineAgent, _error: AgentExitedError): void {
    const slot = this.slotOf.get(dead);
    if (!slot || slot.agent !== dead) return;
    slot.agent = undefined;
    if (this.closing) return;
    this.fill(slot).catch((error: unknown) => this.onError(error instanceof Error ? error : new Error(String(error))));
  }
}
