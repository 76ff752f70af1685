/**
 * Starting agents in tests: one spawn that closes its agent when the test ends, one
 * that closes it when a body is done, a record of the agents started meanwhile, and polling for a condition without asserting on
 * time.
 */
import { channel } from 'node:diagnostics_channel';
import { spawnAgent, type Agent, type AgentSpawnMessage, type SpawnAgentOptions } from '../../src/index.ts';

/** What of ava's test context the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Records every `agent-ipc:agent:spawn` message from now until the test ends: agents
 * started out of the test's reach (by a line server, a full node) show their pid here.
 */
export function recordSpawns(t: Teardown): AgentSpawnMessage[] {
  const spawned: AgentSpawnMessage[] = [];
  const onSpawn = (message: unknown): void => {
    spawned.push(message as AgentSpawnMessage);
  };
  channel('agent-ipc:agent:spawn').subscribe(onSpawn);
  t.teardown(() => channel('agent-ipc:agent:spawn').unsubscribe(onSpawn));
  return spawned;
}

/** Spawns `entry` for the current test and closes it when the test ends (a second to finish, then forced). */
export async function spawnForTest<Remote, Local extends object = object>(t: Teardown, entry: URL, options: SpawnAgentOptions<Local> = {}): Promise<Agent<Remote>> {
  const agent = await spawnAgent<Remote, Local>(entry, options);
  t.teardown(() => agent.close({ timeoutMs: 1000 }));
  return agent;
}

/** Spawns `entry`, runs `body` with the agent and closes it however `body` ended. */
export async function withSpawned<Remote, T, Local extends object = object>(entry: URL, options: SpawnAgentOptions<Local>, body: (agent: Agent<Remote>) => Promise<T>): Promise<T> {
  const agent = await spawnAgent<Remote, Local>(entry, options);
  try {
    return await body(agent);
  } finally {
    await agent.close();
  }
}

/** Polls `condition` (sync or async) every `everyMs` until it holds or `ms` pass; its last answer. */
export async function within(ms: number, condition: () => unknown, everyMs = 10): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return Boolean(await condition());
}
