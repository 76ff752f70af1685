/**
 * A cheap lower bound of how many bytes a payload takes on the wire, for
 * `maxMessageBytes` on paths that do not serialize themselves (structured clone between
 * threads). It counts what makes messages big in practice — byte arrays, array buffers
 * and strings — at the top of the payload and one level into arrays and plain objects.
 * Measuring every value exactly would cost a serialization per call; this costs a
 * couple of type checks for a typical `[hash, height]`.
 *
 * The payload is user data and may be hostile: a getter that throws, a (revoked)
 * `Proxy`. Only own data properties are read and proxies count as nothing, so
 * measuring never runs user code and never throws; whatever cannot be sent is then
 * refused by the transport, for that call alone.
 */
import { types } from 'node:util';

/** Elements looked at per container; beyond, a payload counts as what was seen. */
const SCAN_LIMIT = 64;

function leafBytes(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object' || types.isProxy(value)) return 0;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (types.isAnyArrayBuffer(value)) return value.byteLength;
  return 0;
}

/** A lower bound of the encoded size of `value`, in bytes. */
export function payloadBytes(value: unknown): number {
  const direct = leafBytes(value);
  if (direct > 0 || value === null || typeof value !== 'object' || types.isProxy(value)) return direct;
  let total = 0;
  if (Array.isArray(value)) {
    const n = Math.min(value.length, SCAN_LIMIT);
    for (let i = 0; i < n; i++) {
      const item = dataAt(value, i);
      total += leafBytes(item);
      if (item !== null && typeof item === 'object' && !types.isProxy(item) && !ArrayBuffer.isView(item)) total += shallowBytes(item);
    }
    return total;
  }
  return shallowBytes(value);
}

function shallowBytes(container: object): number {
  let total = 0;
  let seen = 0;
  if (Array.isArray(container)) {
    const n = Math.min(container.length, SCAN_LIMIT);
    for (let i = 0; i < n; i++) total += leafBytes(dataAt(container, i));
    return total;
  }
  if (Object.getPrototypeOf(container) !== Object.prototype) return 0;
  for (const key of Object.keys(container)) {
    total += leafBytes(dataAt(container, key));
    if (++seen >= SCAN_LIMIT) break;
  }
  return total;
}

/** Own data property `key` of `container` (not a proxy); undefined for an accessor, so no getter runs. */
function dataAt(container: object, key: string | number): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(container, key);
  return descriptor !== undefined && 'value' in descriptor ? descriptor.value : undefined;
}
