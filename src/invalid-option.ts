/**
 * The `TypeError` for a bad option value, naming the option. Kept apart from
 * `errors.ts` because that module is re-exported whole by the public entry points, and
 * these helpers are internal: option validation is not part of the API.
 */

/** The stable `code` of every `TypeError` agent-ipc throws for a bad argument or option. */
export const INVALID_ARGUMENT = 'ERR_AGENT_IPC_INVALID_ARGUMENT';

/**
 * A `TypeError` for a bad argument: `message` (prefixed `[agent-ipc] ` here) says which
 * argument and why; `code` is {@link INVALID_ARGUMENT}, as for every such error.
 */
export function invalidArgument(message: string, options?: ErrorOptions): TypeError & { code: string } {
  // The same prefix as every agent-ipc error (see errors.ts).
  const error = new TypeError(`[agent-ipc] ${message}`, options) as TypeError & { code: string };
  error.code = INVALID_ARGUMENT;
  return error;
}

/**
 * Builds a `TypeError` for a bad option value, naming the option, what it must be and
 * what it got (without printing the value of an object, which may be large or hostile).
 */
export function invalidOption(option: string, expected: string, got: unknown): TypeError {
  const shown = typeof got === 'string' ? JSON.stringify(got) : typeof got === 'object' ? (got === null ? 'null' : isArray(got) ? 'an array' : 'an object') : String(got);
  return invalidArgument(`option '${option}' must be ${expected}, got ${shown}`);
}

/** `Array.isArray`, false where it throws (a revoked proxy). */
function isArray(value: object): boolean {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}
