/**
 * Logging and observability against a hostile agent: records it forges
 * (bypassing the agent-side encoder with raw LOG frames, or through ctx.logger), floods,
 * and hostile runtime samples. The node must not stall, crash, run agent code, keep
 * memory without bound, or let an agent pass for another.
 */
import { Writable } from 'node:stream';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import test from 'ava';
import pino from 'pino';
import { spawnAgent, type Agent, type Isolation } from '../src/index.ts';
import type HostileLogger from './fixtures/logging-hostile/hostile-logger.ts';
import { within } from './helpers/agents.ts';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const entry = new URL('./fixtures/logging-hostile/hostile-logger.ts', import.meta.url);
type Hostile = Agent<typeof HostileLogger>;

/** A destination keeping every line (or only counting them, for floods). */
class Capture extends Writable {
  readonly writes: string[] = [];
  count = 0;
  bytes = 0;
  constructor(private readonly keep = true) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.count++;
    this.bytes += chunk.length;
    if (this.keep) this.writes.push(chunk.toString());
    done();
  }
  records(): Array<Record<string, unknown>> {
    return this.writes.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
  line(includes: string): string | undefined {
    return this.writes.find((line) => line.includes(includes));
  }
}

async function withAgent(isolation: Isolation, logger: pino.Logger, name: string, body: (agent: Hostile) => Promise<void>): Promise<void> {
  const agent = await spawnAgent<typeof HostileLogger>(entry, { isolation, name, logger });
  try {
    await body(agent);
  } finally {
    await agent.close({ timeoutMs: 2000 });
  }
}

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

for (const isolation of ['thread', 'process'] as const) {
  // A 2^18-leaf tree sent as 18 shared arrays crosses as a few hundred bytes. Written as
  // a tree it is a ~2 MB line; at depth 24 the node stalled 23 s and grew its heap to
  // 1.4 GB (depth 30: out of memory): decoding is no longer linear in the bytes received.
  test.serial(`${isolation}: a raw record of shared references is not expanded into an exponential tree`, async (t) => {
    const capture = new Capture();
    await withAgent(isolation, pino({ level: 'info' }, capture), `dag-${isolation}`, async (agent) => {
      await agent.remote.raw('dagWithErrors', 18);
      await agent.remote.raw('objectDagWithErrors', 18);
      await agent.remote.raw('dagPlain', 18);
      await agent.remote.log('info', null, 'after the dags');
      t.true(await within(60_000, () => capture.line('after the dags') !== undefined), 'later records still arrive');
      for (const tag of ['"dag 0"', '"odag 0"', '"dag plain 0"']) {
        const line = capture.line(tag);
        t.truthy(line, `${tag} written`);
        t.true(line!.length < 50_000, `${tag}: a ${line!.length}-char line from a frame of a few hundred bytes`);
      }
    });
  });

  // An empty array of length 1e8 is a few bytes on the wire; written, every hole became
  // `null`: ~70 s and 3 GB of RSS for one record (1e7: ~2.7 s, a 50 MB line).
  test.serial(`${isolation}: a raw record holding a huge sparse array is not written hole by hole`, async (t) => {
    const capture = new Capture();
    await withAgent(isolation, pino({ level: 'info' }, capture), `sparse-${isolation}`, async (agent) => {
      await agent.remote.raw('sparsePlain', 10_000_000);
      await agent.remote.raw('sparseWithErrors', 10_000_000);
      await agent.remote.log('info', null, 'after the sparse arrays');
      t.true(await within(60_000, () => capture.line('after the sparse arrays') !== undefined));
      for (const line of capture.writes) t.true(line.length < 50_000, `a ${line.length}-char line`);
    });
  });
}

// The node caches a constructor per logged error name (for pino's `type`), up to 256
// names of any length, module-wide and for ever: 256 × maxMessageBytes (64 MiB) = 16 GiB
// an agent can leave in the node after it is gone.
test.serial('thread: long logged error names are not retained by the node after the agent is gone', async (t) => {
  const capture = new Capture(false);
  const before = heapMb();
  await withAgent('thread', pino({ level: 'info' }, capture), 'names', async (agent) => {
    await agent.remote.raw('hugeErrorName', 4 * 2 ** 20, 48);
    await agent.remote.log('info', null, 'names sent');
    t.true(await within(30_000, () => capture.count >= 49));
  });
  const retained = heapMb() - before;
  t.true(retained < 64, `${retained.toFixed(0)} MiB retained after the agent exited`);
});

// The node keeps a child logger for each of 64 distinct agent-side bindings strings, of
// any length: 64 × 2 × maxMessageBytes per live agent.
test.serial('thread: long child bindings are not kept by the node', async (t) => {
  const capture = new Capture(false);
  await withAgent('thread', pino({ level: 'info' }, capture), 'chindings', async (agent) => {
    const before = heapMb();
    for (let i = 0; i < 64; i++) await agent.remote.raw('hugeChindings', 2 * 2 ** 20 + i, 1);
    await agent.remote.log('info', null, 'chindings sent');
    t.true(await within(30_000, () => capture.count >= 65));
    const retained = heapMb() - before;
    t.true(retained < 64, `${retained.toFixed(0)} MiB kept for one agent's bindings`);
  });
});

for (const isolation of ['thread', 'process', 'inline'] as const) {
  // The docs: each record is tagged with the agent's name and pid or thread id. pino writes
  // the agent's bindings and the logged object after the tags, so a duplicate key wins
  // for every JSON reader.
  test.serial(`${isolation}: an agent cannot pass its records off as another agent's, or override the node's level, time and bindings`, async (t) => {
    const capture = new Capture();
    const forged = { agent: 'victim', agentPid: 1, agentThreadId: 1, level: 60, time: 0, pid: 1, hostname: 'elsewhere', component: 'consensus' };
    await withAgent(isolation, pino({ level: 'info' }, capture).child({ component: 'p2p' }), `honest-name-${isolation}`, async (agent) => {
      await agent.remote.log('info', forged, 'forged by child');
      await agent.remote.log('info', null, forged, 'forged by object');
      if (isolation !== 'inline') await agent.remote.raw('forgedChindings', 0);
      const expected = isolation === 'inline' ? 2 : 3;
      t.true(await within(10_000, () => capture.records().filter((r) => String(r.msg).startsWith('forged')).length === expected));
      for (const record of capture.records()) {
        t.is(record.agent, `honest-name-${isolation}`, capture.writes.join(''));
        t.like(record, { level: 30, pid: process.pid, component: 'p2p' });
        t.not(record.time, 0);
        t.not(record.hostname, 'elsewhere');
        if (isolation === 'process') t.is(record.agentPid, agent.pid);
        if (isolation === 'thread') t.is(record.agentThreadId, agent.threadId);
      }
    });
  });
}

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: malformed raw records are dropped or written, never crash, pollute or stop logging`, async (t) => {
    const capture = new Capture();
    await withAgent(isolation, pino({ level: 'info' }, capture), `malformed-${isolation}`, async (agent) => {
      for (const kind of ['badCause', 'protoProps', 'cycleWithErrors', 'hostileMalformed']) await agent.remote.raw(kind, 0);
      for (const level of [NaN, -1, 1e308, Infinity, 10, 35]) await agent.remote.raw('weirdLevel', level);
      await agent.remote.notify('log', null);
      await agent.remote.notify('log', [30]);
      await agent.remote.notify('log-level', 'trace');
      await agent.remote.notify('ready', 0);
      await agent.remote.log('info', null, 'still logging');
      t.true(await within(10_000, () => capture.line('still logging') !== undefined));
      t.is(await agent.remote.ping(), 'pong');
      t.is(({} as Record<string, unknown>).polluted, undefined);
      t.falsy(capture.line('weird level'), 'no record at a level the node does not have or does not log');
      t.is(capture.records().filter((r) => r.agent !== `malformed-${isolation}`).length, 0);
    });
  });

  test.serial(`${isolation}: hostile runtime samples never reach agent.metrics() as nonsense`, async (t) => {
    const capture = new Capture();
    await withAgent(isolation, pino({ level: 'info' }, capture), `samples-${isolation}`, async (agent) => {
      const bad = [
        null,
        'x',
        { eventLoopUtilization: NaN, activeMs: 1, heapUsedBytes: 1, heapTotalBytes: 1, sampledAt: 1 },
        { eventLoopUtilization: -1, activeMs: 1, heapUsedBytes: 1, heapTotalBytes: 1, sampledAt: 1 },
        { eventLoopUtilization: 0.5, activeMs: Infinity, heapUsedBytes: 1, heapTotalBytes: 1, sampledAt: 1 },
        { eventLoopUtilization: 0.5, activeMs: 1, heapUsedBytes: 1n, heapTotalBytes: 1, sampledAt: 1 },
      ];
      for (const sample of bad) await agent.remote.notify('runtime', sample);
      await agent.remote.notify('runtime', { eventLoopUtilization: 7, activeMs: 1, heapUsedBytes: 1, heapTotalBytes: 1, sampledAt: 1, cpuUserMs: -5, extra: 'x'.repeat(1e6) }, 50);
      const metrics = await agent.metrics({ timeoutMs: 5000 });
      const runtime = metrics.runtime!;
      t.truthy(runtime);
      for (const [key, value] of Object.entries(runtime)) if (value !== undefined) t.true(Number.isFinite(value) && value >= 0, key);
      t.true(runtime.eventLoopUtilization <= 1);
      t.false('extra' in runtime);
      for (const calls of metrics.calls) t.true(calls.calls >= 0 && Number.isFinite(calls.latency.meanMs));
    });
  });
}

// A process agent logs as fast as it can (the node's destination is fast); another agent's
// records all arrive, and the node's heap does not grow with the flood's length.
test.serial('process: a log flood does not lose another agent\'s records or grow the node\'s heap without bound', async (t) => {
  const capture = new Capture(false);
  const quiet = new Capture();
  const logger = pino({ level: 'info' }, pino.multistream([{ stream: capture }]));
  const quietLogger = pino({ level: 'info' }, quiet);
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 20);
  try {
    await withAgent('process', logger, 'flood', async (flooder) => {
      await withAgent('thread', quietLogger, 'quiet', async (other) => {
        const before = heapMb();
        peak = 0;
        const flood = flooder.remote.flood(300_000, 200, 1000);
        for (let i = 0; i < 200; i++) await other.remote.log('info', null, { i }, 'quiet record');
        await flood;
        t.true(await within(60_000, () => quiet.records().filter((r) => r.msg === 'quiet record').length === 200), 'every quiet record');
        t.true(await within(60_000, () => capture.count >= 300_000), `flood written: ${capture.count}`);
        t.true(peak / 2 ** 20 - before < 256, `peak heap ${(peak / 2 ** 20 - before).toFixed(0)} MiB above the start`);
      });
    });
  } finally {
    clearInterval(sampler);
  }
});

for (const isolation of ['thread', 'process'] as const) {
  // diagnostics_channel subscribers get the agent's errors (call `error`, agent exit):
  // data only, whatever own keys shadow what an inspector calls.
  test.serial(`${isolation}: errors an agent throws reach diagnostics_channel subscribers as inert data`, async (t) => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const { inspect } = await import('node:util');
    const seen: string[] = [];
    const look = (what: unknown): void => {
      const error = (what as { error?: unknown; exit?: { error?: unknown } }).error ?? (what as { exit?: { error?: unknown } }).exit?.error;
      if (error === undefined) return;
      seen.push(inspect(error), JSON.stringify(error) ?? '', Object.prototype.toString.call(error));
    };
    subscribe('tracing:agent-ipc:call:error', look);
    subscribe('agent-ipc:agent:exit', look);
    try {
      const agent = await spawnAgent<typeof HostileLogger>(entry, { isolation, name: `inert-${isolation}` });
      try {
        const thrown = await t.throwsAsync(agent.remote.throwHostile());
        t.is(typeof thrown!.message, 'string');
        t.notThrows(() => String(thrown));
        await agent.remote.throwHostile(true);
        const exit = await agent.exited;
        t.is(exit.code, 1);
        t.notThrows(() => String(exit.error));
        t.notThrows(() => `${exit.error?.message}`);
      } finally {
        await agent.close({ timeoutMs: 1000 });
      }
      t.true(seen.length >= 6, `${seen.length} inspected`);
    } finally {
      unsubscribe('tracing:agent-ipc:call:error', look);
      unsubscribe('agent-ipc:agent:exit', look);
    }
  });
}
