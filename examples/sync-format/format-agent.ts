/**
 * The agent of the sync-format example: prettier 3, whose `format` is async, running in
 * its own worker thread. The node's synchronous code calls it with `agent.blocking`.
 */
import * as prettier from 'prettier';
import { defineAgent, type MainHandle } from 'agent-ipc/agent';
import type { NodeApi } from './check-formatting.ts';

export default defineAgent((main: MainHandle<NodeApi>) => ({
  /** Formats `source` as prettier would the file `filepath`, with the node's options. */
  async format(source: string, filepath: string): Promise<string> {
    // A call-back while the node is parked in `agent.blocking.format`: the node serves it
    // inside its wait because its handler is synchronous.
    const options = main.blocking.optionsFor(filepath);
    return prettier.format(source, { ...options, filepath });
  },
}));
