/**
 * The string payload of the payload tables, beside `makePayload` for bytes
 * (bench/baselines/blocking-target.ts). ASCII text, as most strings an agent fetches
 * are (JSON, markup, source); every contender serves the same and every caller
 * spot-checks it, so a contender returning the wrong text cannot look fast.
 */

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.;:{}[]"';

const cache = new Map<number, string>();

/** A string of `size` characters (= `size` bytes in UTF-8). */
export function makeText(size: number): string {
  let text = cache.get(size);
  if (text === undefined) {
    const chars: string[] = [];
    for (let i = 0; i < size; i++) chars.push(ALPHABET[(i * 7) % ALPHABET.length]);
    text = chars.join('');
    cache.set(size, text);
  }
  return text;
}

/** Cheap check of a received string: its length and two of its characters. */
export function isText(value: unknown, size: number): boolean {
  if (typeof value !== 'string' || value.length !== size) return false;
  const mid = size >> 1;
  return value[mid] === ALPHABET[(mid * 7) % ALPHABET.length] && value[size - 1] === ALPHABET[((size - 1) * 7) % ALPHABET.length];
}
