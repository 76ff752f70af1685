/**
 * Worker side of the synckit baseline: the same work the other contenders do (`add`,
 * `bytes` answering a prepared payload, `text` a prepared string), plus `exit`, because synckit has no API
 * to stop its worker and the bench must end every worker it starts.
 */
import { runAsWorker } from 'synckit';
import { makeText } from '../load/payloads.ts';
import { makePayload } from './blocking-target.ts';
import type { SynckitRequest } from './synckit.ts';

const payloads = new Map<number, Uint8Array>();

runAsWorker((request: SynckitRequest): number | Uint8Array | string => {
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
    case 'text':
      return makeText(request.size);
    case 'exit':
      // Answer first (synckit's caller is blocked waiting for it), then end the thread.
      setImmediate(() => process.exit(0));
      return 0;
  }
});
