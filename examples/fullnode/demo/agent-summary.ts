/**
 * A short per-agent summary of a node's run, read from its `GET /metrics` (the
 * Prometheus text of every live agent): calls, p99 latency of the calls the node
 * served for it, time it spent parked in blocking calls.
 */
import * as http from 'node:http';

export interface AgentSummary {
  agent: string;
  isolation: string;
  /** Calls settled, both ways, every kind. */
  calls: number;
  /** The highest p99 of the calls the node served for the agent (async or blocking), ms. */
  p99Ms: number;
  /** Time the agent spent parked in blocking calls, ms. */
  parkedMs: number;
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${response.statusCode}`))));
      })
      .on('error', reject);
  });
}

/** The per-agent summary of the node whose HTTP API is on `port` (agents still running). */
export async function agentSummaries(port: number): Promise<AgentSummary[]> {
  const text = await get(port, '/metrics');
  const byAgent = new Map<string, AgentSummary>();
  for (const line of text.split('\n')) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const [, name, rawLabels, rawValue] = match;
    const labels = Object.fromEntries([...rawLabels!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    const value = Number(rawValue);
    if (!labels.agent) continue;
    const summary = byAgent.get(labels.agent) ?? { agent: labels.agent, isolation: labels.isolation ?? '?', calls: 0, p99Ms: 0, parkedMs: 0 };
    byAgent.set(labels.agent, summary);
    if (name === 'agent_ipc_calls_total') summary.calls += value;
    else if (name === 'agent_ipc_call_duration_seconds' && labels.quantile === '0.99' && labels.direction === 'agent-to-node') summary.p99Ms = Math.max(summary.p99Ms, value * 1000);
    else if (name === 'agent_ipc_parked_seconds_total') summary.parkedMs = value * 1000;
  }
  return [...byAgent.values()];
}

/** One line per agent, e.g. `peer-1 (thread): 12,345 calls, p99 0.21 ms, parked 1.3 s`. */
export function formatSummaries(summaries: readonly AgentSummary[]): string[] {
  return summaries.map(
    (s) =>
      `${s.agent} (${s.isolation}): ${s.calls.toLocaleString('en-US')} calls, p99 ${s.p99Ms.toFixed(2)} ms, parked ${(s.parkedMs / 1000).toFixed(2)} s`,
  );
}
