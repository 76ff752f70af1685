/**
 * `handOffSockets`, over real TCP: the node hands each socket to its process agent,
 * which frames, reads and writes it itself. The protocol (the same test protocol as the
 * relayed tests) must see exactly what it sees when lines are relayed — framing, order,
 * one line at a time, limits, back-pressure both ways, who and where — while the node
 * keeps `connections`, the events, `close()` and crash containment. Waits are on events,
 * never on time.
 */
import test, { type ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import * as net from 'node:net';
import { AgentExitedError, ConnectionClosedError, MessageTooLargeError, ProtocolError } from '../src/index.ts';
import { createLineServer, type LineConnectionInfo, type LineServer, type LineServerOptions } from '../src/lines/index.ts';
import { NodeLink } from '../src/lines/agent/node-link.ts';
import type { LineProtocolFactory } from '../src/lines/agent/protocol-types.ts';
import { SocketSession } from '../src/lines/agent/socket-session.ts';
import { LineMethod, type OpenRequest } from '../src/lines/shared/line-methods.ts';
import { LineSocket } from '../src/lines/shared/line-socket.ts';
import type { AgentContext, MainHandle } from '../src/types.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { expectPausedStream, LineClient, TestNode, testProtocol } from './fixtures/lines/line-client.ts';
import { gone } from './helpers/process-gone.ts';

const spyProtocol = new URL('./fixtures/lines/socket-spy-protocol.ts', import.meta.url);

interface Seen {
  server: LineServer;
  node: TestNode;
  port: number;
  connects: LineConnectionInfo[];
  errors: Array<{ error: Error; connection: LineConnectionInfo | undefined }>;
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
  /** Resolves once `n` disconnect events were seen. */
  disconnected(n: number): Promise<void>;
  /**
   * Resolves once `n` connect events were seen. A handed-off connection can answer its
   * peer before the node has the agent's answer to OPEN: a test that kills its agent must
   * wait for this first, or the node rightly never saw it made (no `disconnect` then).
   */
  connected(n: number): Promise<void>;
}

/** A hand-off server (process agents) listening on a free port for the body's duration. */
async function withServer(options: Partial<LineServerOptions<TestNodeApi>>, body: (seen: Seen) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer({ agent: testProtocol, expose: node.api, isolation: 'process', handOffSockets: true, ...options });
  // Waits for a list of events to reach a length; looked at again after every event.
  const waiting: Array<{ list: unknown[]; n: number; resolve: () => void }> = [];
  const atLeast = (list: unknown[], n: number): Promise<void> => (list.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ list, n, resolve })));
  const wake = (): void => {
    for (let i = waiting.length - 1; i >= 0; i--) {
      const wait = waiting[i]!;
      if (wait.list.length < wait.n) continue;
      waiting.splice(i, 1);
      wait.resolve();
    }
  };
  const seen: Seen = {
    server,
    node,
    port: 0,
    connects: [],
    errors: [],
    disconnects: [],
    disconnected: (n) => atLeast(seen.disconnects, n),
    connected: (n) => atLeast(seen.connects, n),
  };
  server.on('connect', (info) => {
    seen.connects.push(info);
    wake();
  });
  server.on('error', (error, connection) => seen.errors.push({ error, connection }));
  server.on('disconnect', (info, reason) => {
    seen.disconnects.push({ info, reason });
    wake();
  });
  try {
    seen.port = (await server.listen(0, '127.0.0.1')).port;
    await body(seen);
  } finally {
    await server.close();
  }
}

/** The pid of the agent process serving `client`'s connection. */
async function agentPid(client: LineClient): Promise<number> {
  client.send('PID');
  return Number(await client.next());
}

// --- option validation -------------------------------------------------------------

test('handOffSockets must be a boolean, and needs process isolation', (t) => {
  const base = { agent: testProtocol };
  t.throws(() => createLineServer({ ...base, isolation: 'process', handOffSockets: 'yes' as unknown as boolean }), {
    instanceOf: TypeError,
    message: /^\[agent-ipc\] option 'handOffSockets' must be a boolean/,
  });
  for (const isolation of ['thread', 'inline'] as const) {
    t.throws(() => createLineServer({ ...base, isolation, handOffSockets: true }), {
      instanceOf: TypeError,
      message: /^\[agent-ipc\] option 'handOffSockets' must be false unless isolation is 'process'/,
    });
  }
  // The default isolation is 'thread'.
  t.throws(() => createLineServer({ ...base, handOffSockets: true }), { instanceOf: TypeError, message: /handOffSockets/ });
  t.notThrows(() => createLineServer({ ...base, isolation: 'thread', handOffSockets: false }));
  t.notThrows(() => createLineServer({ ...base, isolation: 'process', handOffSockets: true }));
});

// --- the protocol sees what it sees when lines are relayed ----------------------------

test('lines echo back in order; lines split across chunks are reassembled; empty lines are lines', async (t) => {
  await withServer({}, async ({ port }) => {
    const c = await LineClient.connect(port);
    c.write('ECHO a\r\nECHO b\r\nECHO c\r\n');
    t.deepEqual(await c.take(3), ['a', 'b', 'c']);
    // A line and its delimiter split over several writes, one byte of '\r\n' at a time.
    c.write('ECHO sp');
    c.write('lit\r');
    c.write('\nECHO \r\n');
    t.deepEqual(await c.take(2), ['split', '']);
    c.write('\r\nECHO after-empty\r\n');
    t.is(await c.next(), 'unknown ', 'the empty line reached lineReceived');
    t.is(await c.next(), 'after-empty');
    await c.close();
  });
});

test('the node relays nothing: it writes no byte to a handed-off socket', async (t) => {
  const written: Array<number | undefined> = [];
  const { write } = net.Socket.prototype;
  net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
    written.push(this.remotePort);
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  try {
    await withServer({}, async ({ port }) => {
      const c = await LineClient.connect(port);
      c.send('ECHO through the agent');
      t.is(await c.next(), 'through the agent');
      const clientPort = c.socket.localPort;
      t.false(written.includes(clientPort), 'no write on the node side of this connection');
      await c.close();
    });
  } finally {
    net.Socket.prototype.write = write;
  }
});

test('connectionMade runs first; conn describes the connection; connections and events show it', async (t) => {
  await withServer({ data: { greet: true } }, async ({ port, server, connects, connected, disconnects, disconnected, node }) => {
    const c = await LineClient.connect(port);
    const hello = await c.next();
    const made = await node.waitFor('made');
    t.is(hello, `HELLO ${made.id}`);
    c.send('INFO');
    const info = JSON.parse((await c.next())!) as { id: number; peer: { address: string; port: number; family: string }; direction: string; agent: string };
    t.is(info.direction, 'inbound');
    t.deepEqual(info.peer, { address: '127.0.0.1', port: c.socket.localPort, family: 'IPv4' });
    // The agent writes to the peer itself: its replies can reach the client before its
    // answer to the node's OPEN reaches the node, which then emits `connect`.
    await connected(1);
    t.is(connects.length, 1);
    t.deepEqual(server.connections, [connects[0]]);
    const [listed] = server.connections;
    t.is(listed!.id, info.id);
    t.is(listed!.agent, info.agent);
    t.deepEqual(listed!.peer, info.peer);
    t.is(listed!.local.port, port);
    await c.close();
    await disconnected(1);
    t.is(disconnects[0]!.reason, undefined, 'a peer that closes is a clean close');
    t.is((await node.waitFor('lost', info.id)).detail, null, 'connectionLost without a reason');
    t.deepEqual(server.connections, []);
  });
});

test('the lines of one connection are processed one at a time; connections run independently', async (t) => {
  await withServer({ agents: { pool: 1 } }, async ({ port }) => {
    const a = await LineClient.connect(port);
    const b = await LineClient.connect(port);
    a.write('SLOW 30 a1\r\nSLOW 1 a2\r\n');
    b.send('ECHO b-meanwhile');
    t.is(await b.next(), 'b-meanwhile');
    t.deepEqual(await a.take(2), ['done a1 max-concurrent=1', 'done a2 max-concurrent=1']);
    await Promise.all([a.close(), b.close()]);
  });
});

test('sendLine keeps its order relative to the protocol\'s async and blocking calls', async (t) => {
  await withServer({}, async ({ port }) => {
    const c = await LineClient.connect(port);
    c.write('SEQ 1 2\r\nSEQ 3 4\r\n');
    t.deepEqual(await c.take(6), ['1-1', '1-2 3', '1-3 2', '3-1', '3-2 7', '3-3 4']);
    await c.close();
  });
});

test('lines sent before the peer half-closes are still processed and answered', async (t) => {
  await withServer({}, async ({ port, disconnects, disconnected }) => {
    const c = await LineClient.connect(port);
    c.write('SLOW 20 x\r\nECHO last\r\n');
    c.socket.end();
    t.deepEqual(await c.rest(), ['done x max-concurrent=1', 'last']);
    await disconnected(1);
    t.is(disconnects[0]!.reason, undefined);
  });
});

const syncEcho = new URL('./fixtures/lines/sync-echo-protocol.ts', import.meta.url);

test("a synchronous protocol's replies to the lines just before the peer's FIN all go out", async (t) => {
  // They waited for the agent's line flush (a microtask) while the FIN ended the socket at once: some were dropped.
  await withServer({ agent: syncEcho, agents: { pool: 1 } }, async ({ port }) => {
    for (let i = 0; i < 10; i++) {
      const c = await LineClient.connect(port);
      c.write(`one ${i}\r\ntwo ${i}\r\n`);
      c.socket.end();
      t.deepEqual(await c.rest(), [`one ${i}`, `two ${i}`]);
    }
  });
});

test("a synchronous protocol's reply to the line before a framing error goes out", async (t) => {
  await withServer({ agent: syncEcho, agents: { pool: 1 } }, async ({ port }) => {
    for (let i = 0; i < 5; i++) {
      const c = await LineClient.connect(port);
      c.write(Buffer.concat([Buffer.from(`one ${i}\r\n`), Buffer.from([0xff]), Buffer.from('\r\n')]));
      t.deepEqual(await c.rest(), [`one ${i}`]);
    }
  });
});

test('a peer that half-closes before its agent took the socket still gets what connectionMade sends, and ends clean', async (t) => {
  // The agent held the received socket without half-open support: the FIN ended and destroyed it first.
  await withServer({ agent: syncEcho, agents: { pool: 1 }, data: { greet: true } }, async ({ port, disconnects, disconnected }) => {
    const peers = 10;
    for (let i = 0; i < peers; i++) {
      const c = await LineClient.connect(port);
      c.socket.end();
      const rest = await c.rest();
      t.is(rest.length, 1, `peer ${i}: ${JSON.stringify(rest)}`);
      t.regex(rest[0] ?? '', /^HELLO \d+$/);
    }
    await disconnected(peers);
    t.deepEqual(
      disconnects.map((d) => d.reason),
      Array.from({ length: peers }, () => undefined),
    );
  });
});

test('loseConnection closes after what was sent; its reason reaches connectionLost and the disconnect event', async (t) => {
  await withServer({}, async ({ port, node, disconnects, disconnected }) => {
    const c = await LineClient.connect(port);
    c.send('QUIT going away');
    t.deepEqual(await c.rest(), ['bye']);
    await disconnected(1);
    t.true(disconnects[0]!.reason instanceof ProtocolError);
    t.is(disconnects[0]!.reason!.message, '[agent-ipc] going away');
    t.deepEqual((await node.waitFor('lost')).detail, { name: 'ProtocolError', message: '[agent-ipc] going away' });
  });
});

test('sendLine refuses a line with the delimiter or over maxLineLength bytes', async (t) => {
  await withServer({ maxLineLength: 32 }, async ({ port }) => {
    const c = await LineClient.connect(port);
    c.send('SEND delimiter');
    t.is(await c.next(), 'refused TypeError');
    c.send('SEND long 33');
    t.is(await c.next(), 'refused MessageTooLargeError');
    c.send('SEND long 32');
    t.is(await c.next(), 'x'.repeat(32));
    t.is(await c.next(), 'sent');
    await c.close();
  });
});

// --- framing errors close that connection only ---------------------------------------

test('a line over maxLineLength bytes closes that connection only, after the lines before it', async (t) => {
  await withServer({ maxLineLength: 64 }, async ({ port, node, errors, disconnects, disconnected }) => {
    const bystander = await LineClient.connect(port);
    const offender = await LineClient.connect(port);
    // 30 three-byte characters: 30 UTF-16 units, 90 bytes — over the limit in bytes.
    offender.write(`ECHO before\r\nECHO ${'€'.repeat(30)}\r\nECHO after\r\n`);
    t.deepEqual(await offender.rest(), ['before']);
    await disconnected(1);
    const { reason } = disconnects[0]!;
    t.true(reason instanceof MessageTooLargeError);
    t.is((reason as MessageTooLargeError).limit, 64);
    t.is(errors.length, 1);
    t.is<Error | undefined, Error | undefined>(errors[0]!.error, reason, 'the error event and the disconnect carry the same error');
    t.is(errors[0]!.connection?.id, disconnects[0]!.info.id);
    t.is(((await node.waitFor('lost')).detail as { name: string }).name, 'MessageTooLargeError');
    bystander.send('ECHO still here');
    t.is(await bystander.next(), 'still here');
    await bystander.close();
  });
});

test('a peer that never sends a delimiter is cut off at the limit', async (t) => {
  await withServer({ maxLineLength: 1024 }, async ({ port, disconnects, disconnected }) => {
    const c = await LineClient.connect(port);
    c.write(Buffer.alloc(4096, 'z'));
    t.deepEqual(await c.rest(), []);
    await disconnected(1);
    t.true(disconnects[0]!.reason instanceof MessageTooLargeError);
  });
});

test('invalid UTF-8 closes the connection with ProtocolError, after the lines before it', async (t) => {
  await withServer({}, async ({ port, errors, disconnects, disconnected }) => {
    const c = await LineClient.connect(port);
    c.write(Buffer.concat([Buffer.from('ECHO fine\r\nECHO '), Buffer.from([0xc3, 0x28]), Buffer.from('\r\nECHO never\r\n')]));
    t.deepEqual(await c.rest(), ['fine']);
    await disconnected(1);
    t.true(disconnects[0]!.reason instanceof ProtocolError);
    t.regex(disconnects[0]!.reason!.message, /UTF-8/);
    t.true(errors[0]!.error instanceof ProtocolError);
  });
});

test('a protocol that throws closes its connection with that error; connectionMade that throws rejects connect()', async (t) => {
  await withServer({}, async ({ port, node, errors, disconnects, disconnected }) => {
    const c = await LineClient.connect(port);
    c.write('ECHO first\r\nTHROW broken\r\nECHO never\r\n');
    t.deepEqual(await c.rest(), ['first']);
    await disconnected(1);
    t.true(disconnects[0]!.reason instanceof RangeError);
    t.is(disconnects[0]!.reason!.message, 'broken');
    t.is(errors.length, 1);
    t.is<Error | undefined, Error | undefined>(errors[0]!.error, disconnects[0]!.reason);
    t.deepEqual((await node.waitFor('lost')).detail, { name: 'RangeError', message: 'broken' });

    const dialerNode = new TestNode();
    const dialer = createLineServer({ agent: testProtocol, expose: dialerNode.api, isolation: 'process', handOffSockets: true, data: { failMade: true } });
    const events: string[] = [];
    dialer.on('connect', () => events.push('connect'));
    dialer.on('disconnect', () => events.push('disconnect'));
    dialer.on('error', (error) => events.push(`error ${error.name}`));
    try {
      await t.throwsAsync(dialer.connect(port, '127.0.0.1'), { instanceOf: RangeError, message: 'connectionMade failed on purpose' });
      t.deepEqual((await dialerNode.waitFor('lost')).detail, { name: 'RangeError', message: 'connectionMade failed on purpose' });
      t.deepEqual(dialer.connections, []);
    } finally {
      await dialer.close();
    }
    t.deepEqual(events, ['error RangeError'], 'never live: no connect or disconnect event');
  });
});

// --- back-pressure both ways, in the agent -------------------------------------------

test.serial('a protocol that falls behind pauses reading of its socket (in the agent) only; nothing is lost', async (t) => {
  const LINES = 3000;
  await withServer({ agent: spyProtocol, highWaterMark: 16, agents: { pool: 1 } }, async ({ port, node }) => {
    const slow = await LineClient.connect(port);
    const other = await LineClient.connect(port);
    const paused =
      (client: LineClient) =>
      (e: { detail: unknown }): boolean =>
        e.detail === client.socket.localPort;
    slow.send('GATE g');
    await node.waitFor('gated');
    let text = '';
    for (let i = 0; i < LINES; i++) text += `COUNT ${i}\r\n`;
    slow.write(text);
    await node.waitFor('socket:pause', -1, paused(slow));

    // The other connection of the same agent is not paused, and is served meanwhile.
    other.send('ECHO served');
    t.is(await other.next(), 'served');
    t.is(node.of('socket:pause').filter(paused(other)).length, 0);

    node.open('g');
    t.is(await slow.next(), 'opened g');
    await node.waitFor('socket:resume', -1, paused(slow));
    await node.waitFor('count', undefined, (e) => e.detail === String(LINES - 1));
    t.deepEqual(
      node.of('count').map((e) => Number(e.detail)),
      Array.from({ length: LINES }, (_, i) => i),
      'every line delivered once, in order',
    );
    await Promise.all([slow.close(), other.close()]);
  });
});

test.serial('a full socket makes conn.writable false until it drains; the producer resumes', async (t) => {
  await withServer({ agent: spyProtocol }, async ({ port, node }) => {
    const c = await LineClient.connect(port);
    // Do not read: the agent's socket buffers fill up.
    c.socket.pause();
    c.send('STREAM 60000 64');
    await node.waitFor('socket:full', -1, (e) => e.detail === c.socket.localPort);
    const unwritable = await node.waitFor('unwritable');
    t.true((unwritable.detail as number) > 0, 'the producer saw conn.writable false');
    c.socket.resume();
    await expectPausedStream(t, c);
    await c.close();
  });
});

// --- crash containment ----------------------------------------------------------------

test('an agent process killed with SIGKILL closes its connection and nothing else', async (t) => {
  await withServer({}, async ({ port, server, errors, disconnects, disconnected, connected }) => {
    const bystander = await LineClient.connect(port);
    const victim = await LineClient.connect(port);
    const [bystanderPid, victimPid] = [await agentPid(bystander), await agentPid(victim)];
    t.not(bystanderPid, victimPid, 'one agent process per connection');
    t.not(victimPid, process.pid);
    await connected(2);
    process.kill(victimPid, 'SIGKILL');
    t.deepEqual(await victim.rest(), [], "the agent's socket closed with its process");
    await disconnected(1);
    const [{ info, reason }] = disconnects;
    t.true(reason instanceof AgentExitedError);
    t.is((reason as AgentExitedError).signal, 'SIGKILL');
    t.true(errors.some(({ error }) => error instanceof AgentExitedError));
    t.is(server.connections.length, 1);
    t.not(server.connections[0]!.id, info.id);

    bystander.send('ECHO alive');
    t.is(await bystander.next(), 'alive');
    const next = await LineClient.connect(port);
    next.send('ECHO new');
    t.is(await next.next(), 'new');
    await Promise.all([bystander.close(), next.close()]);
  });
});

test('in a pool, a killed agent closes all its connections and is replaced', async (t) => {
  await withServer({ agents: { pool: 1 } }, async ({ port, node, disconnects, disconnected, connected }) => {
    const a = await LineClient.connect(port);
    const b = await LineClient.connect(port);
    const [pa, pb] = [await agentPid(a), await agentPid(b)];
    t.is(pa, pb, 'both on the one pooled agent');
    await connected(2);
    process.kill(pa, 'SIGKILL');
    t.deepEqual(await a.rest(), []);
    t.deepEqual(await b.rest(), []);
    await disconnected(2);
    t.true(disconnects.every(({ reason }) => reason instanceof AgentExitedError));
    t.is(node.of('lost').length, 0, 'a dead agent runs no connectionLost');

    const c = await LineClient.connect(port);
    const pc = await agentPid(c);
    t.not(pc, pa, 'served by the replacement');
    c.send('ECHO replaced');
    t.is(await c.next(), 'replaced');
    await c.close();
  });
});

// --- outbound connections --------------------------------------------------------------

test('connect() hands the outbound socket over too; bytes the peer sends at once are not lost', async (t) => {
  // A remote peer that speaks first, the moment the connection is accepted: those bytes
  // reach the node's socket before the hand-off, so the node must not have read them.
  const remote = net.createServer((socket) => {
    socket.write('ECHO early\r\nINFO\r\n');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const lines = text.split('\r\n');
      if (lines.length < 3) return;
      remote.emit('answers', lines.slice(0, 2));
      socket.end();
    });
  });
  remote.listen(0, '127.0.0.1');
  await once(remote, 'listening');
  const remotePort = (remote.address() as net.AddressInfo).port;
  const answered = once(remote, 'answers') as Promise<[string[]]>;
  const node = new TestNode();
  const dialer = createLineServer({ agent: testProtocol, expose: node.api, isolation: 'process', handOffSockets: true });
  const disconnected = new Promise<[LineConnectionInfo, Error | undefined]>((resolve) => dialer.once('disconnect', (...args) => resolve(args)));
  try {
    const info = await dialer.connect(remotePort, '127.0.0.1');
    t.is(info.direction, 'outbound');
    t.is(info.peer.port, remotePort);
    const [[early, infoLine]] = await answered;
    t.is(early, 'early');
    const seen = JSON.parse(infoLine!) as { id: number; direction: string; peer: { port: number } };
    t.is(seen.id, info.id);
    t.is(seen.direction, 'outbound');
    t.is(seen.peer.port, remotePort);
    const [gone, reason] = await disconnected;
    t.is(gone.id, info.id);
    t.is(reason, undefined, 'the remote peer closed cleanly');
    await t.throwsAsync(dialer.connect(1, '127.0.0.1'), { code: 'ECONNREFUSED' });
  } finally {
    await dialer.close();
    remote.close();
  }
});

// --- close ------------------------------------------------------------------------------

test('close() ends every connection (ConnectionClosedError) and every agent process it started', async (t) => {
  const node = new TestNode();
  const server = createLineServer({ agent: testProtocol, expose: node.api, isolation: 'process', handOffSockets: true });
  const disconnects: Array<Error | undefined> = [];
  server.on('disconnect', (_info, reason) => disconnects.push(reason));
  const { port } = await server.listen(0, '127.0.0.1');
  const clients = await Promise.all([LineClient.connect(port), LineClient.connect(port), LineClient.connect(port)]);
  const pids = await Promise.all(clients.map(agentPid));
  t.is(new Set(pids).size, 3);
  t.true(pids.every((pid) => !gone(pid)));

  await server.close();
  t.is(disconnects.length, 3);
  t.true(disconnects.every((reason) => reason instanceof ConnectionClosedError));
  t.deepEqual(server.connections, []);
  for (const client of clients) t.deepEqual(await client.rest(), []);
  t.deepEqual(pids.filter((pid) => !gone(pid)), [], 'every agent process has exited');
  t.deepEqual(
    node.of('lost').map((e) => (e.detail as { name: string }).name),
    ['ConnectionClosedError', 'ConnectionClosedError', 'ConnectionClosedError'],
    "each protocol's connectionLost ran with the reason",
  );
  await t.throwsAsync(LineClient.connect(port), { code: 'ECONNREFUSED' });
});

/**
 * A socket as the agent's inbox holds it once its peer reset it: the inbox ignores its
 * errors (nobody is there to hear them), so what the connection then takes is a socket
 * destroyed by the reset, its error kept in `errored`.
 */
async function socketResetInInbox(t: ExecutionContext): Promise<net.Socket> {
  const listener = net.createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [held] = await accepted;
  held.on('error', () => undefined);
  // Not `once`, which would reject with the very error the inbox ignores.
  const closed = new Promise((resolve) => held.once('close', resolve));
  client.resetAndDestroy();
  await closed;
  return held;
}

test('a socket its peer reset while it waited in the agent\'s inbox fails its connection with that error, reported', async (t) => {
  const held = await socketResetInInbox(t);
  const failures: Error[] = [];
  const endings: Array<Error | undefined> = [];
  const lines = new LineSocket(held, 9, { delimiter: '\r\n', maxLineLength: 1024, highWaterMark: 16 }, {
    deliver: () => undefined,
    writable: () => undefined,
    failed: (error) => failures.push(error),
    ending: (reason) => endings.push(reason),
  });
  lines.start();
  t.is(failures.length, 1, 'the reset is reported');
  t.is((failures[0] as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
  t.is(endings.length, 1);
  t.is(endings[0], failures[0], 'and is the reason the connection ends with');
});

test('a session whose socket was reset in the agent\'s inbox runs no protocol: its opening fails with the reset, reported once, and it closes', async (t) => {
  const held = await socketResetInInbox(t);
  // What the session tells the node: the line server's reserved methods, recorded.
  const told: Array<{ method: string; args: unknown[] }> = [];
  const node = new Proxy({}, { get: (_, method) => (...args: unknown[]) => (told.push({ method: String(method), args }), Promise.resolve()) });
  const main = { async: node, blocking: node } as unknown as MainHandle<unknown>;
  const request: OpenRequest = { id: 9, peer: { address: '127.0.0.1', port: 1, family: 'IPv4' }, direction: 'inbound', delimiter: '\r\n', maxLineLength: 1024, highWaterMark: 16, timeoutMs: 1000, handOff: true };
  const session = new SocketSession(held, request, new NodeLink(main));
  let built = 0;
  const factory: LineProtocolFactory<unknown> = () => {
    built++;
    return { lineReceived: () => undefined, connectionMade: () => t.fail('connectionMade ran for a dead socket') };
  };
  const error = await t.throwsAsync(session.open(factory, main, {} as AgentContext));
  t.is((error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET', 'the node is answered with the reset');
  t.not(await bounded(session.finished), TIMED_OUT, 'the session finishes');
  t.is(built, 0, 'no protocol was built: no connectionMade, no connectionLost');
  const failed = told.filter(({ method }) => method === LineMethod.FAILED);
  t.is(failed.length, 1, 'the reset is reported once');
  t.is((failed[0]?.args[1] as { code?: string } | undefined)?.code, 'ECONNRESET');
  t.is(told.filter(({ method }) => method === LineMethod.CLOSED).length, 1, 'and the connection reported finished');
});

test('a connection whose socket its peer reset before its session started in the agent is never live: one error event (ECONNRESET), no connectionMade', async (t) => {
  // One agent: what it did for the reset connection reaches the node before what it does
  // for a later one (one ordered stream).
  t.timeout(90_000);
  await withServer({ agent: new URL('./fixtures/lines/dead-on-arrival-protocol.ts', import.meta.url), agents: { pool: 1 } }, async ({ server, node, port, connects, errors, disconnects }) => {
    const client = await LineClient.connect(port);
    client.socket.resetAndDestroy();
    // The node does not read a socket it hands off: the agent finds the reset.
    const end = Date.now() + 60_000;
    while (errors.length === 0 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
    t.is(errors.length, 1, 'one error event');
    t.is((errors[0]?.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
    const id = errors[0]?.connection?.id;
    // A connection after it, served by the same agent: by its answer, anything the agent
    // did for the reset one (its connectionMade reports 'made' at once) has reached the node.
    const after = await LineClient.connect(port);
    after.send('ECHO after');
    t.is(await after.next(), 'after');
    t.deepEqual(node.of('made', id), [], 'connectionMade never ran for it');
    t.deepEqual(node.of('lost', id), [], 'nor connectionLost');
    t.false(connects.some((info) => info.id === id), 'never live: no connect event');
    t.false(disconnects.some(({ info }) => info.id === id), 'nor a disconnect');
    t.false(server.connections.some((info) => info.id === id));
    t.is(errors.length, 1, 'its one error event is the only one');
    await after.close();
  });
});
