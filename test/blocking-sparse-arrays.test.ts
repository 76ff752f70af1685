/**
 * Sparse and pre-sized arrays through blocking calls. The codec sends them as a v8 body
 * whose length its bytes do not back, and its reader refused any that would decode to
 * more than ~80 bytes of heap a byte + 1 MiB: `a[1e6] = 'x'`, or `new Array(300_000)`
 * with a few elements set, failed with a `ProtocolError` in every direction though the
 * same values cross an async call (found by an outside review, 2026-12-07). A reader now
 * allows a v8 body the budget a stream frame of the same `maxMessageBytes` has
 * (8 × it), and still refuses a body that claims more.
 */
import test from 'ava';
import { ProtocolError, spawnAgent, spawnAgentSync } from '../src/index.ts';
import { ByteArea, decode, encodeToNewBuffer } from '../src/blocking/value-codec.ts';
import { decodeBudget } from '../src/decoded-size.ts';
import type BlockingAgent from './fixtures/blocking-agent.ts';
import type { BlockingNodeApi } from './fixtures/blocking-agent.ts';

const entry = new URL('./fixtures/blocking-agent.ts', import.meta.url);
const MiB = 1024 * 1024;

function farElement(): unknown[] {
  const list: unknown[] = [];
  list[1_000_000] = 'x';
  return list;
}

function preSized(): unknown[] {
  const list = new Array<unknown>(300_000);
  for (let i = 0; i < 10; i++) list[i * 1000] = i;
  return list;
}

/** What makes two sparse arrays the same: their length and the elements they have. */
function shape(value: unknown): { length: number; entries: Array<[string, unknown]> } {
  const list = value as unknown[];
  return { length: list.length, entries: Object.entries(list) };
}

const nodeApi: BlockingNodeApi = {
  echo: (value) => value,
} as Partial<BlockingNodeApi> as BlockingNodeApi;

for (const [name, make] of [
  ['an element at index 1,000,000', farElement],
  ['new Array(300_000) with 10 elements set', preSized],
] as const) {
  test(`codec: ${name} decodes within the budget of the default maxMessageBytes, and not without it`, (t) => {
    const body = encodeToNewBuffer(make());
    const area = new ByteArea(body.buffer, body.byteOffset, body.byteLength);
    t.deepEqual(shape(decode(area, 0, body.length, false, decodeBudget(64 * MiB))), shape(make()));
    t.throws(() => decode(area, 0, body.length), { instanceOf: RangeError, message: /v8 body claims more/ });
  });

  for (const isolation of ['thread', 'process'] as const) {
    test(`${isolation}: ${name} crosses main.blocking both ways`, async (t) => {
      const agent = await spawnAgent<typeof BlockingAgent, BlockingNodeApi>(entry, { isolation, expose: nodeApi, timeoutMs: 20_000 });
      t.teardown(() => agent.close());
      // The agent's echo is main.blocking.echo: the node decodes the request, the agent the answer.
      t.deepEqual(shape(await agent.remote.echo(make())), shape(make()));
    });
  }

  test(`thread, the node parked: ${name} crosses agent.blocking and the call-back inside it`, (t) => {
    const agent = spawnAgentSync<typeof BlockingAgent, BlockingNodeApi>(entry, { expose: nodeApi, timeoutMs: 20_000 });
    t.teardown(() => agent.close());
    // agent.blocking.echo: the agent decodes the request and calls back main.blocking.echo
    // (the node decodes that, the agent its answer), and the node decodes the answer.
    t.deepEqual(shape(agent.blocking.echo(make())), shape(make()));
  });
}

test('a sparse array claiming more than 8 × maxMessageBytes is still refused, and the agent keeps serving', async (t) => {
  const agent = await spawnAgent<typeof BlockingAgent, BlockingNodeApi>(entry, { expose: nodeApi, maxMessageBytes: MiB, timeoutMs: 20_000 });
  t.teardown(() => agent.close());
  // 2²⁴ elements: V8 would allocate a 128 MiB backing store, over the 8 MiB budget.
  const huge: unknown[] = [];
  huge[2 ** 24 - 1] = 1;
  const error = await t.throwsAsync(agent.remote.echo(huge));
  t.true(error instanceof ProtocolError, `${error?.name}: ${error?.message}`);
  t.is(await agent.remote.echo('still'), 'still');
});
