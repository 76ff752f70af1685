/** Limits a user sets on a connection hold: message size and calls in flight. */
import test from 'ava';
import { MessageTooLargeError, TooManyCallsError } from '../src/index.ts';
import { payloadBytes, wireErrorBytes } from '../src/payload-size.ts';
import { serializeError, type WireError } from '../src/error-codec.ts';
import { requestBytes } from '../src/blocking/mailbox-body.ts';
import { connectionPair, table } from './helpers/connection-pair.ts';

test('payloadBytes counts bytes and strings at the top and one level down', (t) => {
  t.is(payloadBytes(new Uint8Array(10)), 10);
  t.is(payloadBytes('abc'), 3);
  t.is(payloadBytes([new Uint8Array(5), 'xy', 7]), 7);
  t.is(payloadBytes([{ body: new Uint8Array(100), name: 'n' }]), 101);
  t.is(payloadBytes({ a: new ArrayBuffer(8), b: [1, 2] }), 8);
  t.is(payloadBytes([1, 2, null, undefined]), 0);
});

// An inline agent's blocking request is measured by a scan for an argument that could be
// large, then the count: wherever the string or object sits among the arguments, and
// whatever comes before it, it is counted; arguments that cannot be large count 0.
test('requestBytes measures a blocking request where the large argument sits, after any others', (t) => {
  t.is(requestBytes([1, true, undefined]), 0);
  t.is(requestBytes([]), 0);
  t.is(requestBytes([1, true, undefined, 'abcd']), 4);
  t.is(requestBytes([null, 2, new Uint8Array(10)]), 10);
  t.is(requestBytes([0, { body: new Uint8Array(100) }, 'xy']), 102);
  t.is(requestBytes(new Uint8Array(7)), 7, 'a byte-layer call: its bytes');
  const many: unknown[] = Array.from({ length: 63 }, (_, i) => i);
  many.push('y'.repeat(5));
  t.is(requestBytes(many), 5, 'the 64th argument is measured');
});

test('an oversized call rejects at its call site with MessageTooLargeError; the connection stays usable', async (t) => {
  const pair = connectionPair(new Map(), table({ size: (b: Uint8Array) => b.length, echo: (v: unknown) => v }), {
    a: { maxMessageBytes: 1024 },
  });
  const error = await t.throwsAsync(pair.a.request('size', [new Uint8Array(2048)]), { instanceOf: MessageTooLargeError });
  t.is((error as MessageTooLargeError).size, 2048);
  t.is((error as MessageTooLargeError).limit, 1024);
  await t.throwsAsync(pair.a.call('size', new Uint8Array(4096)), { instanceOf: MessageTooLargeError });
  t.is(await pair.a.request('size', [new Uint8Array(512)]), 512);
  t.false(pair.a.closed);
  pair.close();
});

test('an oversized answer becomes a MessageTooLargeError for the caller; the connection stays usable', async (t) => {
  const pair = connectionPair(new Map(), table({ big: (n: number) => 'x'.repeat(n) }), { b: { maxMessageBytes: 1000 } });
  await t.throwsAsync(pair.a.request('big', [5000]), { instanceOf: MessageTooLargeError, message: /the result of call/ });
  t.is(await pair.a.request('big', [10]), 'x'.repeat(10));
  pair.close();
});

test("wireErrorBytes counts an error record's strings, properties, causes and aggregated errors", (t) => {
  const wire = serializeError(
    new AggregateError([new Error('abcd'), 'plain'], 'm', { cause: Object.assign(new Error('ef'), { data: new Uint8Array(10) }) }),
  );
  const stacks = (wire.stack?.length ?? 0) + ((wire.cause as WireError).stack?.length ?? 0) + ((wire.errors![0] as WireError).stack?.length ?? 0);
  // 'AggregateError' + 'm', cause 'Error' + 'ef' + 10 bytes, errors 'Error' + 'abcd' and 'plain'.
  t.is(wireErrorBytes(wire), 14 + 1 + 5 + 2 + 10 + 5 + 4 + 5 + stacks);
});

test('an oversized error answer becomes a MessageTooLargeError for the caller, wherever its bulk is; the connection stays usable', async (t) => {
  const fail = (error: Error) => () => {
    throw error;
  };
  const n = 5000;
  const pair = connectionPair(
    new Map(),
    table({
      message: fail(new Error('x'.repeat(n))),
      property: fail(Object.assign(new Error('small'), { detail: 'y'.repeat(n) })),
      cause: fail(new Error('small', { cause: new Error('c'.repeat(n)) })),
      aggregate: fail(new AggregateError([new Error('q'.repeat(n))], 'many')),
      small: fail(new RangeError('small')),
    }),
    { b: { maxMessageBytes: 1000 } },
  );
  for (const command of ['message', 'property', 'cause', 'aggregate']) {
    await t.throwsAsync(pair.a.request(command, []), { instanceOf: MessageTooLargeError, message: /the error thrown by call/ }, command);
  }
  await t.throwsAsync(pair.a.request('small', []), { name: 'RangeError', message: 'small' });
  t.false(pair.a.closed);
  pair.close();
});

for (const isolation of ['inline', 'thread', 'process'] as const) {
  test(`${isolation}: an agent's error over maxMessageBytes fails that call with MessageTooLargeError, async and blocking`, async (t) => {
    const { spawnAgent } = await import('../src/index.ts');
    type BigErrors = typeof import('./fixtures/big-errors-agent.ts').default;
    const limit = 4096;
    const agent = await spawnAgent<BigErrors>(new URL('./fixtures/big-errors-agent.ts', import.meta.url), { isolation, maxMessageBytes: limit });
    t.teardown(() => agent.close({ timeoutMs: 500 }));
    for (const method of ['bigMessage', 'bigProperty', 'bigCauseBytes', 'bigErrorCause', 'bigAggregate'] as const) {
      const error = await t.throwsAsync(agent.remote[method](8192), { instanceOf: MessageTooLargeError }, `async ${method}`);
      t.is((error as MessageTooLargeError).limit, limit);
      if (isolation !== 'process') t.throws(() => agent.blocking[method](8192), { instanceOf: MessageTooLargeError }, `blocking ${method}`);
    }
    await t.throwsAsync(agent.remote.small(), { name: 'RangeError', message: 'small' });
    if (isolation !== 'process') t.throws(() => agent.blocking.small(), { name: 'RangeError', message: 'small' });
  });
}

test('outgoing calls beyond maxInFlight reject at once with TooManyCallsError; the rest complete', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const pair = connectionPair(new Map(), table({ wait: async () => gate.then(() => 'done') }), { a: { maxInFlight: 3 } });
  const admitted = [1, 2, 3].map(() => pair.a.request('wait', []));
  await t.throwsAsync(pair.a.request('wait', []), { instanceOf: TooManyCallsError });
  release();
  t.deepEqual(await Promise.all(admitted), ['done', 'done', 'done']);
  t.is(await pair.a.request('wait', []), 'done', 'room again once calls settled');
  pair.close();
});

test('incoming calls beyond maxInFlight are answered with TooManyCallsError instead of started', async (t) => {
  let started = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const pair = connectionPair(
    new Map(),
    table({
      wait: async () => {
        started++;
        await gate;
        return 'done';
      },
    }),
    { b: { maxInFlight: 2 } },
  );
  const calls = [1, 2, 3, 4].map(() => pair.a.request('wait', []));
  const refused = await Promise.allSettled([calls[2]!, calls[3]!]);
  for (const result of refused) t.true(result.status === 'rejected' && result.reason instanceof TooManyCallsError);
  t.is(started, 2, 'only two handlers were started');
  release();
  t.deepEqual(await Promise.all([calls[0]!, calls[1]!]), ['done', 'done']);
  pair.close();
});

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: spawnAgent's maxMessageBytes and maxInFlight hold both ways`, async (t) => {
    const { spawnAgent } = await import('../src/index.ts');
    type Echo = typeof import('./fixtures/echo-agent.ts').default;
    const agent = await spawnAgent<Echo>(new URL('./fixtures/echo-agent.ts', import.meta.url), {
      isolation,
      maxMessageBytes: 64 * 1024,
      maxInFlight: 2,
      expose: { echo: (v: unknown) => v },
    });
    t.teardown(() => agent.close({ timeoutMs: 500 }));
    // node → agent: too large at the call site; the agent stays usable.
    await t.throwsAsync(agent.remote.echo(new Uint8Array(100 * 1024)), { instanceOf: MessageTooLargeError });
    t.deepEqual(await agent.remote.echo(new Uint8Array(10)), new Uint8Array(10));
    // agent → node: the agent's own call is refused in the agent.
    await t.throwsAsync(agent.remote.callNode('echo', 'x'.repeat(100 * 1024)), { name: 'MessageTooLargeError' });
    // node → agent: two calls in flight, a third is refused at once.
    const slow = [agent.remote.sleep(200), agent.remote.sleep(200)];
    await t.throwsAsync(agent.remote.add(1, 2), { instanceOf: TooManyCallsError });
    t.deepEqual(await Promise.all(slow), ['slept', 'slept']);
    t.is(await agent.remote.add(1, 2), 3);
  });
}

// A blocking call's answer over maxMessageBytes fails that call with MessageTooLargeError,
// whatever the isolation: thread and process agents' servers measure the encoded answer;
// an inline agent's answers are handed over as they are, and held to the limit by the
// estimate async answers get. Both ways where the isolation has them (a process agent
// has no agent.blocking), for a value, a string and a thrown error; the call is counted
// as an error, and the next call is answered.
for (const isolation of ['inline', 'thread', 'process'] as const) {
  test(`${isolation}: a blocking answer over maxMessageBytes fails that call with MessageTooLargeError, both ways`, async (t) => {
    const { spawnAgent } = await import('../src/index.ts');
    type Echo = typeof import('./fixtures/echo-agent.ts').default;
    const limit = 4096;
    const agent = await spawnAgent<Echo>(new URL('./fixtures/echo-agent.ts', import.meta.url), {
      isolation,
      maxMessageBytes: limit,
      expose: {
        big: (size: number) => new Uint8Array(size),
        echo: (value: unknown) => value,
        text: (size: number) => 'x'.repeat(size),
        fail: (size: number) => {
          throw new RangeError('x'.repeat(size));
        },
      },
    });
    t.teardown(() => agent.close({ timeoutMs: 500 }));
    const tooLarge = { name: 'MessageTooLargeError', code: 'ERR_AGENT_IPC_TOO_LARGE' };
    const shape = /^\[agent-ipc\] blocking call answer of \d+ bytes exceeds the limit of 4096 bytes$/;
    // agent → node: the node's answer, as the agent's main.blocking.x() sees it.
    for (const [method, size] of [['big', 8192], ['text', 8192], ['fail', 4000]] as const) {
      const seen = (await agent.remote.blockingError(method as 'big', size)) as { name: string; code: string; message: string };
      t.like(seen, tooLarge, `agent → node: ${method}(${size})`);
      t.regex(seen.message, shape);
    }
    t.deepEqual(await agent.remote.blockingNode('big' as 'echo', 16), new Uint8Array(16), 'agent → node: the next call is answered');
    t.is(agent.stats.errors, 3, 'each refused answer counts as an error');
    // node → agent: the agent's answer, as the node's agent.blocking.x() sees it.
    if (isolation !== 'process') {
      for (const [method, size] of [['bytes', 8192], ['throwLong', 4000]] as const) {
        const error = t.throws(() => (agent.blocking[method] as (n: number) => unknown)(size), { instanceOf: MessageTooLargeError }, `node → agent: ${method}(${size})`);
        t.regex(error!.message, shape);
        t.is((error as MessageTooLargeError).limit, limit);
      }
      t.deepEqual(agent.blocking.bytes(16), new Uint8Array(16), 'node → agent: the next call is answered');
      t.is(agent.stats.errors, 5);
    }
  });
}

// A blocking call's request (its arguments) over maxMessageBytes is refused at the call
// site with MessageTooLargeError, whatever the isolation: thread and process agents'
// callers measure the encoded request; an inline agent's arguments are handed over as
// they are, and held to the limit by the estimate async arguments get. Both ways where
// the isolation has them; the call is refused before it starts (neither served, nor
// counted), and the next call is answered.
for (const isolation of ['inline', 'thread', 'process'] as const) {
  test(`${isolation}: a blocking request over maxMessageBytes is refused at the call site with MessageTooLargeError, both ways`, async (t) => {
    const { spawnAgent } = await import('../src/index.ts');
    type Echo = typeof import('./fixtures/echo-agent.ts').default;
    const limit = 4096;
    let served = 0;
    const agent = await spawnAgent<Echo>(new URL('./fixtures/echo-agent.ts', import.meta.url), {
      isolation,
      maxMessageBytes: limit,
      expose: {
        echo: (value: unknown) => {
          served++;
          return value === undefined ? undefined : 'served';
        },
      },
    });
    t.teardown(() => agent.close({ timeoutMs: 500 }));
    const tooLarge = { name: 'MessageTooLargeError', code: 'ERR_AGENT_IPC_TOO_LARGE' };
    const shape = (method: string): RegExp => new RegExp(`^\\[agent-ipc\\] blocking call '${method}' request of \\d+ bytes exceeds the limit of 4096 bytes$`);
    // agent → node: the agent's main.blocking.echo(arg), refused in the agent.
    for (const kind of ['bytes', 'text', 'object'] as const) {
      const seen = (await agent.remote.blockingLargeArg('echo', kind, 8192)) as { name: string; code: string; message: string };
      t.like(seen, tooLarge, `agent → node: ${kind}`);
      t.regex(seen.message, shape('echo'));
    }
    t.is(served, 0, 'agent → node: no handler ran');
    t.like(agent.stats, { blockingCalls: 0, errors: 0 }, 'agent → node: refused calls are not counted');
    t.is(await agent.remote.blockingNode('echo', 'small'), 'served', 'agent → node: the next call is answered');
    t.is(agent.stats.blockingCalls, 1);
    // node → agent: the node's agent.blocking.echo(arg), refused in the node.
    if (isolation !== 'process') {
      const callsOut = agent.stats.callsOut;
      for (const arg of [new Uint8Array(8192), 'x'.repeat(8192)]) {
        const error = t.throws(() => agent.blocking.echo(arg), { instanceOf: MessageTooLargeError }, `node → agent: ${typeof arg}`);
        t.regex(error!.message, shape('echo'));
        t.is((error as MessageTooLargeError).limit, limit);
      }
      t.like(agent.stats, { callsOut, errors: 0 }, 'node → agent: refused calls are not counted');
      t.is(agent.blocking.echo('small'), 'small', 'node → agent: the next call is answered');
      t.is(agent.stats.callsOut, callsOut + 1);
    }
  });
}

test('option validation: maxInFlight must be a positive integer', async (t) => {
  const { spawnAgent } = await import('../src/index.ts');
  for (const bad of [0, -1, 1.5, '10']) {
    await t.throwsAsync(spawnAgent(new URL('./fixtures/echo-agent.ts', import.meta.url), { maxInFlight: bad as number }), {
      instanceOf: TypeError,
      message: /option 'maxInFlight' must be a positive integer/,
    });
  }
});
