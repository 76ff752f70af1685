/**
 * The `TypeError` for a bad option value, naming the option. Kept apart from
 * `errors.ts` because that module is re-exported whole by the public entry points, and
 * this helper is internal: option validation is not part of the API.
 */

/**
 * Builds a `TypeError` for a bad option value, naming the option, what it must be and
 * what it got (without printing the value of an object, which may be large or hostile).
 */
export function invalidOption(option: string, expected: string, got: unknown): TypeError {
  const shown = typeof got === 'string' ? JSON.stringify(got) : typeof got === 'object' ? (got === null ? 'null' : 'an object') : String(got);
  // The same prefix as every agent-ipc error (see errors.ts).
  return new TypeError(`[agent-ipc] option '${option}' must be ${expected}, got ${shown}`);
}
