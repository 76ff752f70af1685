/**
 * Telling a promise (or any thenable) from a plain value without awaiting it: handlers
 * and protocol methods may answer either way, and a synchronous answer stays synchronous.
 *
 * The value may be hostile: a revoked `Proxy`, a `then` getter that throws. Its `then`
 * is read as `await` would read it; if that throws, the value counts as not thenable
 * (and then fails to be sent, for that call alone), so asking never throws.
 */

/** True for a promise or thenable: a handler or protocol method that did not finish synchronously. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  if (value === null || typeof value !== 'object') return false;
  try {
    return typeof (value as PromiseLike<unknown>).then === 'function';
  } catch {
    return false;
  }
}
