/**
 * Telling a promise (or any thenable) from a plain value without awaiting it: handlers
 * and protocol methods may answer either way, and a synchronous answer stays synchronous.
 */

/** True for a promise or thenable: a handler or protocol method that did not finish synchronously. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}
