/**
 * The environment of a sandboxed agent: exactly what the node passes in
 * `sandbox.env`, none of the node's own variables (tokens, credentials, proxies,
 * `NODE_OPTIONS`, `NODE_PATH` …). Node.js itself needs no variable to start.
 */
import type { ResolvedSandbox } from './sandbox-options.ts';

/** Variables Windows needs to start a process at all (sockets and crypto fail without them). */
const WINDOWS_NEEDS = ['SystemRoot'];

/** The agent's whole `process.env`. */
export function sandboxEnv(sandbox: ResolvedSandbox): Record<string, string> {
  const env: Record<string, string> = {};
  if (process.platform === 'win32') {
    for (const name of WINDOWS_NEEDS) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
  }
  return Object.assign(env, sandbox.env);
}
