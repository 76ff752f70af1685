/**
 * The soak's agent: each `work(n)` makes n calls into the node, alternating blocking and
 * async, and reports how they settled. It can also be told to crash.
 */
import { defineAgent, type MainHandle } from '../../src/agent.ts';

export interface SoakNodeApi {
  add(a: number, b: number): number;
  addLater(a: number, b: number): Promise<number>;
}

export default defineAgent((main: MainHandle<SoakNodeApi>) => ({
  ping: (n: number) => n,
  async work(n: number): Promise<{ ok: number; failed: number }> {
    let ok = 0;
    let failed = 0;
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        try {
          if (main.blocking.add(i, 1) === i + 1) ok++;
          else failed++;
        } catch {
          failed++;
        }
      } else {
        pending.push(main.async.addLater(i, 1).then((v) => (v === i + 1 ? ok++ : failed++), () => failed++));
      }
    }
    await Promise.all(pending);
    return { ok, failed };
  },
  crash(): string {
    setTimeout(() => {
      throw new Error('soak: deliberate crash');
    }, 1);
    return 'crashing';
  },
}));
