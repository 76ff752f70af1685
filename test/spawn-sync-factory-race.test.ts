/**
 * spawnAgentSync and a factory that fails after a call-back: the factory's own error is
 * thrown even when the agent's thread has ended before the parked node read the report.
 *
 * The race: the node, parked in spawnAgentSync, reads the agent's port, serves the
 * call-back and sends its answer. The agent resumes, reports its failure (one more batch
 * on the port) and exits a turn later. If that all happens before the node's next look
 * at the port, the node sees the reverse mailbox say EXITED first; it read the report
 * only while building the exit's error, and threw `AgentExitedError` (the failure as its
 * cause) instead of the failure. A few runs in a hundred did, on a loaded machine.
 *
 * The tests pin that interleaving instead of looping on it: a subscriber of the
 * `agent-ipc:call` tracing channel, told once the call-back's answer has been sent (still
 * inside that look, before the node looks at the port again), holds the node's thread
 * until the agent's thread has ended. Nothing here asserts on timing.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import test from 'ava';
import { AgentExitedError, DeadlockError, spawnAgentSync, type CallTraceContext } from '../src/index.ts';
import { EXITED, HOLD_MS, type RaceNodeApi } from './fixtures/spawn-sync-factory-race/api.ts';

const fixture = (name: string): URL => new URL(`./fixtures/spawn-sync-factory-race/${name}`, import.meta.url);

let runs = 0;

/**
 * Starts `fails-after-callback.ts` with `config` as the node's handler, holding the node
 * once config's answer is out until the agent's thread has ended; returns what
 * spawnAgentSync threw and whether the hold saw the agent end.
 */
function startHeld(config: () => string | Promise<string>): { thrown: unknown; held: boolean } {
  const memory = new SharedArrayBuffer(4);
  const flags = new Int32Array(memory);
  const name = `race-${++runs}`;
  let held = false;
  const hold = (message: unknown): void => {
    const call = message as CallTraceContext;
    if (call.agent !== name || call.direction !== 'agent-to-node' || call.method !== 'config' || held) return;
    held = true;
    Atomics.wait(flags, EXITED, 0, HOLD_MS);
  };
  // `end`: a call-back served while parked settles once its answer has been sent.
  const ended = tracingChannel('agent-ipc:call').end;
  ended.subscribe(hold);
  let thrown: unknown;
  try {
    spawnAgentSync<unknown, RaceNodeApi>(fixture('fails-after-callback.ts'), { name, data: memory, expose: { config } });
  } catch (error) {
    thrown = error;
  } finally {
    ended.unsubscribe(hold);
  }
  return { thrown, held: held && Atomics.load(flags, EXITED) === 1 };
}

test('a factory error reported just before the agent exits wins over the exit (the node saw EXITED first)', (t) => {
  const { thrown, held } = startHeld(() => 'cfg');
  // The interleaving happened: the node was held past its look at the port until the agent's thread had ended.
  t.true(held);
  t.false(thrown instanceof AgentExitedError, `got ${String(thrown)}`);
  t.true(thrown instanceof RangeError);
  t.is((thrown as Error).message, 'after the call-back');
  t.regex((thrown as Error).stack ?? '', /fails-after-callback\.ts/);
});

test("the DeadlockError of a call-back to an async handler, let out of the factory, wins over the agent's exit", (t) => {
  const { thrown, held } = startHeld(async () => 'cfg');
  t.true(held);
  t.false(thrown instanceof AgentExitedError, `got ${String(thrown)}`);
  t.true(thrown instanceof DeadlockError);
  t.regex((thrown as Error).message, /'config'.*waits in spawnAgentSync/);
});

// ── the DeadlockError's message while spawnAgentSync waits ──────────────────────────

for (const how of ['async', 'blocking'] as const) {
  test(`main.${how} call-back to an async handler during spawnAgentSync: DeadlockError names spawnAgentSync, not agent.blocking`, (t) => {
    const error = t.throws(() => spawnAgentSync<unknown, RaceNodeApi>(fixture('async-callback.ts'), { data: how, expose: { config: async () => 'cfg' } }), {
      instanceOf: DeadlockError,
    });
    const message = error!.message;
    t.regex(message, /call 'config' cannot be served/);
    t.regex(message, /waits in spawnAgentSync for the factory of agent '[^']+'/);
    t.regex(message, /returned a promise/);
    t.regex(message, /Make the handler synchronous, call it after start-up/);
    t.notRegex(message, /agent\.blocking|callBlocking|agent\.remote/);
  });
}
