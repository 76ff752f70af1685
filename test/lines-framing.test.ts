/**
 * Framing over real TCP: over-long lines and invalid UTF-8 close the offending
 * connection only (lines before them are still handled), sendLine refuses what the peer
 * would refuse, and the delimiter and maxLineLength options take effect.
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { createLineServer, type LineConnectionInfo, type LineServerOptions } from '../src/lines/index.ts';
import { MessageTooLargeError, ProtocolError } from '../src/index.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { availableIsolations, LineClient, TestNode, testProtocol } from './fixtures/lines/line-client.ts';

const isolations = await availableIsolations();

interface Seen {
  errors: Array<{ error: Error; connection: LineConnectionInfo | undefined }>;
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
  /** Resolves once `n` disconnect events were seen. */
  disconnected(n: number): Promise<void>;
}

async function withServer(options: Partial<LineServerOptions<TestNodeApi>>, body: (port: number, node: TestNode, seen: Seen) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer({ agent: testProtocol, expose: node.api, ...options });
  const waiting: Array<[number, () => void]> = [];
  const seen: Seen = {
    errors: [],
    disconnects: [],
    disconnected: (n) => (seen.disconnects.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.push([n, resolve]))),
  };
  server.on('error', (error, connection) => seen.errors.push({ error, connection }));
  server.on('disconnect', (info, reason) => {
    seen.disconnects.push({ info, reason });
    for (const [n, resolve] of waiting) if (seen.disconnects.length >= n) resolve();
  });
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    await body(port, node, seen);
  } finally {
    await server.close();
  }
}

for (const isolation of isolations) {
  test(`${isolation}: an over-long line closes that connection only, with MessageTooLargeError`, async (t) => {
    await withServer({ isolation, maxLineLength: 64 }, async (port, node, seen) => {
      const bystander = await LineClient.connect(port);
      const offender = await LineClient.connect(port);
      // The line before the long one (same chunk) is still handled and answered.
      offender.write(`ECHO before\r\nECHO ${'x'.repeat(100)}\r\nECHO after\r\n`);
      t.deepEqual(await offender.rest(), ['before']);
      await seen.disconnected(1);
      const [{ reason }] = seen.disconnects;
      t.true(reason instanceof MessageTooLargeError);
      t.is((reason as MessageTooLargeError).limit, 64);
      t.is(seen.errors.length, 1);
      t.true(seen.errors[0]!.error instanceof MessageTooLargeError);
      t.is(seen.errors[0]!.connection?.id, seen.disconnects[0]!.info.id);
      const lost = await node.waitFor('lost');
      t.is((lost.detail as { name: string }).name, 'MessageTooLargeError');

      bystander.send('ECHO unaffected');
      t.is(await bystander.next(), 'unaffected');
      await bystander.close();
    });
  });

  test(`${isolation}: an over-long line without a delimiter is refused as soon as it cannot fit`, async (t) => {
    await withServer({ isolation, maxLineLength: 1024 }, async (port, _node, seen) => {
      const offender = await LineClient.connect(port);
      // Never sends a delimiter: the server must not wait for one.
      offender.write('y'.repeat(4096));
      t.deepEqual(await offender.rest(), []);
      await seen.disconnected(1);
      t.true(seen.disconnects[0]!.reason instanceof MessageTooLargeError);
    });
  });

  test(`${isolation}: invalid UTF-8 closes that connection with ProtocolError`, async (t) => {
    await withServer({ isolation }, async (port, node, seen) => {
      const offender = await LineClient.connect(port);
      offender.write(Buffer.concat([Buffer.from('ECHO fine\r\nECHO '), Buffer.from([0xc3, 0x28]), Buffer.from('\r\nECHO after\r\n')]));
      t.deepEqual(await offender.rest(), ['fine']);
      await seen.disconnected(1);
      t.true(seen.disconnects[0]!.reason instanceof ProtocolError);
      t.regex(seen.disconnects[0]!.reason!.message, /UTF-8/);
      t.true(seen.errors[0]!.error instanceof ProtocolError);
      const lost = await node.waitFor('lost');
      t.is((lost.detail as { name: string }).name, 'ProtocolError');
    });
  });

  test(`${isolation}: sendLine refuses lines the peer would refuse, and the connection goes on`, async (t) => {
    await withServer({ isolation, maxLineLength: 100 }, async (port) => {
      const c = await LineClient.connect(port);
      c.send('SEND long 101');
      c.send('SEND long 100');
      c.send('SEND delimiter');
      c.send('SEND number');
      t.deepEqual(await c.take(5), ['refused MessageTooLargeError', 'x'.repeat(100), 'sent', 'refused TypeError', 'refused TypeError']);
      await c.close();
    });
  });

  test(`${isolation}: a custom delimiter frames both directions`, async (t) => {
    await withServer({ isolation, delimiter: '\n' }, async (port) => {
      const c = await LineClient.connect(port);
      let received = '';
      c.socket.on('data', (text: string) => (received += text));
      c.write('ECHO a\r\nECHO b\n');
      // With '\n' as the delimiter, the '\r' belongs to the first line.
      while (!received.includes('b\n')) await new Promise((resolve) => c.socket.once('data', resolve));
      t.is(received, 'a\r\nb\n');
      await c.close();
    });
  });
}
