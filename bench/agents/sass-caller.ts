/**
 * Agent for the real-code table: compiles the Sass workload (bench/realcode/sass-job.ts)
 * with its hooks answered by the node through `main.blocking`.
 */
import * as sass from 'sass';
import { defineAgent, type MainHandle } from '../../src/agent.ts';
import { runSassJob, type SassHost, type SassRun } from '../realcode/sass-job.ts';

export default defineAgent((main: MainHandle<SassHost>) => ({
  compile(): SassRun {
    return runSassJob(sass, { token: (name) => main.blocking.token(name), load: (url) => main.blocking.load(url) });
  },
}));
