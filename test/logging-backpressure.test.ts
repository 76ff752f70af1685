/**
 * Agent logging into a backed-up destination: what agents' records can pile up in the
 * node is bounded (MAX_LOG_BACKLOG_BYTES plus one record), records over it are dropped
 * and counted per agent, one record says how many once the destination drains, the
 * node's own records and the agent's calls go on, and an agent logging under the bound
 * loses nothing.
 *
 * Destinations back up deterministically here: a Writable whose writes complete only when
 * the test opens it, and a FIFO nobody reads until the test does (a blocking write parks
 * SonicBoom's write, and thread-stream's worker, until then). Assertions are on counts
 * and bytes, never on time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { spawnAgent, type Agent, type Isolation } from '../src/index.ts';
import { MAX_LOG_BACKLOG_BYTES } from '../src/logging/agent-log-writer.ts';
import { logBacklog } from '../src/logging/log-backlog.ts';
import type HostileLogger from './fixtures/logging-hostile/hostile-logger.ts';
import { within } from './helpers/agents.ts';

const entry = new URL('./fixtures/logging-hostile/hostile-logger.ts', import.meta.url);
type Logging = Agent<typeof HostileLogger>;

/** Records the flood sends: ~22 MB of lines, five times the bound. */
const SENT = 20_000;
const PAD = 1000;
/** Room for the one record that may cross the bound (a flood record's line is ~1.1 KB). */
const ONE_RECORD = 4096;

/** A destination whose writes complete only once `release()` is called: backed up until then. */
class Gated extends Writable {
  readonly lines: string[] = [];
  private held: Array<() => void> = [];
  private open = false;
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(chunk.toString());
    if (this.open) done();
    else this.held.push(done);
  }
  release(): void {
    this.open = true;
    for (const done of this.held.splice(0)) done();
  }
}

type Line = Record<string, unknown>;

function parse(lines: readonly string[]): Line[] {
  return lines.map((line) => JSON.parse(line) as Line);
}

/** The drop-count records among `records`. */
function dropReports(records: readonly Line[]): Line[] {
  return records.filter((r) => typeof r.droppedLogRecords === 'number');
}

/** Flood records written, records reported dropped, and whether the written ones came in order. */
function tally(records: readonly Line[], agent: string): { written: number; dropped: number; inOrder: boolean } {
  let written = 0;
  let last = -1;
  let inOrder = true;
  for (const record of records) {
    if (record.agent !== agent || record.msg !== 'flood') continue;
    written++;
    if ((record.i as number) <= last) inOrder = false;
    last = record.i as number;
  }
  const dropped = dropReports(records)
    .filter((r) => r.agent === agent)
    .reduce((sum, r) => sum + (r.droppedLogRecords as number), 0);
  return { written, dropped, inOrder };
}

/** Floods `count` records from `agent` and calls it all the while; the number of calls that succeeded during the flood. */
async function floodWhileCalling(agent: Logging, count: number, onTurn: () => void = () => {}): Promise<number> {
  let flooding = true;
  const flood = agent.remote.flood(count, PAD, 500).finally(() => (flooding = false));
  let calls = 0;
  while (flooding) {
    if ((await agent.remote.ping()) === 'pong') calls++;
    onTurn();
  }
  // The answer follows every record on the transport: by now the node has taken them all.
  await flood;
  return calls;
}

async function withAgent(isolation: Isolation, logger: pino.Logger, name: string, body: (agent: Logging) => Promise<void>): Promise<void> {
  const agent = await spawnAgent<typeof HostileLogger>(entry, { isolation, name, logger });
  try {
    await body(agent);
  } finally {
    await agent.close({ timeoutMs: 2000 });
  }
}

/** A FIFO in a fresh directory, with a descriptor that keeps it open (and writable without waiting for a reader). */
function fifo(t: { teardown(fn: () => unknown): void }): { file: string; fd: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-ipc-logbp-'));
  const file = path.join(dir, 'fifo');
  execFileSync('mkfifo', [file]);
  // O_RDWR: opening does not wait for a reader, and while nobody reads, the pipe fills
  // (64 KiB) and a blocking write to it waits.
  const fd = openSync(file, 'r+');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { file, fd };
}

/**
 * Copies the FIFO into a file from now on, in another process: it reads on even while
 * this process's thread waits (thread-stream's `end()` waits for its worker synchronously).
 */
function readFifo(t: { teardown(fn: () => unknown): void }, file: string): { lines(): string[]; ended: Promise<unknown> } {
  const out = `${file}.out`;
  const fd = openSync(out, 'w');
  const cat = spawn('cat', [file], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  const ended = once(cat, 'exit');
  t.teardown(() => cat.kill());
  return {
    lines() {
      const text = readFileSync(out, 'utf8');
      return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean);
    },
    ended,
  };
}

for (const isolation of ['thread', 'process', 'inline'] as const) {
  for (const via of ['writable', 'multistream'] as const) {
    test.serial(`${isolation}, ${via}: a flood into a backed-up destination is bounded, counted and reported; calls and the node's records go on`, async (t) => {
      const dest = new Gated();
      const logger = pino({ level: 'info' }, via === 'writable' ? dest : pino.multistream([{ stream: dest }]));
      const name = `flood-${isolation}-${via}`;
      await withAgent(isolation, logger, name, async (agent) => {
        let peak = 0;
        const calls = await floodWhileCalling(agent, SENT, () => (peak = Math.max(peak, dest.writableLength)));
        peak = Math.max(peak, dest.writableLength);
        t.true(calls >= 1, 'calls answered during the flood');
        // Unbounded, no drop count would ever come: stop here rather than wait for one.
        if (!t.true(peak <= MAX_LOG_BACKLOG_BYTES + ONE_RECORD, `${(peak / 2 ** 20).toFixed(1)} MiB buffered in the node's destination`)) return;
        for (let i = 0; i < 10; i++) logger.info({ n: i }, 'node record');
        t.is(await agent.remote.ping(), 'pong');
        dest.release();
        t.true(await within(60_000, () => dropReports(parse(dest.lines)).length > 0), 'a drop count once the destination drains');
        const records = parse(dest.lines);
        const { written, dropped, inOrder } = tally(records, name);
        t.true(dropped > 0, 'records were dropped');
        t.is(written + dropped, SENT, `${written} written + ${dropped} dropped`);
        t.true(inOrder, 'the records written stay in order');
        t.is(records.filter((r) => r.msg === 'node record').length, 10, "the node's own records are all written");
        const report = dropReports(records)[0]!;
        t.like(report, { level: 40, agent: name });
        t.regex(String(report.msg), /^\[agent-ipc\] dropped \d+ log records/);
        if (isolation === 'process') t.is(report.agentPid, agent.pid);
        if (isolation === 'thread') t.is(report.agentThreadId, agent.threadId);
        // Writing again: the next record arrives, with no further drop count.
        await agent.remote.log('info', null, 'after the flood');
        t.true(await within(10_000, () => dest.lines.some((line) => line.includes('after the flood'))));
        t.is(dropReports(parse(dest.lines)).length, 1);
      });
    });
  }
}


/**
 * Floods `agent`'s records into a destination writing to the pipe `file` that nobody
 * reads yet, with calls going on; checks that what the destination buffers (`buffered`,
 * described by `where`) stayed within the bound, then reads the pipe and checks that the
 * drop count comes and that records written plus dropped are all that were sent, in
 * order. Returns the pipe's reader (undefined if it stopped at an unbounded buffer).
 */
async function floodIntoPipe(t: ExecutionContext, agent: Parameters<typeof floodWhileCalling>[0], buffered: () => number, where: string, file: string, name: string): Promise<ReturnType<typeof readFifo> | undefined> {
  let peak = 0;
  const calls = await floodWhileCalling(agent, SENT, () => (peak = Math.max(peak, buffered())));
  peak = Math.max(peak, buffered());
  t.true(calls >= 1, 'calls answered during the flood');
  // Unbounded, no drop count would ever come: stop here rather than wait for one.
  if (!t.true(peak <= MAX_LOG_BACKLOG_BYTES + ONE_RECORD, `${(peak / 2 ** 20).toFixed(1)} MiB buffered ${where}`)) return undefined;
  const reader = readFifo(t, file);
  t.true(await within(60_000, () => dropReports(parse(reader.lines())).length > 0), 'a drop count once the pipe is read');
  const { written, dropped, inOrder } = tally(parse(reader.lines()), name);
  t.true(dropped > 0);
  t.is(written + dropped, SENT, `${written} written + ${dropped} dropped`);
  t.true(inOrder);
  return reader;
}

for (const isolation of ['thread', 'process'] as const) {
  // pino.destination({ sync: false }): SonicBoom's fs.write waits on the full pipe, so
  // everything after it piles up in SonicBoom's buffer (its `_len`).
  test.serial(`${isolation}, async SonicBoom into a pipe nobody reads: bounded, counted and reported`, async (t) => {
    const { file, fd } = fifo(t);
    const dest = pino.destination({ dest: fd, sync: false });
    const logger = pino({ level: 'info' }, dest);
    const name = `sonic-${isolation}`;
    let reader: ReturnType<typeof readFifo> | undefined;
    try {
      await withAgent(isolation, logger, name, async (agent) => {
        const buffered = (): number => (dest as unknown as { _len: number })._len;
        reader = await floodIntoPipe(t, agent, buffered, 'in SonicBoom', file, name);
      });
    } finally {
      // Read the pipe (if the test did not get that far), so that the write waiting on it
      // ends; then flush and close the writer's descriptor: the reader sees the end of the pipe.
      reader ??= readFifo(t, file);
      await new Promise((resolve) => {
        dest.once('close', resolve);
        dest.end();
      });
      await reader.ended;
    }
  });
}

// pino.transport(): the worker's destination waits on the full pipe, the worker stops
// taking records, thread-stream's shared buffer (4 MiB) fills and it reports
// writableNeedDrain; its own JavaScript-side buffer is what would grow in the node.
test.serial('process, pino.transport into a pipe nobody reads: bounded, counted and reported', async (t) => {
  const { file, fd } = fifo(t);
  const transport = pino.transport({ target: 'pino/file', options: { destination: file } });
  await new Promise((resolve) => transport.once('ready', resolve));
  const logger = pino({ level: 'info' }, transport);
  const name = 'transport-process';
  const kImpl = Object.getOwnPropertySymbols(transport).find((symbol) => symbol.description === 'kImpl')!;
  const buffered = (): number => (transport as unknown as Record<symbol, { bufLen: number }>)[kImpl].bufLen;
  let reader: ReturnType<typeof readFifo> | undefined;
  try {
    await withAgent('process', logger, name, async (agent) => {
      reader = await floodIntoPipe(t, agent, buffered, 'by thread-stream beside its shared buffer', file, name);
    });
  } finally {
    // Read the pipe (if the test did not get that far) so that the worker can finish; it
    // closes its end, and closing ours too lets the reader see the end of the pipe.
    reader ??= readFifo(t, file);
    await new Promise((resolve) => {
      transport.once('close', resolve);
      transport.end();
    });
    closeSync(fd);
    await reader.ended;
  }
});

test.serial('process: records dropped when the agent exits are reported then, while the destination is still backed up', async (t) => {
  const dest = new Gated();
  const logger = pino({ level: 'info' }, dest);
  await withAgent('process', logger, 'gone', async (agent) => {
    await floodWhileCalling(agent, SENT);
  });
  // Its writer stopped looking at the destination when the agent exited: a drop count
  // now was written then.
  dest.release();
  t.true(await within(10_000, () => dropReports(parse(dest.lines)).length === 1), 'reported when the agent exited');
  const { written, dropped } = tally(parse(dest.lines), 'gone');
  t.true(dropped > 0);
  t.is(written + dropped, SENT, `${written} written + ${dropped} dropped`);
});

for (const isolation of ['thread', 'process', 'inline'] as const) {
  // ~2.2 MB of lines, all held by the destination until the end: under the bound, so
  // every record is written, in order, and nothing is reported dropped.
  test.serial(`${isolation}: an agent logging under the bound loses nothing, even with nothing written until it is done`, async (t) => {
    const dest = new Gated();
    const logger = pino({ level: 'info' }, dest);
    const name = `honest-${isolation}`;
    const count = 2000;
    await withAgent(isolation, logger, name, async (agent) => {
      await agent.remote.flood(count, PAD, 100);
      t.true(dest.writableLength < MAX_LOG_BACKLOG_BYTES, `${dest.writableLength} bytes buffered`);
      dest.release();
      t.true(await within(30_000, () => dest.lines.length >= count));
      const records = parse(dest.lines);
      t.deepEqual(
        records.filter((r) => r.msg === 'flood').map((r) => r.i),
        Array.from({ length: count }, (_, i) => i),
      );
      t.is(dropReports(records).length, 0);
    });
  });
}

test('logBacklog reads what each kind of pino destination buffers, and nothing from one that does not say', (t) => {
  const gated = new Gated();
  t.is(logBacklog(gated)!(), 0);
  gated.write('x'.repeat(100));
  gated.write('y'.repeat(50));
  t.is(logBacklog(gated)!(), 150);
  const multi = pino.multistream([{ stream: gated }]);
  const backlog = logBacklog(multi)!;
  t.is(backlog(), 150);
  const other = new Gated();
  other.write('z'.repeat(10));
  multi.add({ stream: other });
  t.is(backlog(), 160, 'destinations added later count');
  const sonic = { _len: 42, write(): void {} };
  t.is(logBacklog(sonic)!(), 42);
  const threadStream = { writableNeedDrain: false, write(): void {} };
  const needDrain = logBacklog(threadStream)!;
  t.is(needDrain(), 0);
  threadStream.writableNeedDrain = true;
  t.is(needDrain(), Infinity);
  t.is(logBacklog({ write(): void {} }), undefined);
  t.is(logBacklog(undefined), undefined);
  gated.release();
  other.release();
});
