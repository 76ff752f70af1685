/**
 * Back-pressure both ways, over real TCP:
 * - a protocol that falls behind makes the server pause reading that socket (and only
 *   that one), and resume once it caught up — no line lost or reordered;
 * - a socket whose write buffer is full makes `conn.writable` false until it drained,
 *   so a streaming protocol pauses, like a Twisted producer.
 * Pauses are observed by spying on the server-side sockets, never by timing.
 */
import test from 'ava';
import * as net from 'node:net';
import { createLineServer, type LineServerOptions } from '../src/lines/index.ts';
import type { TestNodeApi } from './fixtures/lines/test-protocol.ts';
import { availableIsolations, expectPausedStream, LineClient, TestNode, testProtocol } from './fixtures/lines/line-client.ts';

const isolations = await availableIsolations();

/** Records pause()/resume() calls on server-side sockets, keyed by their remote port. */
function spyOnSockets(): {
  calls: Array<[string, number | undefined]>;
  /** Remote ports of sockets whose write() returned false (buffer full). */
  fullWrites: Array<number | undefined>;
  /** Resolves once a socket's pause(), resume() or write() returned false ('full'). */
  waitFor(kind: 'pause' | 'resume' | 'full', port: number): Promise<void>;
  restore(): void;
} {
  const calls: Array<[string, number | undefined]> = [];
  const fullWrites: Array<number | undefined> = [];
  const waiters: Array<[string, number, () => void]> = [];
  const proto = net.Socket.prototype;
  const { pause, resume, write } = proto;
  const record = (kind: string, socket: net.Socket): void => {
    calls.push([kind, socket.remotePort]);
    for (const [k, port, resolve] of waiters) if (k === kind && port === socket.remotePort) resolve();
  };
  proto.pause = function (this: net.Socket) {
    record('pause', this);
    return pause.call(this);
  };
  proto.resume = function (this: net.Socket) {
    record('resume', this);
    return resume.call(this);
  };
  proto.write = function (this: net.Socket, ...args: unknown[]) {
    const ok = (write as (...a: unknown[]) => boolean).apply(this, args);
    if (!ok) {
      fullWrites.push(this.remotePort);
      record('full', this);
    }
    return ok;
  } as typeof write;
  return {
    calls,
    fullWrites,
    waitFor(kind, port) {
      if (calls.some(([k, p]) => k === kind && p === port)) return Promise.resolve();
      return new Promise((resolve) => waiters.push([kind, port, resolve]));
    },
    restore() {
      proto.pause = pause;
      proto.resume = resume;
      proto.write = write;
    },
  };
}

async function withServer(options: Partial<LineServerOptions<TestNodeApi>>, body: (port: number, node: TestNode) => Promise<void>): Promise<void> {
  const node = new TestNode();
  const server = createLineServer({ agent: testProtocol, expose: node.api, ...options });
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    await body(port, node);
  } finally {
    await server.close();
  }
}

const LINES = 3000;

for (const isolation of isolations) {
  test.serial(`${isolation}: a protocol that falls behind pauses reading of its socket only; nothing is lost`, async (t) => {
    const spy = spyOnSockets();
    try {
      await withServer({ isolation, highWaterMark: 16 }, async (port, node) => {
        const slow = await LineClient.connect(port);
        const other = await LineClient.connect(port);
        // The first line parks the protocol until the gate opens; the rest pile up.
        slow.send('GATE g');
        await node.waitFor('gated');
        let text = '';
        for (let i = 0; i < LINES; i++) text += `COUNT ${i}\r\n`;
        slow.write(text);
        await spy.waitFor('pause', slow.socket.localPort!);

        // The other connection is not paused and is served meanwhile.
        other.send('ECHO served');
        t.is(await other.next(), 'served');
        t.false(spy.calls.some(([kind, p]) => kind === 'pause' && p === other.socket.localPort));

        node.open('g');
        t.is(await slow.next(), 'opened g');
        await spy.waitFor('resume', slow.socket.localPort!);
        const counted = await node.waitFor('count', undefined, (e) => e.detail === String(LINES - 1));
        t.truthy(counted);
        t.deepEqual(
          node.of('count').map((e) => Number(e.detail)),
          Array.from({ length: LINES }, (_, i) => i),
          'every line delivered once, in order',
        );
        await Promise.all([slow.close(), other.close()]);
      });
    } finally {
      spy.restore();
    }
  });

  test.serial(`${isolation}: a full write buffer makes conn.writable false until it drains; the producer resumes`, async (t) => {
    const spy = spyOnSockets();
    try {
    await withServer({ isolation }, async (port, node) => {
      const c = await LineClient.connect(port);
      // Do not read: the server's socket buffers fill up.
      c.socket.pause();
      c.send('STREAM 60000 64');
      // The socket fills up (lines sent meanwhile pile up in its buffer, not lost) …
      await spy.waitFor('full', c.socket.localPort!);
      const unwritable = await node.waitFor('unwritable');
      t.true((unwritable.detail as number) > 0, 'the producer saw conn.writable false');
      // … and drains once the peer reads.
      c.socket.resume();
      await expectPausedStream(t, c);
      await c.close();
    });
    } finally {
      spy.restore();
    }
  });

  test.serial(`${isolation}: a peer that sends requests and never reads the replies is not read further once its write buffer is full`, async (t) => {
    t.timeout(60_000);
    const spy = spyOnSockets();
    try {
      // A queue bound far away: a pause here can only come from the full write buffer.
      await withServer({ isolation, highWaterMark: 1_000_000 }, async (port) => {
        const c = await LineClient.connect(port);
        // Never read the replies; send 64 MiB of requests, each answered with 1 KB.
        c.socket.pause();
        const line = `ECHO ${'y'.repeat(1000)}\r\n`;
        c.write(line.repeat(64 * 1024));
        await spy.waitFor('full', c.socket.localPort!);
        // The server stops reading the peer (it used to read on, answering every request
        // into a buffer that grew until the node ran out of memory).
        const paused = await Promise.race([spy.waitFor('pause', c.socket.localPort!).then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000))]);
        t.true(paused, 'the server paused reading the peer');
        c.socket.destroy();
      });
    } finally {
      spy.restore();
    }
  });
}
