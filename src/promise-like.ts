/**
 * Telling a promise (or any thenable) from a plain value without awaiting it: handlers
 * and protocol methods may answer either way, and a synchronous answer stays synchronous.
 *
 * The value is user data and may be hostile: a revoked `Proxy`, a `then` getter that
 * throws. Asking must not run its code, so a proxy is never a thenable here and `then`
 * counts only as a data property (own or inherited); a native promise is recognised
 * by V8, not by its properties.
 */
import { types } from 'node:util';
import { dataOnChain } from './safe-read.ts';

/** True for a promise or thenable: a handler or protocol method that did not finish synchronously. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  if (value === null || typeof value !== 'object') return false;
  if (types.isPromise(value)) return true;
  if (types.isProxy(value)) return false;
  return typeof dataOnChain(value, 'then') === 'function';
}
