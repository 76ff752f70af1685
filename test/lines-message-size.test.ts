/**
 * Lines and the agents' `maxMessageBytes`: what a protocol sends in one synchronous
 * stretch, and what a peer sends in one TCP chunk, may be many times what one message
 * between the node and an agent holds. Every line still arrives, in order; a line that
 * could never fit in a message is refused when the server is created; lines that are
 * refused on their way all the same close their connection with the error, reported.
 * Every wait is bounded (a lost line is a failure, not a stuck run).
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { TooManyCallsError } from '../src/index.ts';
import { createLineServer, type LineConnectionInfo, type LineServerOptions } from '../src/lines/index.ts';
import { burstLine } from './fixtures/lines/burst-protocol.ts';
import { LineClient, TestNode } from './fixtures/lines/line-client.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';

const burstProtocol = new URL('./fixtures/lines/burst-protocol.ts', import.meta.url);

/** The smallest message size the agents take, in bytes: a burst of a few dozen lines is several times it. */
const SMALL = 4096;


interface Seen {
  port: number;
  node: TestNode;
  errors: Array<{ error: Error; connection: LineConnectionInfo | undefined }>;
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
}

async function withServer(options: Partial<LineServerOptions<TestNodeApi>>, body: (seen: Seen) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer<TestNodeApi>({ agent: burstProtocol, expose: node.api, ...options });
  const seen: Seen = { port: 0, node, errors: [], disconnects: [] };
  server.on('error', (error, connection) => seen.errors.push({ error, connection }));
  server.on('disconnect', (info, reason) => seen.disconnects.push({ info, reason }));
  try {
    seen.port = (await server.listen(0, '127.0.0.1')).port;
    await body(seen);
  } finally {
    await server.close();
  }
}

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: lines a protocol sends in one synchronous stretch, many times maxMessageBytes, all reach the peer in order`, async (t) => {
    await withServer({ isolation, maxMessageBytes: SMALL }, async ({ port, errors }) => {
      const client = await LineClient.connect(port);
      const [count, width] = [300, 90];
      // ~300 × 90 characters, some of them two bytes in a message: about 13× maxMessageBytes.
      client.send(`BURST ${count} ${width}`);
      const received = await bounded(client.take(count + 1));
      t.not(received, TIMED_OUT, 'every line arrived');
      if (received === TIMED_OUT) return;
      t.deepEqual(received, [...Array.from({ length: count }, (_, i) => burstLine(i, width)), `END ${count}`], 'every line, whole and in order');
      t.deepEqual(errors, []);
      await client.close();
    });
  });

  test(`${isolation}: lines a peer sends at once, many times maxMessageBytes and above highWaterMark, are all delivered`, async (t) => {
    await withServer({ isolation, maxMessageBytes: SMALL, highWaterMark: 100_000 }, async ({ port, errors }) => {
      const client = await LineClient.connect(port);
      const lines = Array.from({ length: 400 }, (_, i) => burstLine(i, 100));
      // One write: the node reads it in a chunk or a few, far more than one delivery may carry.
      client.write(lines.map((line) => `${line}\r\n`).join(''));
      const answers = await bounded(client.take(lines.length));
      t.not(answers, TIMED_OUT, 'every line was answered');
      if (answers === TIMED_OUT) return;
      t.deepEqual(
        answers,
        lines.map((line) => `got ${Buffer.byteLength(line)} ${line.slice(0, 12)}`),
      );
      t.deepEqual(errors, []);
      await client.close();
    });
  });
}

test('process: a line as long as the default maxLineLength allows, of characters that take two bytes in a message, goes both ways', async (t) => {
  await withServer({ isolation: 'process', maxMessageBytes: SMALL }, async ({ port, errors }) => {
    const client = await LineClient.connect(port);
    // The longest line the clamped default takes: 'ā' (2 UTF-8 bytes, two bytes in a
    // message, as is every character of a string holding one), then one-byte characters.
    const limitError = await bounded(
      (async () => {
        client.send(`x${'y'.repeat(SMALL)}`);
        await client.closed;
        return errors[0]?.error;
      })(),
    );
    t.is((limitError as Error | undefined)?.name, 'MessageTooLargeError', 'a line over the clamped maxLineLength is refused by framing');
    const limit = (limitError as { limit?: number } | undefined)?.limit ?? 0;
    t.true(limit > 0 && limit < SMALL / 2, `the default maxLineLength is clamped to fit a message (${limit})`);
    const longest = `ā${'z'.repeat(limit - 2)}`;
    t.is(Buffer.byteLength(longest), limit);
    const again = await LineClient.connect(port);
    again.send(`BURST 0 0`);
    again.send(longest);
    t.deepEqual(await bounded(again.take(2)), ['END 0', `got ${limit} ${longest.slice(0, 12)}`]);
    t.is(errors.length, 1);
    await again.close();
  });
});

test('a maxLineLength that cannot fit in one message to an agent is a TypeError naming it; handed-off sockets have no such bound', (t) => {
  for (const [isolation, maxLineLength] of [
    ['process', 4096],
    ['process', 2000],
    ['thread', 4096],
    ['inline', 8192],
  ] as const) {
    const error = t.throws(() => createLineServer({ agent: burstProtocol, isolation, maxMessageBytes: SMALL, maxLineLength }), { instanceOf: TypeError });
    t.regex(error!.message, /^\[agent-ipc\] option 'maxLineLength' \(\d+ bytes\) cannot fit in one message of option 'maxMessageBytes' \(4096 bytes\)/);
    t.is((error as TypeError & { code?: string }).code, 'ERR_AGENT_IPC_INVALID_ARGUMENT');
  }
  t.notThrows(() => createLineServer({ agent: burstProtocol, isolation: 'thread', maxMessageBytes: SMALL, maxLineLength: 1024 }));
  t.notThrows(() => createLineServer({ agent: burstProtocol, isolation: 'process', maxMessageBytes: SMALL, maxLineLength: 65_536, handOffSockets: true }));
  // The default is clamped to what fits, never refused.
  t.notThrows(() => createLineServer({ agent: burstProtocol, isolation: 'process', maxMessageBytes: 1024 }));
});

test('process: lines refused on their way all the same close the connection with the error, reported, in order up to it', async (t) => {
  // maxInFlight 3: a burst that needs a dozen calls has most of them refused
  // (TooManyCallsError); the failure's report and connectionLost's call still fit.
  await withServer({ isolation: 'process', maxMessageBytes: SMALL, maxInFlight: 3 }, async ({ port, node, errors, disconnects }) => {
    const client = await LineClient.connect(port);
    client.send('BURST 300 90');
    const received = await bounded(client.rest());
    t.not(received, TIMED_OUT, 'the connection closed');
    if (received === TIMED_OUT) return;
    t.true(received.length < 301, 'not every line went');
    t.deepEqual(
      received,
      received.map((_, i) => burstLine(i, 90)),
      'what went, went in order',
    );
    const lost = await bounded(node.waitFor('lost'));
    t.like(lost === TIMED_OUT ? {} : lost.detail, { name: TooManyCallsError.name }, 'connectionLost got the error');
    t.is(await bounded(until(() => disconnects.length === 1)), true);
    t.true(disconnects[0]!.reason instanceof TooManyCallsError, 'the disconnect carries it');
    t.is(errors.length, 1, 'one error event');
    t.true(errors[0]!.error instanceof TooManyCallsError);
    t.is(errors[0]!.connection?.id, disconnects[0]!.info.id);
  });
});

async function until(condition: () => boolean): Promise<boolean> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
  return true;
}
