/**
 * The child of the fork-ipc baseline: answers `add` requests from the parent, and on
 * `burst` makes calls to the parent one after another (each waits for its answer: the
 * nearest a forked child gets to a blocking call) and reports the nanoseconds spent.
 */
import type { ForkMessage } from './fork-ipc.ts';

const send = (message: ForkMessage): void => {
  process.send!(message);
};

let nextAsk = 0;
const asks = new Map<number, (value: number) => void>();

function ask(a: number, b: number): Promise<number> {
  const id = ++nextAsk;
  return new Promise((resolve) => {
    asks.set(id, resolve);
    send({ op: 'ask', id, a, b });
  });
}

async function burst(id: number, calls: number): Promise<void> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    if ((await ask(i, 1)) !== i + 1) throw new Error(`fork-ipc: wrong answer for add(${i}, 1)`);
  }
  send({ op: 'result', id, value: Number(process.hrtime.bigint() - start) });
}

process.on('message', (message: ForkMessage) => {
  switch (message.op) {
    case 'add':
      send({ op: 'result', id: message.id, value: message.a + message.b });
      break;
    case 'reply':
      asks.get(message.id)?.(message.value);
      asks.delete(message.id);
      break;
    case 'burst':
      void burst(message.id, message.calls);
      break;
  }
});
send({ op: 'ready' });
