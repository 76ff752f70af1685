/**
 * createLineServer over real TCP sockets on 127.0.0.1, in every available isolation:
 * lines in and out, ordering, one line at a time per connection, the connection
 * lifecycle (made, lost, loseConnection), outbound connections, agents per connection
 * or pooled, events, close, and option validation.
 */
import test from 'ava';
import { ConnectionClosedError, ProtocolError } from '../src/index.ts';
import { createLineServer, type LineConnectionInfo, type LineServer, type LineServerOptions } from '../src/lines/index.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { availableIsolations, LineClient, TestNode, testProtocol } from './fixtures/lines/line-client.ts';

const isolations = await availableIsolations();

interface Harness {
  server: LineServer;
  node: TestNode;
  port: number;
  client(): Promise<LineClient>;
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
  errors: Error[];
}

/** A listening server with the test protocol; everything it and its clients opened is closed after `body`. */
async function withServer(options: Partial<LineServerOptions<TestNodeApi>>, body: (h: Harness) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer({ agent: testProtocol, expose: node.api, ...options });
  const disconnects: Harness['disconnects'] = [];
  const errors: Error[] = [];
  server.on('disconnect', (info, reason) => disconnects.push({ info, reason }));
  server.on('error', (error) => errors.push(error));
  const clients: LineClient[] = [];
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    await body({
      server,
      node,
      port,
      disconnects,
      errors,
      async client() {
        const client = await LineClient.connect(port);
        clients.push(client);
        return client;
      },
    });
  } finally {
    await Promise.all(clients.map((client) => client.destroy()));
    await server.close();
  }
}

for (const isolation of isolations) {
  test(`${isolation}: lines echo back; several lines in one chunk are handled in order`, async (t) => {
    await withServer({ isolation }, async ({ client }) => {
      const c = await client();
      c.write('ECHO one\r\nECHO two\r\n\r\nECHO three\r\n');
      t.deepEqual(await c.take(4), ['one', 'two', 'unknown ', 'three']);
    });
  });

  test(`${isolation}: a line split across TCP writes is reassembled`, async (t) => {
    await withServer({ isolation }, async ({ client }) => {
      const c = await client();
      const text = 'ECHO split ✓ line\r\nECHO next\r\n';
      for (const piece of text.match(/[\s\S]{1,3}/g)!) {
        await new Promise<void>((resolve) => c.socket.write(piece, () => resolve()));
      }
      t.deepEqual(await c.take(2), ['split ✓ line', 'next']);
    });
  });

  test(`${isolation}: sendLine keeps its order relative to the protocol's async and blocking calls`, async (t) => {
    await withServer({ isolation }, async ({ client }) => {
      const c = await client();
      c.send('SEQ 5 6');
      c.send('SEQ 7 1');
      t.deepEqual(await c.take(6), ['5-1', '5-2 11', '5-3 6', '7-1', '7-2 8', '7-3 8']);
    });
  });

  test(`${isolation}: the lines of one connection are processed one at a time`, async (t) => {
    await withServer({ isolation }, async ({ client }) => {
      const c = await client();
      // The first line takes longest; later ones must still wait for it.
      c.write('SLOW 40 a\r\nSLOW 1 b\r\nSLOW 0 c\r\n');
      t.deepEqual(await c.take(3), ['done a max-concurrent=1', 'done b max-concurrent=1', 'done c max-concurrent=1']);
    });
  });

  test(`${isolation}: connectionMade runs first; conn and ctx describe the connection; connections lists it`, async (t) => {
    await withServer({ isolation, data: { greet: true } }, async ({ client, server, node, port }) => {
      const made: LineConnectionInfo[] = [];
      server.on('connect', (info) => made.push(info));
      const c = await client();
      t.regex((await c.next())!, /^HELLO \d+$/);
      c.send('INFO');
      const info = JSON.parse((await c.next())!) as { id: number; peer: { address: string; port: number }; direction: string; agent: string; data: unknown };
      t.is(info.direction, 'inbound');
      t.is(info.peer.address, '127.0.0.1');
      t.is(info.peer.port, c.socket.localPort!);
      t.deepEqual(info.data, { greet: true });
      t.is(made.length, 1);
      t.like(made[0], { id: info.id, direction: 'inbound', agent: info.agent, peer: { address: '127.0.0.1', port: c.socket.localPort } });
      t.is(made[0]!.local.port, port);
      t.deepEqual(server.connections, [made[0]]);
      const event = await node.waitFor('made', info.id);
      t.like(event.detail as object, { direction: 'inbound', agent: info.agent, isolation });
    });
  });

  test(`${isolation}: a peer that closes gets connectionLost (no reason), then a disconnect event`, async (t) => {
    await withServer({ isolation }, async ({ client, server, node, disconnects }) => {
      const c = await client();
      c.send('INFO');
      const { id } = JSON.parse((await c.next())!) as { id: number };
      const gone = new Promise<[LineConnectionInfo, Error | undefined]>((resolve) => server.once('disconnect', (...args) => resolve(args)));
      await c.close();
      const [info, reason] = await gone;
      t.is(info.id, id);
      t.is(reason, undefined);
      // connectionLost reported before the disconnect event fired.
      t.deepEqual(node.of('lost', id).map((e) => e.detail), [null]);
      t.is(disconnects.length, 1);
      t.deepEqual(server.connections, []);
    });
  });

  test(`${isolation}: lines sent before the peer half-closes are still processed and answered`, async (t) => {
    await withServer({ isolation }, async ({ client, node }) => {
      const c = await client();
      c.write('ECHO a\r\nSLOW 20 b\r\nECHO c\r\n');
      c.socket.end();
      t.deepEqual(await c.rest(), ['a', 'done b max-concurrent=1', 'c']);
      const lost = await node.waitFor('lost');
      t.is(lost.detail, null);
    });
  });

  test(`${isolation}: loseConnection closes after what was sent; its reason reaches connectionLost and the event`, async (t) => {
    await withServer({ isolation }, async ({ client, node, disconnects, errors }) => {
      const plain = await client();
      plain.send('QUIT');
      plain.send('ECHO never');
      t.deepEqual(await plain.rest(), ['bye']);

      const withReason = await client();
      withReason.send('QUIT misbehaved');
      t.deepEqual(await withReason.rest(), ['bye']);
      const lost = await node.waitFor('lost', undefined, (e) => e.detail !== null);
      t.deepEqual(lost.detail, { name: 'ProtocolError', message: '[agent-ipc] misbehaved' });
      await node.waitFor('lost', undefined, (e) => e.detail === null);
      while (disconnects.length < 2) await new Promise((resolve) => setImmediate(resolve));
      const reasons = disconnects.map((d) => d.reason);
      t.true(reasons.includes(undefined));
      t.true(reasons.some((r) => r instanceof ProtocolError && r.message === '[agent-ipc] misbehaved'));
      t.deepEqual(errors, [], 'a deliberate close is not an error');
    });
  });

  test(`${isolation}: connections are independent; per-connection agents are distinct`, async (t) => {
    await withServer({ isolation }, async ({ client }) => {
      const [a, b] = await Promise.all([client(), client()]);
      a.write('SLOW 30 a\r\n');
      b.send('ECHO b');
      // b's line does not wait for a's slow one.
      t.is(await b.next(), 'b');
      t.is(await a.next(), 'done a max-concurrent=1');
      a.send('INFO');
      b.send('INFO');
      const [ia, ib] = [JSON.parse((await a.next())!), JSON.parse((await b.next())!)] as Array<{ agent: string; id: number }>;
      t.not(ia!.agent, ib!.agent);
      t.not(ia!.id, ib!.id);
    });
  });

  test(`${isolation}: a pool serves many connections with few agents, least-loaded first`, async (t) => {
    await withServer({ isolation, agents: { pool: 2 } }, async ({ client, server }) => {
      const clients = await Promise.all([client(), client(), client(), client()]);
      const agents: string[] = [];
      for (const c of clients) {
        c.send('INFO');
        agents.push((JSON.parse((await c.next())!) as { agent: string }).agent);
      }
      t.is(new Set(agents).size, 2);
      t.is(agents.filter((a) => a === agents[0]).length, 2, 'two connections per agent');
      t.is(server.connections.length, 4);
      // The pool's agents keep serving after a connection ends.
      await clients[0]!.close();
      const again = await client();
      again.send('ECHO still');
      t.is(await again.next(), 'still');
    });
  });

  test(`${isolation}: connect() makes an outbound connection, resolving once connectionMade ran`, async (t) => {
    await withServer({ isolation }, async ({ port, node: remoteNode, server: remote }) => {
      const node = new TestNode();
      const dialer = createLineServer({ agent: testProtocol, expose: node.api, isolation, data: { greet: true } });
      try {
        const info = await dialer.connect(port, '127.0.0.1');
        t.is(info.direction, 'outbound');
        t.is(info.peer.port, port);
        t.true(node.of('made', info.id).length === 1, 'connectionMade ran before connect() resolved');
        t.deepEqual(dialer.connections, [info]);
        // Both ends run the protocol.
        await remoteNode.waitFor('made');
        if (remote.connections.length === 0) await new Promise((resolve) => remote.once('connect', resolve));
        t.is(remote.connections.length, 1);
        t.is(remote.connections[0]!.direction, 'inbound');
      } finally {
        await dialer.close();
      }
      t.deepEqual(dialer.connections, []);
      await node.waitFor('lost');
    });
  });

  test(`${isolation}: close() closes listeners, connections and agents; connectionLost sees ConnectionClosedError`, async (t) => {
    const node = new TestNode();
    const server = createLineServer({ agent: testProtocol, expose: node.api, isolation, agents: isolation === 'inline' ? 'per-connection' : { pool: 1 } });
    const { port } = await server.listen(0, '127.0.0.1');
    const clients = await Promise.all([LineClient.connect(port), LineClient.connect(port)]);
    for (const c of clients) c.send('ECHO up');
    for (const c of clients) t.is(await c.next(), 'up');
    const disconnects: Array<Error | undefined> = [];
    server.on('disconnect', (_info, reason) => disconnects.push(reason));
    const closing = server.close();
    t.is(server.close(), closing, 'close() is idempotent');
    await closing;
    await Promise.all(clients.map((c) => c.closed));
    t.deepEqual(server.connections, []);
    t.deepEqual(server.addresses, []);
    t.is(disconnects.length, 2);
    t.true(disconnects.every((reason) => reason instanceof ConnectionClosedError));
    t.deepEqual(
      node.of('lost').map((e) => (e.detail as { name: string }).name),
      ['ConnectionClosedError', 'ConnectionClosedError'],
    );
    await t.throwsAsync(server.listen(0, '127.0.0.1'), { instanceOf: ConnectionClosedError });
    await t.throwsAsync(server.connect(port, '127.0.0.1'), { instanceOf: ConnectionClosedError });
    // Nothing listens on the old port any more.
    await t.throwsAsync(LineClient.connect(port));
  });
}

test('listen() resolves to the bound address and can be called for several ports', async (t) => {
  const server = createLineServer({ agent: testProtocol, isolation: 'inline' });
  try {
    const a = await server.listen(0, '127.0.0.1');
    const b = await server.listen(0, '127.0.0.1');
    t.like(a, { address: '127.0.0.1', family: 'IPv4' });
    t.true(a.port > 0 && b.port > 0 && a.port !== b.port);
    t.deepEqual(server.addresses, [a, b]);
    // A port in use is a listen error, not a crash.
    await t.throwsAsync(server.listen(a.port, '127.0.0.1'), { code: 'EADDRINUSE' });
    t.deepEqual(server.addresses, [a, b]);
  } finally {
    await server.close();
  }
});

test('connect() to a closed port rejects with the socket error', async (t) => {
  const probe = createLineServer({ agent: testProtocol, isolation: 'inline' });
  const { port } = await probe.listen(0, '127.0.0.1');
  await probe.close();
  const server = createLineServer({ agent: testProtocol, isolation: 'inline' });
  try {
    await t.throwsAsync(server.connect(port, '127.0.0.1'), { code: 'ECONNREFUSED' });
    t.deepEqual(server.connections, []);
  } finally {
    await server.close();
  }
});

test('close() settles a connect() still in progress', async (t) => {
  const node = new TestNode();
  const remote = createLineServer({ agent: testProtocol, expose: node.api, isolation: 'inline' });
  const { port } = await remote.listen(0, '127.0.0.1');
  const server = createLineServer({ agent: testProtocol, expose: new TestNode().api, isolation: 'thread' });
  try {
    const connecting = server.connect(port, '127.0.0.1');
    const closing = server.close();
    await t.throwsAsync(connecting);
    await closing;
    t.deepEqual(server.connections, []);
  } finally {
    await remote.close();
  }
});

test('options are validated, each bad one named in a TypeError', (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{}, /option 'agent'/],
    [{ agent: 42 }, /option 'agent'/],
    [{ agent: new URL('https://example.com/x.js') }, /option 'agent'/],
    [{ agent: testProtocol, isolation: 'fiber' }, /option 'isolation'/],
    [{ agent: testProtocol, agents: 'some' }, /option 'agents'/],
    [{ agent: testProtocol, agents: { pool: 0 } }, /option 'agents'/],
    [{ agent: testProtocol, agents: { pool: 1.5 } }, /option 'agents'/],
    [{ agent: testProtocol, delimiter: '' }, /option 'delimiter'/],
    [{ agent: testProtocol, maxLineLength: 0 }, /option 'maxLineLength'/],
    [{ agent: testProtocol, maxLineLength: '10' }, /option 'maxLineLength'/],
    // Counted in bytes, as maxLineLength is: 'é' is 2 bytes in UTF-8.
    [{ agent: testProtocol, delimiter: '\r\n\r\n', maxLineLength: 3 }, /^\[agent-ipc\] option 'delimiter' \(4 bytes\) must not be longer than option 'maxLineLength' \(3 bytes\)$/],
    [{ agent: testProtocol, delimiter: 'éé', maxLineLength: 3 }, /option 'delimiter' \(4 bytes\).*option 'maxLineLength' \(3 bytes\)/],
    [{ agent: testProtocol, highWaterMark: -1 }, /option 'highWaterMark'/],
    [{ agent: testProtocol, timeoutMs: -5 }, /option 'timeoutMs'/],
    [{ agent: testProtocol, logger: {} }, /option 'logger'/],
    [{ agent: testProtocol, name: '' }, /option 'name'/],
    [{ agent: testProtocol, expose: 5 }, /option 'expose'/],
    [{ agent: testProtocol, expose: [() => 1] }, /option 'expose'/],
    [{ agent: testProtocol, expose: { 'agent-ipc:lines:send': () => 1 } }, /option 'expose'/],
    [{ agent: testProtocol, data: { f: () => 1 } }, /option 'data'/],
    [{ agent: testProtocol, maxLineLenght: 10 }, /unknown option 'maxLineLenght'/],
  ];
  for (const [options, message] of bad) {
    const error = t.throws(() => createLineServer(options as unknown as LineServerOptions), { instanceOf: TypeError }, JSON.stringify(options));
    t.regex(error!.message, /^\[agent-ipc\] /);
    t.is((error as TypeError & { code?: string }).code, 'ERR_AGENT_IPC_INVALID_ARGUMENT');
    t.regex(error!.message, message);
  }
  t.throws(() => createLineServer(null as unknown as LineServerOptions), { instanceOf: TypeError });
});

test('a delimiter as long as maxLineLength is accepted; one byte longer is refused', async (t) => {
  const server = createLineServer({ agent: testProtocol, isolation: 'inline', delimiter: '\r\n', maxLineLength: 2 });
  await server.close();
  t.throws(() => createLineServer({ agent: testProtocol, isolation: 'inline', delimiter: '\r\n', maxLineLength: 1 }), {
    instanceOf: TypeError,
    code: 'ERR_AGENT_IPC_INVALID_ARGUMENT',
    message: /option 'delimiter'.*option 'maxLineLength'/,
  });
});

test('listen() and connect() validate port and host', async (t) => {
  const server = createLineServer({ agent: testProtocol, isolation: 'inline' });
  try {
    await t.throwsAsync(server.listen(-1), { instanceOf: TypeError, message: /option 'port'/ });
    await t.throwsAsync(server.listen(70000), { instanceOf: TypeError, message: /option 'port'/ });
    await t.throwsAsync(server.listen(0, ''), { instanceOf: TypeError, message: /option 'host'/ });
    await t.throwsAsync(server.connect(1.5), { instanceOf: TypeError, message: /option 'port'/ });
  } finally {
    await server.close();
  }
});
