/**
 * A lint-rule-like check, synchronous from top to bottom, as ESLint rules and many
 * build-tool plugin hooks must be: "is this file formatted the way prettier would?".
 * prettier 3's `format` is async, so it runs in an agent thread, started synchronously
 * with `spawnAgentSync` the first time a file is checked and called with
 * `agent.blocking.format(...)`, which parks this thread until the answer is there.
 */
import { spawnAgentSync, type Agent } from 'agent-ipc';
import type FormatAgent from './format-agent.ts';

/** prettier options this example sets; everything else is prettier's default. */
export interface FormatOptions {
  printWidth: number;
  singleQuote: boolean;
  semi: boolean;
}

/** What the node exposes to the agent; synchronous, so it is served while the node is parked. */
export interface NodeApi {
  optionsFor(filepath: string): FormatOptions;
}

/** One finding, as a lint rule would report it. */
export interface Finding {
  file: string;
  /** `formatted`: nothing to report; `unformatted`: prettier would change it; `error`: it cannot be parsed. */
  status: 'formatted' | 'unformatted' | 'error';
  /** First line (1-based) that prettier would change, or the parser's message. */
  detail?: string;
}

const config: NodeApi = {
  optionsFor: (filepath) => ({ printWidth: 80, singleQuote: true, semi: !filepath.endsWith('.nosemi.js') }),
};

let formatter: Agent<typeof FormatAgent> | undefined;

function agent(): Agent<typeof FormatAgent> {
  // A thread agent, ready when this returns. timeoutMs bounds every blocking call: a
  // stuck format throws TimeoutError instead of hanging the lint run.
  formatter ??= spawnAgentSync<typeof FormatAgent, NodeApi>(new URL('./format-agent.ts', import.meta.url), {
    name: 'prettier',
    expose: config,
    timeoutMs: 10_000,
  });
  return formatter;
}

function firstDifference(a: string, b: string): number {
  const left = a.split('\n');
  const right = b.split('\n');
  let line = 0;
  while (line < left.length && left[line] === right[line]) line++;
  return line + 1;
}

/** Checks one file. Synchronous: no promise, no callback. */
export function checkFormatting(file: string, source: string): Finding {
  let formatted: string;
  try {
    formatted = agent().blocking.format(source, file);
  } catch (error) {
    // The agent's error arrives with its class and message: prettier's SyntaxError here.
    if (error instanceof SyntaxError) return { file, status: 'error', detail: error.message.split('\n')[0] };
    throw error;
  }
  if (formatted === source) return { file, status: 'formatted' };
  return { file, status: 'unformatted', detail: `line ${firstDifference(source, formatted)}` };
}

/** Ends the agent's thread; call it once the checks are done. */
export async function closeFormatter(): Promise<void> {
  await formatter?.close();
  formatter = undefined;
}
