/**
 * A load suite: one condition of issue 13 (bench/harness/condition.ts), its tables run
 * by bench/load/body.ts in a child process under that condition. The work gap is
 * calibrated here, on the bench's own process, before the condition's load starts.
 */
import { CONDITIONS, type ConditionKey } from '../harness/condition.ts';
import { runUnderCondition } from '../harness/condition-runner.ts';
import type { Suite } from '../harness/suite.ts';
import { calibrateWork } from './work.ts';

const body = new URL('./body.ts', import.meta.url);

export function loadSuite(key: ConditionKey): Suite {
  const condition = CONDITIONS[key];
  return {
    name: `load-${key}`,
    description: `blocking calls under load ${condition.label}: ${condition.title}`,
    async run() {
      const workPerUs = calibrateWork();
      const run = await runUnderCondition(condition, body, { condition, workPerUs });
      const facts = [`Condition ${condition.label}: ${condition.title}. The cases ran in a child process that saw ${run.facts.cpusSeen} CPU${run.facts.cpusSeen === 1 ? '' : 's'} (os.availableParallelism()).`];
      if (run.neighbourCpuSeconds !== undefined) {
        facts.push(`The neighbour process used ${run.neighbourCpuSeconds.toFixed(1)} s of CPU during the ${run.seconds.toFixed(1)} s the cases ran (${((100 * run.neighbourCpuSeconds) / run.seconds).toFixed(0)}% of one core), and was killed afterwards.`);
      }
      return { ...run.result, notes: [...facts, ...run.result.notes] };
    },
  };
}
