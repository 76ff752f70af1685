/**
 * Worker side of the synckit baseline: the same work the other contenders do (`add`,
 * and `bytes` answering a prepared payload), plus `exit`, because synckit has no API
 * to stop its worker and the bench must end every worker it starts.
 */
import { runAsWorker } from 'synckit';
import { makePayload } from './blocking-target.ts';
import type { SynckitRequest } from './synckit.ts';

const payloads = new Map<number, Uint8Array>();

runAsWorker((request: SynckitRequest): number | Uint8Array => {
  switch (request.op) {
    case 'add':
      return request.a + request.b;
    case 'bytes': {
      let payload = payloads.get(request.size);
      if (payload === undefined) {
        payload = makePayload(request.size);
        payloads.set(request.size, payload);
      }
      return payload;
    }
    case 'exit':
      // Answer first (synckit's caller is blocked waiting for it), then end the thread.
      setImmediate(() => process.exit(0));
      return 0;
  }
});
