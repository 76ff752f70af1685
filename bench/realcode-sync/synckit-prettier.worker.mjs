// The synckit contender's worker: prettier's async `format`, as eslint-plugin-prettier
// runs it. Plain JavaScript, so synckit can start it without a TypeScript loader.
import process from 'node:process';
import { setImmediate } from 'node:timers';
import * as prettier from 'prettier';
import { runAsWorker } from 'synckit';

runAsWorker((request) => {
  if (request.op === 'exit') {
    // Answer first (the caller is blocked on it), then end the thread: synckit has no stop.
    setImmediate(() => process.exit(0));
    return '';
  }
  return prettier.format(request.source, request.options);
});
