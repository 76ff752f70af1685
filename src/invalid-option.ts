/**
 * The `TypeError` for a bad argument or option value, naming it, and the checks that
 * every entry point shares (timeouts, option objects, command names). Kept apart from
 * `errors.ts` because that module is re-exported whole by the public entry points, and
 * these helpers are internal: option validation is not part of the API. Also kept free of
 * imports, so that the connection itself (which both sides of every isolation load) can
 * check a call's options here.
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

/**
 * The longest delay a Node.js timer holds: 2^31 - 1 ms, about 24.8 days. A longer one
 * is set to 1 ms (with a `TimeoutOverflowWarning`), so a timeout option above it would
 * fire at once; `0` is the way to ask for none.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Checks a timeout option: a number of ms from 0 to {@link MAX_TIMEOUT_MS}. */
export function checkMs(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMEOUT_MS) {
    throw invalidOption(option, `a non-negative number of milliseconds, at most ${MAX_TIMEOUT_MS} (0 for none)`, value);
  }
  return value;
}

/** Refuses an option `known` does not list, naming those it does. */
export function checkKnownOptions(options: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(options)) if (!known.includes(key)) throw invalidArgument(`unknown option '${key}' (known: ${known.join(', ')})`);
}

/**
 * Checks the options object of a method: `undefined` (none) or a plain object whose keys
 * `known` lists. A typo such as `{ timeout: 5 }` is refused rather than silently meaning
 * "no timeout".
 */
export function checkOptionsObject(options: unknown, known: readonly string[]): Record<string, unknown> | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object' || isArray(options)) throw invalidOption('options', 'an object', options);
  checkKnownOptions(options as Record<string, unknown>, known);
  return options as Record<string, unknown>;
}

/**
 * Checks the command of a byte-layer call: a string. Anything else would reach the other
 * side as a malformed frame, which it must treat as a protocol break (and end the
 * connection), so it is refused here, at the call site, as the caller's mistake.
 */
export function checkCommand(command: unknown): string {
  if (typeof command !== 'string') throw invalidArgument(`the command must be a string, got ${typeof command === 'object' ? (command === null ? 'null' : 'an object') : typeof command}`);
  return command;
}

/**
 * Checks the options of a blocking call (`BlockingCallOptions`, on either side): returns
 * its `timeoutMs`, or `undefined` when the call takes the agent's default.
 */
export function checkBlockingCallOptions(options: unknown): number | undefined {
  const checked = checkOptionsObject(options, ['timeoutMs']);
  return checked?.timeoutMs === undefined ? undefined : checkMs('timeoutMs', checked.timeoutMs);
}

/**
 * Checks the options of an async call (`CallOptions`: `timeoutMs` and `signal`). The
 * signal must be a real `AbortSignal`: anything else would fail only once the call is
 * pending, as an error nobody could catch.
 */
export function checkCallOptions(options: unknown): void {
  const checked = checkOptionsObject(options, ['timeoutMs', 'signal']);
  if (checked === undefined) return;
  if (checked.timeoutMs !== undefined) checkMs('timeoutMs', checked.timeoutMs);
  if (checked.signal !== undefined && !(checked.signal instanceof AbortSignal)) throw invalidOption('signal', 'an AbortSignal', checked.signal);
}
