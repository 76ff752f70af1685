/**
 * IpcConnection wired to itself in-process over a MessageChannel: both directions,
 * batching, errors, timeouts, cancellation, close, and bad frames.
 */
import test from 'ava';
import { AbortError, ConnectionClosedError, DataCloneError, ProtocolError, RemoteError, TimeoutError, UnknownMethodError, registerError } from '../src/index.ts';
import { FrameKind } from '../src/wire.ts';
import { IpcClient, IpcServer, type IncomingCall, type IpcCommand } from '../src/connection-layer.ts';
import { FLUSH_FRAMES } from '../src/connection.ts';
import { methodTable } from '../src/rpc.ts';
import { connectionPair, table } from './helpers/connection-pair.ts';

test('requests flow both ways over one connection, with per-direction ids', async (t) => {
  const pair = connectionPair(table({ ping: (x: number) => `a:${x}` }), table({ ping: (x: number) => `b:${x}` }));
  const [fromA, fromB] = await Promise.all([pair.a.request('ping', [1]), pair.b.request('ping', [2])]);
  t.is(fromA, 'b:1');
  t.is(fromB, 'a:2');
  // Each side numbered its own first request 1: ids are per direction, never shared.
  const firstRequestA = pair.sentByA.find((batch) => batch[0] === FrameKind.REQUEST)!;
  const firstRequestB = pair.sentByB.find((batch) => batch[0] === FrameKind.REQUEST)!;
  t.is(firstRequestA[1], 1);
  t.is(firstRequestB[1], 1);
  pair.close();
});

test('values keep structured-clone fidelity', async (t) => {
  const pair = connectionPair(new Map(), table({ echo: (v: unknown) => v }));
  const value = {
    bytes: new Uint8Array([1, 2, 3]),
    map: new Map<unknown, unknown>([['k', { nested: [1, 'two', null] }]]),
    set: new Set([1, 2]),
    date: new Date(1_700_000_000_000),
    big: 123456789012345678901234567890n,
    nested: { deep: { deeper: [undefined, -0, Number.NaN] } },
  };
  const back = (await pair.a.request('echo', [value])) as typeof value;
  t.deepEqual(back, value);
  t.true(back.bytes instanceof Uint8Array);
  t.true(back.map instanceof Map);
  t.true(back.date instanceof Date);
  t.is(typeof back.big, 'bigint');
  pair.close();
});

test('calls issued in one turn travel together, in slices of FLUSH_FRAMES frames', async (t) => {
  const pair = connectionPair(new Map(), table({ add: (a: number, b: number) => a + b }));
  t.teardown(() => pair.close());
  const few = await Promise.all(Array.from({ length: 10 }, (_, i) => pair.a.request('add', [i, 1])));
  t.deepEqual(few, Array.from({ length: 10 }, (_, i) => i + 1));
  t.is(pair.sentByA.length, 1, 'one postMessage for 10 requests');
  // A request frame: REQUEST · id · command · count · args (see src/wire.ts).
  t.deepEqual(pair.sentByA[0]!.slice(0, 6), [FrameKind.REQUEST, 1, 'add', 2, 0, 1]);
  t.is(pair.sentByB.length, 1, 'the 10 answers were produced in one turn and left together');
  t.deepEqual(pair.sentByB[0]!.slice(0, 3), [FrameKind.RESPONSE, 1, 1]);

  pair.sentByA.length = 0;
  pair.sentByB.length = 0;
  const many = await Promise.all(Array.from({ length: 500 }, (_, i) => pair.a.request('add', [i, 1])));
  t.deepEqual(many, Array.from({ length: 500 }, (_, i) => i + 1));
  // Many frames in one turn leave in slices, so the other side starts on the first ones early.
  t.is(pair.sentByA.length, Math.ceil(500 / FLUSH_FRAMES));
  t.true(pair.sentByA.every((batch) => batch.length <= FLUSH_FRAMES * 6));
  t.is(pair.sentByB.length, Math.ceil(500 / FLUSH_FRAMES));
});

test('slow calls overtaken by thousands of others still get their own answers, and close rejects them all', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const pair = connectionPair(new Map(), table({ slow: async (x: number) => (await gate, `slow ${x}`), add: (a: number, b: number) => a + b }));
  t.teardown(() => pair.close());
  // Several slow calls, then more fast ones than the pending table's ring holds (1024),
  // so later ids land on slots the slow ones still occupy.
  const slow = [1, 2, 3].map((x) => pair.a.request('slow', [x]));
  const fast = await Promise.all(Array.from({ length: 3000 }, (_, i) => pair.a.request('add', [i, 1])));
  t.deepEqual(fast, Array.from({ length: 3000 }, (_, i) => i + 1));
  t.is(pair.a.inFlight, 3);
  release();
  t.deepEqual(await Promise.all(slow), ['slow 1', 'slow 2', 'slow 3']);
  t.is(pair.a.inFlight, 0);

  // The same shape, closed while the slow calls wait: every one rejects, once.
  let releaseAgain!: () => void;
  const pair2 = connectionPair(new Map(), table({ wait: () => new Promise<void>((resolve) => (releaseAgain = resolve)), add: (a: number, b: number) => a + b }));
  const waiting = [pair2.a.request('wait', []), pair2.a.request('wait', [])];
  await Promise.all(Array.from({ length: 1500 }, (_, i) => pair2.a.request('add', [i, 1])));
  const late = [pair2.a.request('wait', [])];
  pair2.close();
  const outcomes = await Promise.allSettled([...waiting, ...late]);
  t.true(outcomes.every((outcome) => outcome.status === 'rejected' && (outcome.reason as Error).name === 'ConnectionClosedError'));
  t.is(pair2.a.inFlight, 0);
  releaseAgain();
});

test('an error arrives with name, message, code, own properties, cause chain and both stacks', async (t) => {
  const pair = connectionPair(
    new Map(),
    table({
      fail() {
        const error = new RangeError('out of range') as RangeError & { code: string; height: number; info: object };
        error.code = 'E_RANGE';
        error.height = 42;
        error.info = { peers: ['x'] };
        (error as Error).cause = new TypeError('root cause', { cause: 'a string cause' });
        throw error;
      },
    }),
  );
  const error = await t.throwsAsync(pair.a.request('fail', []));
  t.true(error instanceof RangeError);
  t.is(error.name, 'RangeError');
  t.is(error.message, 'out of range');
  t.like(error as unknown as Record<string, unknown>, { code: 'E_RANGE', height: 42, info: { peers: ['x'] } });
  t.true(error.cause instanceof TypeError);
  t.is((error.cause as Error).message, 'root cause');
  t.is((error.cause as Error).cause, 'a string cause');
  t.regex(error.stack!, /RangeError: out of range/);
  t.regex(error.stack!, /thrown in b, received at/);
  t.regex((error as Error & { remoteStack: string }).remoteStack, /connection\.test\.ts/);
  pair.close();
});

class LedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerError';
  }
  describe(): string {
    return `ledger: ${this.message}`;
  }
}

test('unregistered classes arrive as RemoteError with their name; registerError restores them', async (t) => {
  class UnregisteredError extends Error {
    override name = 'UnregisteredError';
  }
  const pair = connectionPair(
    new Map(),
    table({
      ledger: () => {
        throw new LedgerError('gap');
      },
      other: () => {
        throw new UnregisteredError('nope');
      },
      nonError: () => {
        throw 'just a string';
      },
    }),
  );
  const other = await t.throwsAsync(pair.a.request('other', []));
  t.true(other instanceof RemoteError);
  t.is(other.name, 'UnregisteredError');
  t.false(Object.keys(other).includes('name'), 'the name is not an own enumerable property');

  registerError(LedgerError);
  const ledger = await t.throwsAsync(pair.a.request('ledger', []));
  t.true(ledger instanceof LedgerError);
  t.is((ledger as LedgerError).describe(), 'ledger: gap');

  const nonError = await t.throwsAsync(pair.a.request('nonError', []));
  t.regex(nonError.message, /non-error value thrown: "just a string"/);
  pair.close();
});

test('async handlers: resolved values and rejections both arrive', async (t) => {
  const pair = connectionPair(
    new Map(),
    table({
      later: async (x: number) => x * 2,
      laterFail: async () => {
        throw new SyntaxError('bad later');
      },
      rejectNothing: () => Promise.reject(undefined),
    }),
  );
  t.is(await pair.a.request('later', [21]), 42);
  const error = await t.throwsAsync(pair.a.request('laterFail', []));
  t.true(error instanceof SyntaxError);
  await t.throwsAsync(pair.a.request('rejectNothing', []), { message: /non-error value thrown: undefined/ });
  pair.close();
});

test('expose is an allowlist of own methods: unknown and prototype names are refused', async (t) => {
  const exposed = { hello: () => 'hi', notAFunction: 5 };
  const pair = connectionPair(new Map(), methodTable(exposed, 'expose'));
  t.is(await pair.a.request('hello', []), 'hi');
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'notAFunction', 'missing', '']) {
    const error = await t.throwsAsync(pair.a.request(name, []), { instanceOf: UnknownMethodError }, name);
    t.is((error as UnknownMethodError).method, name);
  }
  pair.close();
});

test('per-call timeout rejects with TimeoutError; the late answer is dropped and the next call gets its own', async (t) => {
  let release!: (v: string) => void;
  let started!: () => void;
  const handlerStarted = new Promise<void>((resolve) => (started = resolve));
  const pair = connectionPair(
    new Map(),
    table({
      slow: () =>
        new Promise<string>((resolve) => {
          release = resolve;
          started();
        }),
      fast: () => 'fast',
    }),
  );
  const error = await t.throwsAsync(pair.a.request('slow', [], { timeoutMs: 30 }), { instanceOf: TimeoutError });
  t.is((error as TimeoutError).timeoutMs, 30);
  t.is(pair.a.inFlight, 0);
  // However loaded the machine, the handler runs at some point; its answer is then late.
  await handlerStarted;
  release('late');
  t.is(await pair.a.request('fast', []), 'fast');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(pair.a.closed, 'a late answer is not a protocol error');
  pair.close();
});

test('the connection-wide default timeout applies, and 0 disables it per call', async (t) => {
  const pair = connectionPair(new Map(), table({ wait: (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)) }), {
    a: { timeoutMs: 20 },
  });
  await t.throwsAsync(pair.a.request('wait', [200]), { instanceOf: TimeoutError });
  t.is(await pair.a.request('wait', [60], { timeoutMs: 0 }), 60);
  t.is(await pair.a.request('wait', [1], { timeoutMs: 500 }), 1);
  pair.close();
});

test('many calls sharing a timeout: those answered in time resolve, the rest time out', async (t) => {
  // Even calls are answered at once, odd ones never: no assumption about how fast "at once" is.
  const pair = connectionPair(new Map(), table({ answer: (yes: boolean) => (yes ? 'yes' : new Promise(() => undefined)) }));
  const results = await Promise.allSettled(
    // 5 s: "at once" must beat the shared timeout even on a machine loaded many times over.
    Array.from({ length: 40 }, (_, i) => pair.a.request('answer', [i % 2 === 0], { timeoutMs: 5000 })),
  );
  results.forEach((result, i) => {
    if (i % 2 === 0) t.is(result.status, 'fulfilled');
    else t.true(result.status === 'rejected' && result.reason instanceof TimeoutError);
  });
  pair.close();
});

test('AbortSignal rejects with AbortError and the cancel frame aborts the handler signal', async (t) => {
  let handlerSignal: AbortSignal | undefined;
  const aborted = new Promise<void>((resolve) => {
    const handlers = new Map([
      [
        'work',
        (_payload: unknown, call: IncomingCall) => {
          handlerSignal = call.signal;
          call.signal.addEventListener('abort', () => resolve());
          return new Promise(() => undefined);
        },
      ],
    ]);
    const pair = connectionPair(new Map(), handlers);
    const controller = new AbortController();
    const call = pair.a.call('work', new Uint8Array([1]), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user gave up')), 10);
    void t
      .throwsAsync(call, { instanceOf: AbortError })
      .then((error) => t.is((error!.cause as Error).message, 'user gave up'))
      .finally(() => setTimeout(() => pair.close(), 50));
  });
  await aborted;
  t.true(handlerSignal?.aborted);
});

test('an already-aborted signal rejects at once without sending', async (t) => {
  const pair = connectionPair(new Map(), table({ x: () => 1 }));
  await t.throwsAsync(pair.a.call('x', new Uint8Array(), { signal: AbortSignal.abort() }), { instanceOf: AbortError });
  t.is(pair.sentByA.length, 0);
  pair.close();
});

test('close rejects every in-flight call, later calls reject at once, handlers see their signal abort', async (t) => {
  let serverSignal: AbortSignal | undefined;
  let started!: () => void;
  const handlerStarted = new Promise<void>((resolve) => (started = resolve));
  const pair = connectionPair(
    new Map(),
    new Map([
      [
        'hang',
        (_p: unknown, call: IncomingCall) => {
          serverSignal = call.signal;
          started();
          return new Promise(() => undefined);
        },
      ],
    ]),
  );
  const inFlight = [pair.a.request('hang', []), pair.a.request('hang', [])];
  await handlerStarted;
  pair.a.close();
  for (const call of inFlight) await t.throwsAsync(call, { instanceOf: ConnectionClosedError });
  await t.throwsAsync(pair.a.request('hang', []), { instanceOf: ConnectionClosedError });
  // The other end learns that the port closed, and its handler's signal aborts.
  await new Promise((resolve) => pair.b.onClose(resolve));
  t.true(pair.b.closed);
  t.true(serverSignal?.aborted);
});

test('close with a reason rejects in-flight calls with that reason, exactly once', async (t) => {
  const pair = connectionPair(new Map(), table({ hang: () => new Promise(() => undefined) }));
  let settled = 0;
  const call = pair.a.request('hang', [], { timeoutMs: 30 }).catch((error: Error) => {
    settled++;
    return error;
  });
  const reason = new Error('agent died');
  pair.a.close(reason);
  t.is(await call, reason);
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.is(settled, 1, 'the timeout did not settle it a second time');
  pair.close();
});

test('the byte layer: IpcClient and IpcServer with a command map, as in the RFC', async (t) => {
  class StorageServer extends IpcServer {
    getCommandMap(): Record<string, IpcCommand> {
      return {
        reverse: (payload) => payload.slice().reverse(),
        empty: () => undefined,
        later: async (payload) => new Uint8Array([payload.length]),
      };
    }
  }
  const pair = connectionPair(new Map(), new StorageServer().handlers());
  const client = new IpcClient(pair.a);
  t.deepEqual(await client.call('reverse', new Uint8Array([1, 2, 3])), new Uint8Array([3, 2, 1]));
  t.deepEqual(await client.call('empty'), new Uint8Array(0));
  t.deepEqual(await client.call('later', new Uint8Array(7)), new Uint8Array([7]));
  await t.throwsAsync(client.call('missing'), { instanceOf: UnknownMethodError });
  await t.throwsAsync(client.call('reverse', 'not bytes' as unknown as Uint8Array), { instanceOf: TypeError });
  pair.close();
});

test('a byte-layer call answered with a non-bytes value rejects with ProtocolError', async (t) => {
  const pair = connectionPair(new Map(), table({ notBytes: () => ({ no: 'bytes' }) }));
  await t.throwsAsync(pair.a.call('notBytes', new Uint8Array()), { instanceOf: ProtocolError });
  pair.close();
});

test('a value that cannot be cloned fails only its own call, at the call site; the rest of the batch goes through', async (t) => {
  const pair = connectionPair(new Map(), table({ echo: (v: unknown) => v, fn: () => () => 1 }));
  const good1 = pair.a.request('echo', [1]);
  const bad = pair.a.request('echo', [() => 'a function']);
  const good2 = pair.a.request('echo', [2]);
  const badSymbol = pair.a.request('echo', [Symbol('s')]);
  t.is(await good1, 1);
  t.is(await good2, 2);
  await t.throwsAsync(bad, { instanceOf: DataCloneError, message: /an argument of 'echo' cannot be sent/ });
  await t.throwsAsync(badSymbol, { instanceOf: DataCloneError });
  // A result that cannot be cloned comes back as an error, not a hang.
  await t.throwsAsync(pair.a.request('fn', []), { name: 'DataCloneError', message: /the result of the call cannot be sent/ });
  t.false(pair.a.closed);
  pair.close();
});

test('garbage from the peer closes the connection with ProtocolError, never throws', async (t) => {
  for (const garbage of [
    'not a batch',
    [1, 2, 3],
    [FrameKind.REQUEST, 'id', 'cmd', []],
    [99, 1, 'cmd', []],
    [FrameKind.REQUEST, 1, 42, []],
    [FrameKind.RESPONSE, 12345, 0, 'answer to a call never made'],
    [FrameKind.NOTIFY, 0, null, 0],
  ]) {
    const pair = connectionPair(new Map(), new Map());
    const pending = pair.b.request('x', [], { timeoutMs: 0 });
    const closed = new Promise<Error>((resolve) => pair.b.onClose(resolve));
    pair.portA.postMessage(garbage);
    const reason = await closed;
    t.true(reason instanceof ProtocolError, JSON.stringify(garbage));
    await t.throwsAsync(pending, { instanceOf: ProtocolError });
    pair.close();
  }
});

test('notify frames reach onNotify and never reach request handlers', async (t) => {
  let secretRan = false;
  let notified!: (entry: [string, unknown]) => void;
  const seen = new Promise<[string, unknown]>((resolve) => (notified = resolve));
  const pair = connectionPair(table({ secret: () => (secretRan = true) }), new Map(), {
    a: { onNotify: (command, payload) => notified([command, payload]) },
  });
  pair.b.notify('secret', { x: 1 });
  t.deepEqual(await seen, ['secret', { x: 1 }]);
  t.false(secretRan);
  pair.close();
});

test('whenIncomingStarted refuses an id that is no request id with a TypeError; 0 and the largest id are ids', (t) => {
  // Compared modulo the id space, such an id would stand for another request and wait for it.
  const pair = connectionPair(new Map(), new Map());
  for (const bad of [1.5, -1, NaN, Infinity, 2 ** 30, 2 ** 32 + 1, '3', undefined, null, {}]) {
    const error = t.throws(() => pair.b.whenIncomingStarted(bad as number), { instanceOf: TypeError }, String(bad));
    t.is((error as TypeError & { code?: string }).code, 'ERR_AGENT_IPC_INVALID_ARGUMENT');
    t.regex(error!.message, /^\[agent-ipc\] whenIncomingStarted\(id\) expects a request id, an integer from 0 to 1073741823, got /);
  }
  t.is(pair.b.whenIncomingStarted(0), undefined);
  const last = pair.b.whenIncomingStarted(2 ** 30 - 1);
  t.is(last, undefined, 'half the id space behind the highest id seen (0): already started');
  pair.close();
});

test('whenIncomingStarted: resolves once the peer request was dispatched, rejects if the connection closes first', async (t) => {
  const pair = connectionPair(new Map(), table({ x: () => 1 }));
  t.is(pair.b.whenIncomingStarted(0), undefined, 'nothing to wait for');
  const second = pair.b.whenIncomingStarted(2)!;
  const never = pair.b.whenIncomingStarted(5)!;
  await pair.a.request('x', []);
  await pair.a.request('x', []);
  await second;
  t.is(pair.b.whenIncomingStarted(2), undefined);
  pair.b.close();
  await t.throwsAsync(never, { instanceOf: ConnectionClosedError });
  pair.close();
});

test('maxSentDepth: a value nested deeper fails its own call alone with DataCloneError, both as an argument and as an answer', async (t) => {
  const deep = (n: number): unknown => (n === 0 ? 0 : { next: deep(n - 1) });
  const handlers = methodTable({ deep: (n: number) => deep(n), echo: (x: unknown) => x }, 'handlers');
  const pair = connectionPair(handlers, handlers, { a: { maxSentDepth: 10 }, b: { maxSentDepth: 10 } });
  try {
    // An answer too deep: that call alone fails; the calls beside it in the same batch are answered.
    const [before, tooDeep, after] = await Promise.allSettled([pair.b.request('echo', [1]), pair.b.request('deep', [20]), pair.b.request('echo', [2])]);
    t.deepEqual([before, after], [
      { status: 'fulfilled', value: 1 },
      { status: 'fulfilled', value: 2 },
    ]);
    t.true(tooDeep.status === 'rejected' && tooDeep.reason instanceof DataCloneError, String((tooDeep as PromiseRejectedResult).reason));
    // An argument too deep: the call rejects at its call site.
    await t.throwsAsync(pair.a.request('echo', [deep(20)]), { instanceOf: DataCloneError, message: /nested more than 10 levels deep/ });
    t.like(await pair.a.request('echo', [deep(3)]), { next: { next: { next: 0 } } });
  } finally {
    pair.close();
  }
});
