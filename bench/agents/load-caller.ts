/**
 * Agent for the load suites: runs one shared scenario (bench/load/scenario.ts) with
 * `main.blocking` as its synchronous client and returns the nanoseconds spent in the
 * calls. The same module runs as a thread agent and as a process agent.
 */
import { defineAgent, type MainHandle } from '../../src/agent.ts';
import type { LoadHostApi } from '../load/host.ts';
import { runScenario, type LoadScenario } from '../load/scenario.ts';

export default defineAgent((main: MainHandle<LoadHostApi>) => ({
  run(scenario: LoadScenario): number {
    return runScenario(main.blocking, scenario);
  },
}));
