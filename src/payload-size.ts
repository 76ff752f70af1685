/**
 * A cheap lower bound of how many bytes a payload takes on the wire, for
 * `maxMessageBytes` on paths that do not serialize themselves (structured clone between
 * threads). It counts what makes messages big in practice — byte arrays, array buffers
 * and strings — at the top of the payload and one level into arrays and plain objects.
 * Measuring every value exactly would cost a serialization per call; this costs a
 * couple of type checks for a typical `[hash, height]`.
 *
 * The payload is this side's own value on its way out, and may be hostile all the
 * same: a getter that throws, a revoked `Proxy`. Measuring reads it as structured
 * clone is about to, and whatever it throws makes the estimate 0: the transport then
 * refuses the value for that call alone (`DataCloneError`).
 */

import type { WireError } from './error-codec.ts';
import { MessageTooLargeError } from './errors.ts';

/** Elements looked at per container; beyond, a payload counts as what was seen. */
const SCAN_LIMIT = 64;

function leafBytes(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return value.byteLength;
  return 0;
}

/** A lower bound of the encoded size of `value`, in bytes; never throws. */
export function payloadBytes(value: unknown): number {
  try {
    return measure(value);
  } catch {
    return 0;
  }
}

function measure(value: unknown): number {
  const direct = leafBytes(value);
  if (direct > 0 || value === null || typeof value !== 'object') return direct;
  let total = 0;
  if (Array.isArray(value)) {
    const n = Math.min(value.length, SCAN_LIMIT);
    for (let i = 0; i < n; i++) {
      const item: unknown = value[i];
      total += leafBytes(item);
      if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item)) total += shallowBytes(item);
    }
    return total;
  }
  return shallowBytes(value);
}

function shallowBytes(container: object): number {
  let total = 0;
  let seen = 0;
  if (Array.isArray(container)) {
    for (const item of container) {
      total += leafBytes(item);
      if (++seen >= SCAN_LIMIT) break;
    }
    return total;
  }
  if (Object.getPrototypeOf(container) !== Object.prototype) return 0;
  for (const key in container) {
    total += leafBytes((container as Record<string, unknown>)[key]);
    if (++seen >= SCAN_LIMIT) break;
  }
  return total;
}

/**
 * A lower bound of the encoded size of an error on its way out (`serializeError`'s
 * record), for `maxMessageBytes` on the same paths as {@link payloadBytes}: its strings,
 * what its own properties and non-error causes hold (measured as payloads), and the same
 * for its causes and aggregated errors. The record is this side's own and bounded
 * (`serializeError` keeps at most 64 errors, 64 properties each), so the walk is too.
 */
export function wireErrorBytes(wire: WireError | { value: unknown }): number {
  if (!('name' in wire)) return payloadBytes(wire.value);
  let total = wire.name.length + wire.message.length + (wire.stack?.length ?? 0) + (wire.code?.length ?? 0);
  if (wire.props) total += payloadBytes(wire.props);
  if (wire.cause) total += wireErrorBytes(wire.cause);
  if (wire.errors) for (const entry of wire.errors) total += wireErrorBytes(entry);
  return total;
}

/**
 * The `MessageTooLargeError` that replaces error `wire` (`serializeError`'s record) when
 * {@link wireErrorBytes} finds it over `limit`, or `undefined`; `what` names it in the
 * message. The one test every path that sends an error makes against `maxMessageBytes`.
 */
export function wireErrorTooLarge(wire: WireError, limit: number, what: string): MessageTooLargeError | undefined {
  const size = wireErrorBytes(wire);
  return size > limit ? new MessageTooLargeError(what, size, limit) : undefined;
}
