/**
 * The line server, its pools and socket hand-off at their edges: cases the other tests do not
 * have. Every wait is bounded (a hang is a failure, not a stuck run); no assertion on
 * timing beyond "settles at all within a generous bound".
 */
import test from 'ava';
import * as net from 'node:net';
import { once } from 'node:events';
import { ConnectionClosedError } from '../src/index.ts';
import { createLineServer, type AgentRestartInfo, type LineConnectionInfo, type LineServer, type LineServerOptions } from '../src/lines/index.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { LineClient, TestNode } from './fixtures/lines/line-client.ts';
import { gone } from './helpers/process-gone.ts';
import { bounded, TIMED_OUT } from './fixtures/bounded-wait.ts';

const failingProtocol = new URL('./fixtures/lines-edges/failing-protocol.ts', import.meta.url);
const crashOnStart = new URL('./fixtures/lines-edges/crash-on-start.ts', import.meta.url);
const neverReady = new URL('./fixtures/lifecycle/never-ready-agent.ts', import.meta.url);


/** Each client sends `ECHO i` at once; their answers, in client order. */
function echoEach(clients: LineClient[]): Promise<unknown[]> {
  return Promise.all(
    clients.map(async (client, i) => {
      client.send(`ECHO ${i}`);
      return bounded(client.next(), 120_000);
    }),
  );
}

/** Settled outcome of a promise. */
async function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

interface Seen {
  server: LineServer;
  node: TestNode;
  restarts: AgentRestartInfo[];
  errors: Array<{ error: Error; connection: LineConnectionInfo | undefined }>;
  connects: LineConnectionInfo[];
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
}

function watch(options: Partial<LineServerOptions<TestNodeApi>> & { agent?: URL }): Seen {
  const node = new TestNode();
  const server = createLineServer<TestNodeApi>({
    agent: failingProtocol,
    expose: node.api,
    startupTimeoutMs: 0,
    ...options,
  });
  const seen: Seen = {
    server,
    node,
    restarts: [],
    errors: [],
    connects: [],
    disconnects: [],
  };
  server.on('agentRestart', (info) => seen.restarts.push(info));
  server.on('error', (error, connection) => seen.errors.push({ error, connection }));
  server.on('connect', (info) => seen.connects.push(info));
  server.on('disconnect', (info, reason) => seen.disconnects.push({ info, reason }));
  return seen;
}

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

async function info(client: LineClient): Promise<{ agent: string; id: number } | undefined> {
  client.send('INFO');
  const line = await bounded(client.next(), 20_000);
  if (line === TIMED_OUT || line === undefined) return undefined;
  return JSON.parse(line) as { agent: string; id: number };
}

// ---------------------------------------------------------------------------------------
// Hand-off to a pool agent whose event loop is blocked.

test.serial('process hand-off pool: connections handed to a hung agent are closed or served, and close() settles', async (t) => {
  t.timeout(150_000);
  const seen = watch({
    isolation: 'process',
    handOffSockets: true,
    agents: { pool: 1 },
    timeoutMs: 1500,
  });
  const clients: LineClient[] = [];
  try {
    const { port } = await seen.server.listen(0, '127.0.0.1');
    const a = await LineClient.connect(port);
    clients.push(a);
    const first = await info(a);
    t.truthy(first);
    a.send('HANG');
    await bounded(seen.node.waitFor('hanging'), 60_000);
    // Two more connections go to the one (hung) agent: the first handle is written, the
    // second waits in Node.js's queue for the first one's acknowledgement.
    const b = await LineClient.connect(port);
    const c = await LineClient.connect(port);
    clients.push(b, c);
    // Each is served (by the replacement) or closed: none is left hanging.
    for (const [name, client] of [
      ['b', b],
      ['c', c],
    ] as const) {
      client.send('ECHO ok');
      const line = await bounded(client.next(), 20_000);
      t.not(line, TIMED_OUT, `connection ${name} neither served nor closed`);
    }
  } finally {
    for (const client of clients) client.socket.destroy();
    const closed = await bounded(seen.server.close(), 60_000);
    t.not(closed, TIMED_OUT, 'close() settles');
  }
});

// ---------------------------------------------------------------------------------------
// Options and listen/close edge cases.

test.serial('every bad option is a TypeError naming the option', (t) => {
  const bad: Array<[string, unknown]> = [
    ['agent', 5],
    ['expose', 5],
    ['isolation', 'fiber'],
    ['agents', { pool: 0 }],
    ['agents', { pool: 2.5 }],
    ['agents', 'pool'],
    ['delimiter', ''],
    ['delimiter', 5],
    ['maxLineLength', 0],
    ['maxLineLength', Infinity],
    ['maxLineLength', '10'],
    ['highWaterMark', -1],
    ['highWaterMark', 1.5],
    ['timeoutMs', -1],
    ['timeoutMs', 'x'],
    ['startupTimeoutMs', -5],
    ['startupTimeoutMs', NaN],
    ['name', ''],
    ['name', 7],
    ['handOffSockets', 'yes'],
    ['maxMessageBytes', 0],
    ['maxInFlight', -1],
    ['resourceLimits', 5],
    ['logger', 5],
    ['priority', 'urgent'],
    ['sandbox', 'yes'],
    ['bogusOption', 1],
  ];
  for (const [option, value] of bad) {
    const error = t.throws(
      () =>
        createLineServer({
          agent: failingProtocol,
          [option]: value,
        } as unknown as LineServerOptions),
      undefined,
      `${option}: ${String(value)}`,
    );
    t.true(error instanceof TypeError, `${option}: ${String(value)} is a TypeError (got ${error?.name})`);
    t.true(error?.message.includes(option), `${option}: message names it: ${error?.message}`);
  }
});

test.serial('listen: a port in use, an invalid host and a bad port reject; the server still listens elsewhere and closes', async (t) => {
  t.timeout(120_000);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const busyPort = (blocker.address() as net.AddressInfo).port;
  const seen = watch({ isolation: 'thread', agents: { pool: 1 } });
  try {
    const inUse = await outcome(seen.server.listen(busyPort, '127.0.0.1'));
    t.false(inUse.ok);
    t.is((inUse as { error: NodeJS.ErrnoException }).error.code, 'EADDRINUSE');
    const badHost = await outcome(bounded(seen.server.listen(0, 'no-such-host.invalid'), 60_000));
    t.false(badHost.ok, 'listening on a host that does not resolve rejects');
    await t.throwsAsync(seen.server.listen(70000), {
      instanceOf: TypeError,
      message: /port/,
    });
    await t.throwsAsync(seen.server.listen(0, ''), {
      instanceOf: TypeError,
      message: /host/,
    });
    // Twice: two addresses.
    const one = await seen.server.listen(0, '127.0.0.1');
    const two = await seen.server.listen(0, '127.0.0.1');
    t.not(one.port, two.port);
    t.is(seen.server.addresses.length, 2);
    const client = await LineClient.connect(two.port);
    client.send('ECHO hi');
    t.is(await bounded(client.next(), 60_000), 'hi');
    client.socket.destroy();
  } finally {
    t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT);
    blocker.close();
  }
  t.is(seen.server.addresses.length, 0);
});

test.serial('close() before listen() settles, twice concurrently, and listen/connect after close reject', async (t) => {
  t.timeout(120_000);
  for (const isolation of ['thread', 'process'] as const) {
    const seen = watch({ isolation, agents: { pool: 2 } });
    const listening = outcome(seen.server.listen(0, '127.0.0.1'));
    const first = seen.server.close();
    const second = seen.server.close();
    t.is(first, second, 'close() is idempotent');
    t.not(await bounded(first, 60_000), TIMED_OUT, `${isolation}: close() settles while the pool starts`);
    const listened = await bounded(listening, 60_000);
    t.not(listened, TIMED_OUT, `${isolation}: listen() settles`);
    t.false((listened as { ok: boolean }).ok, `${isolation}: listen() rejects once closed`);
    await t.throwsAsync(seen.server.listen(0), {
      instanceOf: ConnectionClosedError,
    });
    await t.throwsAsync(seen.server.connect(1, '127.0.0.1'), {
      instanceOf: ConnectionClosedError,
    });
    t.is(seen.server.addresses.length, 0);
  }
});

test.serial('close() from inside connect and disconnect handlers settles', async (t) => {
  t.timeout(120_000);
  for (const event of ['connect', 'disconnect'] as const) {
    const seen = watch({ isolation: 'thread', agents: { pool: 1 } });
    let closing: Promise<void> | undefined;
    seen.server.on(event, () => (closing ??= seen.server.close()));
    const { port } = await seen.server.listen(0, '127.0.0.1');
    const client = await LineClient.connect(port);
    client.send('ECHO x');
    if (event === 'disconnect') {
      t.is(await bounded(client.next(), 60_000), 'x');
      client.socket.end();
    }
    t.true(await until(() => closing !== undefined, 60_000), `${event}: handler ran`);
    t.not(await bounded(closing!, 60_000), TIMED_OUT, `close() from a ${event} handler settles`);
    t.not(await bounded(client.closed, 60_000), TIMED_OUT, 'the client is closed');
  }
});

test.serial('close() while a pool backs off after repeated crashes settles, and nothing restarts after', async (t) => {
  t.timeout(120_000);
  const seen = watch({ isolation: 'thread', agents: { pool: 1 } });
  const { port } = await seen.server.listen(0, '127.0.0.1');
  try {
    // Exit three times in a row: the next replacement waits 200 ms, then 400 ms, …
    for (let i = 0; i < 4; i++) {
      let client = await LineClient.connect(port);
      let who = await info(client);
      // The connection may land while no agent is alive: it waits for the replacement.
      t.truthy(who);
      client.send('EXIT');
      await bounded(client.rest(), 60_000);
      t.true(await until(() => seen.restarts.length >= i + 1, 60_000));
      client = undefined as unknown as LineClient;
      who = undefined;
    }
    t.is(seen.restarts.at(-1)!.delayMs, 400);
  } finally {
    t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT);
  }
  const restarts = seen.restarts.length;
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.is(seen.restarts.length, restarts, 'no replacement after close');
});

// ---------------------------------------------------------------------------------------
// Hostile peers against slow agents, many connections against a small pool.

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

for (const [isolation, handOffSockets] of [
  ['thread', false],
  ['process', false],
  ['process', true],
] as const) {
  const mode = `${isolation}${handOffSockets ? ' hand-off' : ''}`;

  test.serial(`${mode}: a connect/RST storm while per-connection agents start leaves no connection, agent or socket behind`, async (t) => {
    t.timeout(180_000);
    const before = resourceCounts();
    const seen = watch({ isolation, handOffSockets });
    const pids: number[] = [];
    try {
      const { port } = await seen.server.listen(0, '127.0.0.1');
      const storm = Array.from({ length: 12 }, async () => {
        const socket = net.connect({ port, host: '127.0.0.1' });
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        socket.resetAndDestroy();
      });
      await Promise.all(storm);
      // A well-behaved peer is still served amid the storm's aftermath.
      const client = await LineClient.connect(port);
      client.send('PID');
      const pid = await bounded(client.next(), 90_000);
      t.not(pid, TIMED_OUT, 'a normal peer is served after the storm');
      if (typeof pid === 'string' && isolation === 'process') pids.push(Number(pid));
      client.socket.destroy();
      t.true(await until(() => seen.server.connections.length === 0, 90_000), 'every connection finished');
    } finally {
      t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT, 'close() settles');
    }
    t.true(await until(() => pids.every(gone), 30_000), 'agent processes gone');
    // Nothing of the server survives: compare the kinds of handles with before.
    t.true(
      await until(() => {
        const after = resourceCounts();
        return ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'ProcessWrap', 'PipeWrap', 'MessagePort', 'Worker'].every((kind) => (after[kind] ?? 0) <= (before[kind] ?? 0));
      }, 30_000),
      `resources left: ${JSON.stringify(resourceCounts())} vs ${JSON.stringify(before)}`,
    );
  });

  test.serial(`${mode}: 40 concurrent connections against a pool of 1 are all served, none dropped`, async (t) => {
    t.timeout(180_000);
    const seen = watch({ isolation, handOffSockets, agents: { pool: 1 } });
    try {
      const { port } = await seen.server.listen(0, '127.0.0.1');
      const clients = await Promise.all(Array.from({ length: 40 }, () => LineClient.connect(port)));
      t.deepEqual(await echoEach(clients), clients.map((_, i) => String(i)));
      // Half-close: the replies to lines sent before the FIN still arrive.
      const half = clients[0]!;
      half.send('ECHO before-fin');
      half.socket.end();
      t.deepEqual(await bounded(half.rest(), 60_000), ['before-fin']);
      for (const client of clients) client.socket.destroy();
      t.true(await until(() => seen.disconnects.length >= 40, 90_000), `disconnects: ${seen.disconnects.length}`);
      t.is(seen.server.connections.length, 0);
    } finally {
      t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT);
    }
  });

  test.serial(`${mode}: a huge line without a newline closes only that connection with MessageTooLargeError`, async (t) => {
    t.timeout(180_000);
    const seen = watch({
      isolation,
      handOffSockets,
      agents: { pool: 1 },
      maxLineLength: 1024,
    });
    try {
      const { port } = await seen.server.listen(0, '127.0.0.1');
      const other = await LineClient.connect(port);
      const flooder = await LineClient.connect(port);
      await info(flooder);
      await info(other);
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let writes = 0;
      flooder.socket.on('error', () => undefined);
      // Keep writing until the server cuts us off (or 64 MiB: it did not).
      while (!flooder.socket.destroyed && writes < 1024) {
        if (!flooder.socket.write(chunk, () => undefined)) await Promise.race([once(flooder.socket, 'drain').catch(() => undefined), flooder.closed]);
        writes++;
      }
      t.not(await bounded(flooder.closed, 60_000), TIMED_OUT);
      t.true(writes < 1024, 'the flooder was cut off');
      t.true(await until(() => seen.errors.some(({ error }) => error.name === 'MessageTooLargeError'), 60_000));
      other.send('ECHO still');
      t.is(await bounded(other.next(), 60_000), 'still');
      other.socket.destroy();
    } finally {
      t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Supervision bookkeeping.

for (const isolation of ['thread', 'process'] as const) {
  test.serial(`${isolation}: a hung pool agent is reported once as agentRestart even when connections arrive while it is being stopped`, async (t) => {
    t.timeout(180_000);
    const seen = watch({ isolation, agents: { pool: 1 }, timeoutMs: 1500 });
    const clients: LineClient[] = [];
    try {
      const { port } = await seen.server.listen(0, '127.0.0.1');
      const x = await LineClient.connect(port);
      clients.push(x);
      const hung = await info(x);
      x.send('HANG');
      await bounded(seen.node.waitFor('hanging'), 60_000);
      // Another connection of the same agent: its delivery times out, the probe fails, the
      // agent is stopped. Meanwhile peers keep arriving, some while it is being stopped.
      const y = await LineClient.connect(port);
      clients.push(y);
      y.send('ECHO y');
      let stop = false;
      const arrivals = (async () => {
        while (!stop) {
          const socket = net.connect({ port, host: '127.0.0.1' });
          socket.on('error', () => undefined);
          clients.push({ socket } as LineClient);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();
      try {
        // Until the agent was found stuck (a connection lost as unresponsive, or the restart).
        await until(
          () =>
            seen.restarts.length >= 1 || seen.disconnects.some(({ reason }) => reason?.name === 'AgentUnresponsiveError') || seen.errors.some(({ error }) => error.name === 'AgentUnresponsiveError'),
          60_000,
        );
        await new Promise((resolve) => setTimeout(resolve, 300));
      } finally {
        stop = true;
        await arrivals;
      }
      t.true(await until(() => seen.restarts.length >= 1, 20_000), `agentRestart reported (errors: ${seen.errors.map(({ error }) => error.name).join(', ')})`);
      t.is(seen.restarts[0]?.agent, hung?.agent ?? 'unknown');
      t.is(seen.restarts[0]?.reason.name, 'AgentUnresponsiveError');
      t.is(seen.restarts[0]?.failures, 1);
    } finally {
      for (const client of clients) client.socket.destroy();
      t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT);
    }
  });
}

test.serial('many connections arriving at once with per-connection agents raise no MaxListenersExceededWarning', async (t) => {
  t.timeout(180_000);
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  const seen = watch({ isolation: 'thread' });
  try {
    const { port } = await seen.server.listen(0, '127.0.0.1');
    const clients = await Promise.all(Array.from({ length: 14 }, () => LineClient.connect(port)));
    t.deepEqual(await echoEach(clients), clients.map((_, i) => String(i)));
    for (const client of clients) client.socket.destroy();
  } finally {
    t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT);
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
  }
  t.deepEqual(
    warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning').map((warning) => warning.message),
    [],
  );
});

test.serial('a pool whose protocol module cannot load: listen() rejects, close() settles, no agent is left', async (t) => {
  t.timeout(120_000);
  for (const isolation of ['thread', 'process'] as const) {
    const seen = watch({ isolation, agent: crashOnStart, agents: { pool: 2 } });
    const listened = await bounded(outcome(seen.server.listen(0, '127.0.0.1')), 60_000);
    t.not(listened, TIMED_OUT);
    t.false((listened as { ok: boolean }).ok, `${isolation}: listen() rejects`);
    t.is(seen.server.addresses.length, 0);
    t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT);
  }
});

test.serial('per-connection agents stuck starting, or stuck in connectionMade with a handed-off socket: close() settles and the peers are closed', async (t) => {
  t.timeout(180_000);
  for (const [agent, isolation, handOffSockets, data] of [
    [neverReady, 'thread', false, undefined],
    [neverReady, 'process', true, undefined],
    [failingProtocol, 'process', true, { hangMade: true }],
    [failingProtocol, 'thread', false, { hangMade: true }],
  ] as const) {
    const seen = watch({ agent, isolation, handOffSockets, data });
    const { port } = await seen.server.listen(0, '127.0.0.1');
    const clients = await Promise.all([LineClient.connect(port), LineClient.connect(port)]);
    if (data) await bounded(seen.node.waitFor('made-hangs'), 60_000);
    t.not(await bounded(seen.server.close(), 60_000), TIMED_OUT, `${isolation} ${String(handOffSockets)}: close() settles`);
    for (const client of clients) t.not(await bounded(client.closed, 30_000), TIMED_OUT, 'the peer is closed');
  }
});
