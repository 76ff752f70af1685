/**
 * Starting agents in tests: one spawn that closes its agent when the test ends, one
 * that closes it when a body is done, and polling for a condition without asserting on
 * time.
 */
import { spawnAgent, type Agent, type SpawnAgentOptions } from '../../src/index.ts';

/** What of ava's test context the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void;
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
