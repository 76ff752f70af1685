/**
 * Containment over real TCP: a protocol that throws, an agent that dies, an agent
 * module that is not a line protocol or cannot start, a protocol that takes too long.
 * Each closes the connection(s) it concerns — with a reason — and nothing else.
 */
import test from 'ava';
import { AgentExitedError, TimeoutError } from '../src/index.ts';
import { createLineServer, type LineConnectionInfo, type LineServer, type LineServerOptions } from '../src/lines/index.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { availableIsolations, LineClient, TestNode, testProtocol } from './fixtures/lines/line-client.ts';

const isolations = await availableIsolations();
/** Isolations where an agent can die without taking the node with it. */
const separate = isolations.filter((isolation) => isolation !== 'inline');

interface Seen {
  server: LineServer;
  node: TestNode;
  port: number;
  errors: Array<{ error: Error; connection: LineConnectionInfo | undefined }>;
  disconnects: Array<{ info: LineConnectionInfo; reason: Error | undefined }>;
  /** Resolves once `n` disconnect events were seen. */
  disconnected(n: number): Promise<void>;
  /** Resolves once `n` error events were seen. */
  failed(n: number): Promise<void>;
}

async function withServer(options: Partial<LineServerOptions<TestNodeApi>>, body: (seen: Seen) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer({ agent: testProtocol, expose: node.api, ...options });
  const waiting: Array<() => void> = [];
  const notify = (): void => {
    for (const check of [...waiting]) check();
  };
  const until = (done: () => boolean): Promise<void> =>
    done()
      ? Promise.resolve()
      : new Promise((resolve) => {
          const check = (): void => {
            if (!done()) return;
            waiting.splice(waiting.indexOf(check), 1);
            resolve();
          };
          waiting.push(check);
        });
  const seen: Seen = {
    server,
    node,
    port: 0,
    errors: [],
    disconnects: [],
    disconnected: (n) => until(() => seen.disconnects.length >= n),
    failed: (n) => until(() => seen.errors.length >= n),
  };
  server.on('error', (error, connection) => {
    seen.errors.push({ error, connection });
    notify();
  });
  server.on('disconnect', (info, reason) => {
    seen.disconnects.push({ info, reason });
    notify();
  });
  try {
    seen.port = (await server.listen(0, '127.0.0.1')).port;
    await body(seen);
  } finally {
    await server.close();
  }
}

for (const isolation of isolations) {
  test(`${isolation}: a protocol that throws closes its connection with that error; others go on`, async (t) => {
    await withServer({ isolation }, async ({ port, node, errors, disconnects, disconnected }) => {
      const bystander = await LineClient.connect(port);
      const offender = await LineClient.connect(port);
      offender.send('ECHO first');
      offender.send('THROW broken');
      offender.send('ECHO never');
      t.deepEqual(await offender.rest(), ['first']);
      await disconnected(1);
      t.true(disconnects[0]!.reason instanceof RangeError);
      t.is(disconnects[0]!.reason!.message, 'broken');
      t.is(errors.length, 1);
      t.is(errors[0]!.error, disconnects[0]!.reason!);
      t.deepEqual((await node.waitFor('lost')).detail, { name: 'RangeError', message: 'broken' });
      bystander.send('ECHO fine');
      t.is(await bystander.next(), 'fine');
      await bystander.close();
    });
  });

  test(`${isolation}: a connectionMade that throws rejects connect() and closes the connection`, async (t) => {
    await withServer({ isolation }, async ({ port: remotePort }) => {
      const node = new TestNode();
      const dialer = createLineServer({ agent: testProtocol, expose: node.api, isolation, data: { failMade: true } });
      const events: string[] = [];
      dialer.on('connect', () => events.push('connect'));
      dialer.on('disconnect', () => events.push('disconnect'));
      dialer.on('error', (error) => events.push(`error ${error.name}`));
      try {
        await t.throwsAsync(dialer.connect(remotePort, '127.0.0.1'), { instanceOf: RangeError, message: 'connectionMade failed on purpose' });
        // The protocol object exists, so its connectionLost still runs, with the error.
        t.deepEqual((await node.waitFor('lost')).detail, { name: 'RangeError', message: 'connectionMade failed on purpose' });
        t.deepEqual(dialer.connections, []);
      } finally {
        await dialer.close();
      }
      t.deepEqual(events, ['error RangeError'], 'never live: no connect or disconnect event');
    });
  });

  test(`${isolation}: an agent module that is not a line protocol is a clear error`, async (t) => {
    await withServer({ isolation, agent: new URL('./fixtures/echo-agent.ts', import.meta.url) }, async ({ port, errors, failed }) => {
      const c = await LineClient.connect(port);
      t.deepEqual(await c.rest(), []);
      await failed(1);
      t.true(errors[0]!.error instanceof TypeError);
      t.regex(errors[0]!.error.message, /is not a line protocol: export default defineLineProtocol/);
    });
  });

  test(`${isolation}: a protocol slower than timeoutMs closes its connection with TimeoutError`, async (t) => {
    // Generous, so that a loaded machine does not time out the start-up or the quick
    // line (2 s did, for an inline agent, under a load average of 20–40); the slow line
    // never finishes until the test lets it.
    await withServer({ isolation, timeoutMs: 5_000 }, async ({ port, node, disconnects, disconnected }) => {
      const c = await LineClient.connect(port);
      c.send('ECHO quick');
      t.is(await c.next(), 'quick');
      c.send('GATE never');
      t.deepEqual(await c.rest(), []);
      await disconnected(1);
      t.true(disconnects[0]!.reason instanceof TimeoutError);
      // Let the stuck line finish so that its agent can close gracefully.
      node.open('never');
    });
  });
}

for (const isolation of separate) {
  test(`${isolation}: an agent that dies closes its connection and nothing else`, async (t) => {
    await withServer({ isolation }, async ({ port, server, errors, disconnects, disconnected }) => {
      const bystander = await LineClient.connect(port);
      const victim = await LineClient.connect(port);
      victim.send('INFO');
      const { agent } = JSON.parse((await victim.next())!) as { agent: string };
      victim.send('CRASH');
      t.deepEqual(await victim.rest(), ['crashing']);
      await disconnected(1);
      t.true(disconnects[0]!.reason instanceof AgentExitedError);
      t.is(disconnects[0]!.info.agent, agent);
      t.true(errors.some(({ error }) => error instanceof AgentExitedError));
      t.regex(disconnects[0]!.reason!.message, new RegExp(`agent '${agent}' crashed`));

      bystander.send('ECHO alive');
      t.is(await bystander.next(), 'alive');
      t.is(server.connections.length, 1);
      // The server still accepts and serves new connections.
      const next = await LineClient.connect(port);
      next.send('ECHO new');
      t.is(await next.next(), 'new');
      await Promise.all([bystander.close(), next.close()]);
    });
  });

  test(`${isolation}: in a pool, a dead agent's other connections close with a reason and the agent is replaced`, async (t) => {
    await withServer({ isolation, agents: { pool: 1 } }, async ({ port, node, disconnects, disconnected }) => {
      const [a, b] = [await LineClient.connect(port), await LineClient.connect(port)];
      a.send('INFO');
      b.send('INFO');
      const [ia, ib] = [JSON.parse((await a.next())!), JSON.parse((await b.next())!)] as Array<{ agent: string }>;
      t.is(ia!.agent, ib!.agent, 'both on the one pooled agent');
      a.send('CRASH');
      t.deepEqual(await a.rest(), ['crashing']);
      t.deepEqual(await b.rest(), [], 'the other connection of that agent is closed too');
      await disconnected(2);
      t.true(disconnects.every(({ reason }) => reason instanceof AgentExitedError));
      t.is(node.of('lost').length, 0, 'a dead agent runs no connectionLost');

      const c = await LineClient.connect(port);
      c.send('INFO');
      const ic = JSON.parse((await c.next())!) as { agent: string };
      t.not(ic.agent, ia!.agent, 'served by the replacement');
      await c.close();
    });
  });
}

test('a pool whose agents cannot start makes listen() reject; the server stays closable', async (t) => {
  const server = createLineServer({ agent: new URL('./fixtures/throwing-factory-agent.ts', import.meta.url), isolation: 'thread', agents: { pool: 2 } });
  await t.throwsAsync(server.listen(0, '127.0.0.1'));
  t.deepEqual(server.addresses, []);
  await server.close();
});

test('per-connection agents that cannot start close each connection with the error', async (t) => {
  await withServer({ isolation: 'thread', agent: new URL('./fixtures/throwing-factory-agent.ts', import.meta.url) }, async ({ port, errors, failed }) => {
    const c = await LineClient.connect(port);
    t.deepEqual(await c.rest(), []);
    await failed(1);
    t.truthy(errors[0]!.error);
    t.is(errors[0]!.connection?.agent, undefined, 'no agent was ever assigned');
  });
});
