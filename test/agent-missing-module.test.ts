/**
 * A missing agent module is an AgentModuleNotFoundError naming the path as passed and as
 * resolved, with its code (ERR_AGENT_IPC_MODULE_NOT_FOUND; Node's error, when there is one, is its cause), in thread and process agents and in
 * spawnAgentSync; refused by the node before anything starts when the file is plainly
 * missing. Nothing here asserts on timing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { AgentModuleNotFoundError, spawnAgent, spawnAgentSync, type Agent } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'agent-ipc-missing-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: a missing agent module is AgentModuleNotFoundError naming the path as passed and as resolved`, async (t) => {
    const missing = join(dir, 'nowhere', 'agent.js');
    const given = relative(process.cwd(), missing);
    const error = await t.throwsAsync(spawnAgent(given, { isolation }), { instanceOf: AgentModuleNotFoundError });
    t.is(error.code, 'ERR_AGENT_IPC_MODULE_NOT_FOUND');
    t.regex(error.message, /^\[agent-ipc\] agent module '/);
    t.true(error.message.includes(`'${given}'`));
    t.true(error.message.includes(missing));
    t.is(error.entry, given);
    t.is(error.path, missing);
    t.false(error.message.includes('bootstrap'));
  });

  test(`${isolation}: a missing module the node cannot rule out (no extension) is still AgentModuleNotFoundError, with Node's error as the cause`, async (t) => {
    const missing = join(dir, 'nowhere', 'agent');
    const error = await t.throwsAsync(spawnAgent(pathToFileURL(missing), { isolation }), { instanceOf: AgentModuleNotFoundError });
    t.is(error.code, 'ERR_AGENT_IPC_MODULE_NOT_FOUND');
    t.is(error.path, missing);
    t.is((error.cause as { code?: unknown }).code, 'ERR_MODULE_NOT_FOUND');
  });
}

test('spawnAgentSync: a missing module is AgentModuleNotFoundError, thrown before any thread starts', (t) => {
  const missing = pathToFileURL(join(dir, 'nowhere', 'sync-agent.mjs'));
  const error = t.throws(() => spawnAgentSync(missing), { instanceOf: AgentModuleNotFoundError });
  t.is(error.code, 'ERR_AGENT_IPC_MODULE_NOT_FOUND');
  t.is(error.entry, missing.href);
  t.true(error.message.includes(missing.href));
  // Found on the node's side: there is no agent's error behind it.
  t.is(error.cause, undefined);
});

test("an entry named with the .js its TypeScript source compiles to is not refused by the node's check (tsx loads the .ts)", async (t) => {
  const agent: Agent<{ twice(n: number): Promise<number> }> = await spawnAgent(new URL('./fixtures/minimal-agent.js', import.meta.url), {
    expose: { inc: (n: number) => n + 1 },
  });
  t.teardown(() => agent.close());
  t.is(await agent.remote.twice(2), 5);
});

test("AgentModuleNotFoundError crosses a connection as itself, with its code (an error of that name without an agent-ipc code does not)", async (t) => {
  const { deserializeError, serializeError } = await import('../src/error-codec.ts');
  const original = new AgentModuleNotFoundError('agent.js', '/app/agent.js');
  const back = deserializeError(structuredClone(serializeError(original)));
  t.true(back instanceof AgentModuleNotFoundError);
  t.is((back as AgentModuleNotFoundError).code, 'ERR_AGENT_IPC_MODULE_NOT_FOUND');
  t.is((back as AgentModuleNotFoundError).path, '/app/agent.js');
  const imposter = deserializeError({ name: 'AgentModuleNotFoundError', message: 'm', code: 'ERR_MODULE_NOT_FOUND' });
  t.false(imposter instanceof AgentModuleNotFoundError);
});
