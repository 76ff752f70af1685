/**
 * `GET /metrics`: every agent's metrics in the Prometheus text format (version 0.0.4).
 *
 * The line server starts the node's agents, so the node holds no handle on them: it
 * learns of each from the `agent-ipc:agent:spawn` channel (whose message can read that
 * agent's metrics) and forgets it on `agent-ipc:agent:exit`. Counters of exited agents
 * leave with them; the spawn and exit totals stay. The channels are process-wide: two
 * nodes in one process (tests) would each list both nodes' agents.
 */
import { channel } from 'node:diagnostics_channel';
import type { AgentExitMessage, AgentMetrics, AgentSpawnMessage } from '../../../src/index.ts';

/** How long a scrape waits for each agent to measure its runtime (busy agents report their last sample). */
const SAMPLE_WAIT_MS = 200;

function labels(pairs: Record<string, string | number>): string {
  const inner = Object.entries(pairs)
    .map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
  return inner === '' ? '' : `{${inner}}`;
}

/** One metric family: HELP, TYPE and its samples. */
class Family {
  readonly samples: string[] = [];
  constructor(
    readonly name: string,
    readonly type: 'counter' | 'gauge' | 'summary',
    readonly help: string,
  ) {}
  add(pairs: Record<string, string | number>, value: number, suffix = ''): void {
    this.samples.push(`${this.name}${suffix}${labels(pairs)} ${Number.isFinite(value) ? value : 'NaN'}`);
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n${this.samples.join('\n')}\n`;
  }
}

/** Keeps track of the process's agents and renders their metrics. */
export class AgentMetricsExporter {
  private readonly agents = new Map<string, AgentSpawnMessage>();
  private spawned = 0;
  private readonly exits = new Map<string, number>();
  private readonly onSpawn = (message: unknown): void => {
    const spawn = message as AgentSpawnMessage;
    this.spawned++;
    this.agents.set(key(spawn), spawn);
  };
  private readonly onExit = (message: unknown): void => {
    const exit = message as AgentExitMessage;
    this.agents.delete(key(exit));
    const reason = exit.exit.error ? 'error' : exit.exit.signal ? 'signal' : exit.exit.code === 0 ? 'clean' : 'code';
    this.exits.set(reason, (this.exits.get(reason) ?? 0) + 1);
  };

  constructor() {
    channel('agent-ipc:agent:spawn').subscribe(this.onSpawn);
    channel('agent-ipc:agent:exit').subscribe(this.onExit);
  }

  /** Stops listening. */
  close(): void {
    channel('agent-ipc:agent:spawn').unsubscribe(this.onSpawn);
    channel('agent-ipc:agent:exit').unsubscribe(this.onExit);
  }

  /** The metrics of every live agent (what `/metrics` renders). */
  snapshots(): Promise<AgentMetrics[]> {
    return Promise.all([...this.agents.values()].map((agent) => agent.metrics({ timeoutMs: SAMPLE_WAIT_MS })));
  }

  /** The Prometheus text exposition of every live agent's metrics. */
  async render(): Promise<string> {
    const calls = new Family('agent_ipc_calls_total', 'counter', 'Calls settled, by agent, direction, kind and outcome.');
    const inFlight = new Family('agent_ipc_calls_in_flight', 'gauge', 'Calls started and not settled.');
    const latency = new Family('agent_ipc_call_duration_seconds', 'summary', 'Start-to-settle latency of calls, as the node measures it.');
    const parked = new Family('agent_ipc_parked_seconds_total', 'counter', "Time the agent's thread spent parked in blocking calls.");
    const elu = new Family('agent_ipc_event_loop_utilization', 'gauge', "The agent's event-loop utilisation since it started (0..1).");
    const cpu = new Family('agent_ipc_cpu_seconds_total', 'counter', "The agent's CPU time (process agents; thread agents on Node 22+).");
    const heap = new Family('agent_ipc_heap_used_bytes', 'gauge', "V8 heap used by the agent's isolate.");
    const spawned = new Family('agent_ipc_agents_spawned_total', 'counter', 'Agents started since this node started.');
    const exited = new Family('agent_ipc_agent_exits_total', 'counter', 'Agents exited, by how: clean, code, signal, error.');
    const live = new Family('agent_ipc_agents', 'gauge', 'Agents running now.');
    for (const m of await this.snapshots()) {
      const who = { agent: m.agent, isolation: m.isolation };
      for (const c of m.calls) {
        const of = { ...who, direction: c.direction, kind: c.kind };
        for (const outcome of ['ok', 'errors', 'timeouts', 'aborted', 'closed'] as const) calls.add({ ...of, outcome }, c[outcome]);
        inFlight.add(of, c.inFlight);
        for (const [q, ms] of [['0.5', c.latency.p50Ms], ['0.9', c.latency.p90Ms], ['0.99', c.latency.p99Ms]] as const) latency.add({ ...of, quantile: q }, ms / 1000);
        latency.add(of, c.latency.totalMs / 1000, '_sum');
        latency.add(of, c.latency.count, '_count');
      }
      parked.add(who, m.parkedMs / 1000);
      if (m.runtime) {
        elu.add(who, m.runtime.eventLoopUtilization);
        heap.add(who, m.runtime.heapUsedBytes);
        if (m.runtime.cpuUserMs !== undefined) cpu.add({ ...who, mode: 'user' }, m.runtime.cpuUserMs / 1000);
        if (m.runtime.cpuSystemMs !== undefined) cpu.add({ ...who, mode: 'system' }, m.runtime.cpuSystemMs / 1000);
      }
    }
    spawned.add({}, this.spawned);
    for (const [reason, n] of this.exits) exited.add({ reason }, n);
    live.add({}, this.agents.size);
    return [calls, inFlight, latency, parked, elu, cpu, heap, spawned, exited, live]
      .filter((f) => f.samples.length > 0)
      .map((f) => f.render())
      .join('');
  }
}

function key(agent: { agent: string; pid: number; threadId: number | undefined }): string {
  return `${agent.agent}/${agent.pid}/${agent.threadId ?? ''}`;
}
