/**
 * A blocking request's ordering fence is the caller's word: the id of its last async
 * request, which the node must start first. A hostile agent writes ids it never sends,
 * so the wait lasts as long as the connection; each wait held the request's payload (up
 * to maxMessageBytes). These tests drive the node's servers in this process — the
 * mailbox server (a thread agent's) and the blocking-socket server (a process agent's) —
 * against a real IpcConnection, playing the hostile caller: request, give up (timeout),
 * request again with another far fence. The node must keep at most one wait per server,
 * drop the payload of a request its caller gave up on, and still serve an honest fence.
 * Never timing: each step waits for the server's state or an answer.
 */
import { Duplex } from 'node:stream';
import test from 'ava';
import { ConnectionClosedError } from '../src/index.ts';
import { Phase, withdrawCall } from '../src/blocking/mailbox.ts';
import { MailboxServer } from '../src/blocking/server.ts';
import { ProcessBlockingServer } from '../src/blocking/process-server.ts';
import { FrameKind } from '../src/blocking/process-frames.ts';
import { encodeToNewBuffer } from '../src/blocking/value-codec.ts';
import { readFrames, requestFrame } from './helpers/blocking-frames.ts';
import { connectionPair, table } from './helpers/connection-pair.ts';
import { oneThreadMailbox } from './helpers/one-thread-mailbox.ts';

/** Requests the hostile caller makes, each with a fence never sent. */
const ROUNDS = 20;
/** Far ahead of anything sent, and within the id space: a valid id, waited for. */
const farFence = (round: number): number => 1000 + round;
const PAYLOAD = new Uint8Array(64 * 1024);

/** Lets the event loop turn until `done()` holds (no timer: turns, not time). */
async function turnsUntil(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setImmediate(resolve));
}

/** A forward mailbox played by this thread as the (hostile) agent. */
function hostileMailbox() {
  const box = oneThreadMailbox();
  return {
    ...box,
    /** Publishes request `seq` with `fence`, as the agent's caller would. */
    publish: (seq: number, fence: number, payload: unknown = [PAYLOAD]): void => box.publish(seq, 'x', payload, fence),
    answer: (): unknown => box.answer()[1],
  };
}

test('mailbox: requests with far fences, each given up on, leave one wait on the connection, and none of their payloads once given up on', async (t) => {
  const pair = connectionPair(new Map(), table({ x: () => 'async' }));
  const box = hostileMailbox();
  const served: unknown[] = [];
  const server = new MailboxServer(box.forward, box.serverPort, {
    dispatch: (_command, payload) => {
      served.push(payload);
      return 'blocking';
    },
    asyncCallsStarted: (fence, owner) => pair.b.whenIncomingStarted(fence, owner),
    maxMessageBytes: 1 << 20,
  });
  t.teardown(() => {
    server.close();
    box.close();
    pair.close();
  });
  server.start();
  for (let seq = 1; seq <= ROUNDS; seq++) {
    box.publish(seq, farFence(seq));
    // Claimed and waiting for its fence: SERVING, no handler run.
    await turnsUntil(() => box.phase() === Phase.SERVING);
    // The caller's timeout: it withdraws the call (SERVING → ABANDONED) and moves on.
    t.true(withdrawCall(box.header, seq));
  }
  t.true(pair.b.fenceWaitCount <= 1, `${pair.b.fenceWaitCount} waits on the connection after ${ROUNDS} requests given up on`);
  // The last one given up on, with no request after it: the server drops what it holds.
  await turnsUntil(() => !server.waitingForFence);
  t.deepEqual(served, [], 'no handler ran for a request given up on before its fence');

  // The honest path still holds: a fence of a request still on its way is waited for,
  // and the blocking call is served once that async call has started.
  box.publish(ROUNDS + 1, 1, ['honest']);
  await turnsUntil(() => box.phase() === Phase.SERVING);
  t.deepEqual(served, []);
  t.is(await pair.a.request('x', []), 'async');
  await turnsUntil(() => box.phase() === Phase.RESPONSE);
  t.is(box.answer(), 'blocking');
  t.deepEqual(served, [['honest']]);
  t.is(pair.b.fenceWaitCount, 0);
});

test('mailbox (parked node): looking at a request with a far fence again and again keeps one wait, and closing leaves no rejection unhandled', async (t) => {
  // The node parked in agent.blocking.x() looks at the agent's mailbox at every wake-up
  // (serveNow), and leaves a request whose async calls have not started for later. Each
  // look registered a wait nobody held: as many as the agent could ring the node awake,
  // each rejected unhandled when the connection closed (which ends a Node.js process).
  const pair = connectionPair(new Map(), new Map());
  const box = hostileMailbox();
  const dispatch = (): string => 'blocking';
  const server = new MailboxServer(box.forward, box.serverPort, {
    dispatch,
    asyncCallsStarted: (fence, owner) => pair.b.whenIncomingStarted(fence, owner),
    maxMessageBytes: 1 << 20,
  });
  t.teardown(() => {
    server.close();
    box.close();
  });
  box.publish(1, farFence(1));
  for (let look = 0; look < ROUNDS; look++) t.false(server.serveNow(dispatch), 'left for later');
  t.true(pair.b.fenceWaitCount <= 1, `${pair.b.fenceWaitCount} waits on the connection after ${ROUNDS} looks`);
  t.is(box.phase(), Phase.REQUEST);
  pair.close();
  // Rejections of the waits run in microtasks and the process's unhandled-rejection check
  // after them: a few turns of the event loop let ava see one if there is one.
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
});

/** A duplex standing for the node's end of a process agent's blocking socket: frames in, frames out. */
function blockingSocket() {
  const frames: Array<{ kind: number; seq: number; body: unknown }> = [];
  let changed = (): void => undefined;
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      frames.push(...readFrames(chunk));
      changed();
      callback();
    },
  });
  return {
    socket,
    frames,
    /** Sends request `seq` with `fence` and a timeout the node keeps. */
    request(seq: number, fence: number, timeoutMs: number, payload: unknown = [PAYLOAD]): void {
      socket.push(requestFrame(encodeToNewBuffer(['x', payload]), seq, FrameKind.REQUEST, undefined, fence, timeoutMs));
    },
    /** Resolves once a frame for `seq` was written. */
    answered(seq: number): Promise<{ kind: number; seq: number; body: unknown }> {
      return new Promise((resolve) => {
        const check = (): void => {
          const frame = frames.find((f) => f.seq === seq);
          if (frame) resolve(frame);
        };
        changed = check;
        check();
      });
    },
  };
}

test('process: requests with far fences, each timed out by the node, leave one wait on the connection, and none of their payloads', async (t) => {
  const pair = connectionPair(new Map(), table({ x: () => 'async' }));
  const peer = blockingSocket();
  const served: unknown[] = [];
  const broken: Error[] = [];
  const server = new ProcessBlockingServer(peer.socket, {
    dispatch: (_command, payload) => {
      served.push(payload);
      return 'blocking';
    },
    asyncCallsStarted: (fence, owner) => pair.b.whenIncomingStarted(fence, owner),
    maxMessageBytes: 1 << 20,
    onBroken: (error) => broken.push(error),
  });
  t.teardown(() => {
    server.close();
    pair.close();
  });
  for (let seq = 1; seq <= ROUNDS; seq++) {
    // The node keeps the timeout (1 ms): it answers TIMEOUT, and the agent may send its next request.
    peer.request(seq, farFence(seq), 1);
    t.is((await peer.answered(seq)).kind, FrameKind.TIMEOUT);
    t.false(server.waitingForFence, 'the timed-out request is dropped, with its payload');
  }
  t.true(pair.b.fenceWaitCount <= 1, `${pair.b.fenceWaitCount} waits on the connection after ${ROUNDS} requests timed out`);
  t.deepEqual(served, []);
  t.deepEqual(broken, []);

  // The honest path still holds: served once the async call it names has started.
  peer.request(ROUNDS + 1, 1, 0, ['honest']);
  t.is(await pair.a.request('x', []), 'async');
  const answer = await peer.answered(ROUNDS + 1);
  t.is(answer.kind, FrameKind.ANSWER);
  t.is(answer.body, 'blocking');
  t.deepEqual(served, [['honest']]);
  t.is(pair.b.fenceWaitCount, 0);
});

test('process: a request waiting for its fence when the connection closes is answered with the close reason', async (t) => {
  const pair = connectionPair(new Map(), new Map());
  const peer = blockingSocket();
  const server = new ProcessBlockingServer(peer.socket, {
    dispatch: () => 'blocking',
    asyncCallsStarted: (fence, owner) => pair.b.whenIncomingStarted(fence, owner),
    maxMessageBytes: 1 << 20,
    onBroken: () => undefined,
  });
  t.teardown(() => server.close());
  peer.request(1, farFence(1), 0);
  await turnsUntil(() => pair.b.fenceWaitCount === 1);
  pair.close();
  const answer = await peer.answered(1);
  t.is(answer.kind, FrameKind.ERROR);
  t.is((answer.body as { name?: string }).name, ConnectionClosedError.name);
});
