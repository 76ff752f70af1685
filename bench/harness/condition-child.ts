/**
 * Entry of the child process a condition's cases run in (see condition-runner.ts).
 * It gets `{ body, context }` over the IPC channel, runs the body module's default
 * export, sends back `{ result, facts }` or `{ error }`, and exits. If the parent
 * disappears (the channel closes), the child exits too: nothing is left running.
 */
import os from 'node:os';
import type { ConditionContext, ConditionFacts } from './condition.ts';
import { clearProgress, setProgressSuite } from './report.ts';
import type { SuiteResult } from './suite.ts';

export interface ChildRequest {
  body: string;
  context: ConditionContext;
}

export type ChildReply = { result: SuiteResult; facts: ConditionFacts } | { error: string };

export type ConditionBody = (context: ConditionContext) => Promise<SuiteResult>;

function send(reply: ChildReply): Promise<void> {
  return new Promise((resolve) => process.send!(reply, () => resolve()));
}

process.on('disconnect', () => process.exit(1));
process.once('message', (request: ChildRequest) => {
  void (async () => {
    let reply: ChildReply;
    try {
      setProgressSuite(`load-${request.context.condition.key}`);
      const mod = (await import(request.body)) as { default: ConditionBody };
      const result = await mod.default(request.context);
      reply = { result, facts: { cpusSeen: os.availableParallelism() } };
    } catch (error) {
      reply = { error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    }
    clearProgress();
    await send(reply);
    // Every fixture was stopped by the body; exit rather than wait on a stray handle.
    process.exit(0);
  })();
});
