/**
 * The error codec on hostile records and hostile errors, directly: it never throws,
 * never loops, runs none of the error's code, and never takes a prototype from the wire.
 */
import test from 'ava';
import fc from 'fast-check';
import { deserializeError, serializeError, type WireError } from '../src/error-codec.ts';
import * as errors from '../src/errors.ts';
import { ProtocolError, RemoteError, ThrownValueError } from '../src/errors.ts';

test('records that are not records become a ProtocolError, never a throw', (t) => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const records = [undefined, null, 5, 'text', [], {}, { name: 1, message: 'm' }, { name: 'E' }, proxy, Object.create(null) as object];
  for (const [index, wire] of records.entries()) t.true(deserializeError(wire) instanceof ProtocolError, `record ${index}`);
});

test('a record is read as data: wrong-typed fields ignored, __proto__ a key, reserved props skipped, getters never run', (t) => {
  const props = JSON.parse('{"__proto__": {"polluted": true}, "stack": "fake", "detail": 1}') as Record<string, unknown>;
  let ran = false;
  const wire = { name: 'SomeError', message: 'm', code: 42, stack: ['not a string'], props, cause: 'not a record' } as unknown as WireError;
  Object.defineProperty(wire, 'sneaky', { enumerable: true, get: () => (ran = true) });
  const error = deserializeError(wire);
  t.true(error instanceof RemoteError);
  t.is(error.name, 'SomeError');
  t.is((error as { code?: unknown }).code, undefined, 'a non-string code is dropped');
  t.is((error as { detail?: unknown }).detail, 1);
  t.true(Object.hasOwn(error, '__proto__'));
  t.is((error as { polluted?: unknown }).polluted, undefined);
  t.false(error.stack!.startsWith('fake'));
  t.is(error.cause, undefined);
  t.false(ran);
});

test('a record whose cause is itself (structured clone keeps cycles) is cut after a few links', (t) => {
  const wire: WireError = { name: 'Error', message: 'loop' };
  wire.cause = wire;
  const error = deserializeError(wire);
  let depth = 0;
  for (let at: unknown = error; at instanceof Error; at = at.cause) depth++;
  t.true(depth <= 10, `depth ${depth}`);
});

test('serializing runs no getter, trap or toString and always gives a cloneable record', (t) => {
  let ran = 0;
  const trap = (): never => {
    ran++;
    throw new Error('ran');
  };
  const hostile: unknown[] = [
    Object.defineProperty(new Error('e'), 'code', { get: trap, enumerable: true }),
    Object.defineProperty(new Error('e'), 'message', { get: trap }),
    new Proxy(new Error('p'), { get: trap, getPrototypeOf: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, has: trap }),
    { toString: trap, [Symbol.toPrimitive]: trap },
    Object.assign(new Error('x'), { nested: { get deep() { return trap(); } }, list: [1, () => 2, Symbol('s')] }),
  ];
  for (const thrown of hostile) {
    const wire = serializeError(thrown);
    t.notThrows(() => structuredClone(wire));
    t.true(deserializeError(structuredClone(wire)) instanceof Error);
  }
  t.is(ran, 0);
  t.true(deserializeError(serializeError(undefined)) instanceof ThrownValueError);
});

test('arbitrary values thrown and arbitrary records received never make the codec throw', (t) => {
  fc.assert(
    fc.property(fc.anything({ withMap: true, withSet: true, withDate: true, withTypedArray: true, withBigInt: true, withNullPrototype: true, withBoxedValues: true }), (value) => {
      const wire = serializeError(value);
      structuredClone(wire);
      return deserializeError(structuredClone(wire)) instanceof Error && deserializeError(value) instanceof Error;
    }),
    { numRuns: 1000, seed: 0x5eed },
  );
  t.pass();
});

test('every error class agent-ipc exports is registered: it comes back as itself, with its code and fields', (t) => {
  const classes = Object.entries(errors).filter(
    (entry): entry is [string, typeof Error] => typeof entry[1] === 'function' && entry[1].prototype instanceof Error && entry[1] !== errors.RemoteError,
  );
  t.true(classes.length >= 15, `${classes.length} classes`);
  for (const [exported, cls] of classes) {
    const name = (cls.prototype as Error).name;
    t.is(name, exported, `${exported}: its prototype carries its name`);
    // Any of agent-ipc's codes (a record without one is not rebuilt as the library's class: see below).
    const wire: WireError = { name, message: 'm', code: 'ERR_AGENT_IPC_SOME_CODE', props: { timeoutMs: 5 } };
    const error = deserializeError(structuredClone(wire));
    t.true(error instanceof cls, `${exported}: rebuilt as its class, got ${error.name}`);
    t.is(error.name, exported);
    t.is((error as { code?: unknown }).code, 'ERR_AGENT_IPC_SOME_CODE', `${exported}: its code`);
    t.is((error as { timeoutMs?: unknown }).timeoutMs, 5, `${exported}: its fields`);
  }
});

test('StartupTimeoutError and AgentUnresponsiveError round-trip through the codec as themselves', (t) => {
  const startup = new errors.StartupTimeoutError('slow', 50);
  const unresponsive = new errors.AgentUnresponsiveError('stuck', { code: null, signal: 'SIGKILL' }, 75);
  for (const [original, cls] of [
    [startup, errors.StartupTimeoutError],
    [unresponsive, errors.AgentUnresponsiveError],
  ] as const) {
    const back = deserializeError(structuredClone(serializeError(original)));
    t.true(back instanceof cls, original.name);
    t.is(back.message, original.message);
    t.is((back as { code?: unknown }).code, original.code);
    t.is((back as { timeoutMs?: unknown }).timeoutMs, original.timeoutMs);
  }
  t.true(deserializeError(structuredClone(serializeError(unresponsive))) instanceof errors.AgentExitedError, 'still an AgentExitedError');
  t.is((deserializeError(structuredClone(serializeError(startup))) as errors.StartupTimeoutError).agentName, 'slow');
});

test("an error that shares a name with one of agent-ipc's classes but not its code comes back as a RemoteError, not as agent-ipc's class", (t) => {
  class TimeoutError extends Error {
    override name = 'TimeoutError';
    code = 'ETIMEDOUT';
  }
  const own = deserializeError(serializeError(new TimeoutError('database query timed out')));
  t.false(own instanceof errors.TimeoutError);
  t.true(own instanceof RemoteError);
  t.is(own.name, 'TimeoutError');
  t.is((own as { code?: unknown }).code, 'ETIMEDOUT');
  // Node.js's own: AbortSignal.timeout() rejects with a DOMException named TimeoutError (numeric code 23).
  t.false(deserializeError(serializeError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))) instanceof errors.TimeoutError);
  t.false(deserializeError(serializeError(new DOMException('aborted', 'AbortError'))) instanceof errors.AbortError);
  // The library's own, with its code, still comes back as itself.
  const library = deserializeError(serializeError(new errors.TimeoutError('ping', 50)));
  t.true(library instanceof errors.TimeoutError);
  t.is((library as errors.TimeoutError).code, 'ERR_AGENT_IPC_TIMEOUT');
});

test("an AggregateError comes back as one, with its errors (classes, plain values, nested lists), and a hostile record's lists cannot multiply the records rebuilt", (t) => {
  const thrown = new AggregateError([new TypeError('a'), 'plain', new AggregateError([new RangeError('inner')], 'nested')], 'All promises were rejected');
  const error = deserializeError(structuredClone(serializeError(thrown))) as AggregateError;
  t.true(error instanceof AggregateError);
  t.is(error.message, 'All promises were rejected');
  t.is(error.errors.length, 3);
  t.true(error.errors[0] instanceof TypeError);
  t.is((error.errors[0] as Error).message, 'a');
  t.is(error.errors[1], 'plain');
  t.true((error.errors[2] as AggregateError).errors[0] instanceof RangeError);
  t.false(Object.keys(error).includes('errors'), 'own and not enumerable, as AggregateError has it');
  // An application's own enumerable `errors` field (any shape) stays a property.
  const own = Object.assign(new Error('invalid'), { errors: { field: 'required' } });
  t.deepEqual((deserializeError(structuredClone(serializeError(own))) as Error & { errors: unknown }).errors, { field: 'required' });
  // Distinct errors 32 wide and 4 deep would be a million records; at most 64 are kept, and rebuilt.
  const wide = (depth: number): Error => (depth === 0 ? new Error('leaf') : new AggregateError(Array.from({ length: 32 }, () => wide(depth - 1)), `level ${depth}`));
  const record = (depth: number): WireError => ({ name: 'AggregateError', message: 'm', errors: depth === 0 ? [] : Array.from({ length: 32 }, () => record(depth - 1)) });
  const count = (value: unknown): number =>
    1 + ((value as { errors?: unknown[] }).errors ?? []).reduce<number>((sum, entry) => sum + (entry !== null && typeof entry === 'object' && 'name' in entry ? count(entry) : 0), 0);
  t.true(count(serializeError(wide(3))) <= 64);
  t.true(count(deserializeError(record(4))) <= 64);
});
