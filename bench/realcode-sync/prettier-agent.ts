/** The agent-ipc contender's agent: prettier's async `format`, exposed as it is. */
import * as prettier from 'prettier';
import { defineAgent } from '../../src/agent.ts';

export default defineAgent(() => ({
  format(source: string, options: prettier.Options): Promise<string> {
    return prettier.format(source, options);
  },
}));
