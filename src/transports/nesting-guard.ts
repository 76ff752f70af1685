/**
 * The agent's side of a thread or process connection: a batch nested deeper than the
 * node's thread can rebuild is refused before it is sent, so that the value fails alone.
 *
 * Why here: a value is rebuilt on the receiving thread by a recursive deserializer, so its
 * nesting is bounded by the *receiver's* stack. An agent's worker thread has 4 MB of it,
 * the node's main thread about 1 MB: a plain linked list a few thousand nodes deep, which
 * the agent sends without complaint, cannot be rebuilt on the node. The node then cannot
 * read the batch at all, and cannot tell which calls it held, so it closes the connection
 * (`PortTransport`'s `messageerror`, `stream-frames.ts` for process agents) — every call
 * of the agent fails, for one value. Refused before it is sent (the agent's connection
 * has `maxSentDepth`), the batch goes again frame by frame (`resendOneByOne`): the one
 * call whose value is too deep fails with `DataCloneError`, and the others go through.
 *
 * The walk is the shape structured clone and `v8.serialize` recurse into: arrays, Maps,
 * Sets and other objects' own enumerable properties; byte arrays, buffers and strings
 * are leaves. Each object is entered once (a shared or cyclic one is a back-reference on
 * the wire, not more nesting), in the serializer's order, so depth is measured along the
 * same tree the deserializer will recurse. It costs a visit per object sent (strings,
 * numbers and byte arrays are not walked): measured on Node.js 20 (2026-12-07, one
 * thread), ~47 ns an object against ~490 ns for `structuredClone` of the same value
 * (10,000 small objects), and ~39 ns for a small batch such as `[0, 17, [hash, height]]`
 * (its clone: ~820 ns). Only batches holding an object are walked (the connection's
 * outbox counts them as it fills): a batch of 256 calls with number arguments and
 * answers, the pipelined case, is not walked at all (walking it cost ~13 ns a call, and
 * ~6% of a pipelined call in an A/B of the builds).
 *
 * It guards honest agents only: a hostile one can post around it, and the node then
 * closes its connection as before. The value is the agent's own; reading it runs its
 * getters, as structured clone is about to.
 */

/**
 * Deepest nesting sent. A linked list of 1,000 nodes is rebuilt on the node's main thread
 * with room to spare: sent from a worker through a port (2026-12-07), lists failed from
 * 2,000 nodes on Node.js 20, 1,750 on 22 and 24, and 3,000 on 26. It matches the depth
 * the blocking codec's decoder accepts in a v8 body (`decoded-size.ts`).
 */
export const MAX_SENT_DEPTH = 1000;

/**
 * Throws a `RangeError` if `value` (a batch, or one frame of it) nests more than `limit`
 * deep; the connection then fails the call whose value it is with `DataCloneError`.
 */
export function refuseDeeperThan(value: unknown, limit: number): void {
  if (nestedDeeperThan(value, limit)) {
    throw new RangeError(`[agent-ipc] a value nested more than ${limit} levels deep: the other side's thread could not rebuild it. Send it flattened (an array of nodes with indices), or as bytes`);
  }
}

/**
 * Arrays longer than this are walked by their own keys, not by index: a sparse array
 * claims a length its elements do not back (`list[2 ** 31] = 1` has one), and structured
 * clone carries it as the few elements it has.
 */
const LONG_ARRAY = 1 << 16;

/** Objects the fast walk visits before it hands over to the exact one (a DAG can repeat them exponentially). */
const FAST_VISITS = 100_000;

/**
 * True if `value` nests objects more than `limit` deep, counting each object once, in
 * preorder (as structured clone writes them). Iterative: a value too deep for the stack
 * is measured as any other. A value that throws while read (a revoked proxy) counts as
 * not deep: the serializer then refuses it with its own error.
 *
 * Two passes of one walk. The fast one keeps no set of the objects seen: on a tree (what
 * nearly every value is) the depth is the same, and it saves a set insertion per object
 * (~2.5× the walk). On a value that shares objects it can only overestimate (it follows
 * every path, not just the first), so when it finds the limit passed, or has visited
 * {@link FAST_VISITS} objects (a cycle, or sharing that multiplies paths), the exact pass
 * decides.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (!isContainer(value)) return false;
  try {
    return walkExceeds(value, limit, undefined) && walkExceeds(value, limit, new Set());
  } catch {
    return false;
  }
}

/**
 * One walk, depth-first with an explicit stack. With `seen`, each object is entered once
 * (exact); without, every path is followed, and the walk gives up (true) after
 * {@link FAST_VISITS} objects. Children are pushed last-first, so that they are entered
 * first-first, in the serializer's order.
 */
function walkExceeds(value: object, limit: number, seen: Set<object> | undefined): boolean {
  const values: object[] = [value];
  const depths: number[] = [0];
  let visits = 0;
  while (values.length > 0) {
    const item = values.pop()!;
    const depth = depths.pop()!;
    if (seen) {
      if (seen.has(item)) continue;
      seen.add(item);
    } else if (++visits > FAST_VISITS) {
      return true;
    }
    if (depth > limit) return true;
    pushChildren(item, depth + 1, values, depths);
  }
  return false;
}

/**
 * Pushes what the serializer recurses into from `item` (the containers among them),
 * last-first, so that they are entered in the serializer's order.
 */
function pushChildren(item: object, depth: number, values: object[], depths: number[]): void {
  if (Array.isArray(item) && item.length <= LONG_ARRAY) {
    for (let i = item.length - 1; i >= 0; i--) push(item[i], depth, values, depths);
  } else if (item instanceof Map || item instanceof Set) {
    const entries: unknown[] = item instanceof Map ? [...item].flat() : [...item];
    for (let i = entries.length - 1; i >= 0; i--) push(entries[i], depth, values, depths);
  } else {
    // Other objects, and long arrays by the elements they have.
    const keys = Object.keys(item);
    for (let i = keys.length - 1; i >= 0; i--) push((item as Record<string, unknown>)[keys[i]!], depth, values, depths);
  }
}

/** Queues `child` at `depth` if the serializer recurses into it. */
function push(child: unknown, depth: number, values: object[], depths: number[]): void {
  if (!isContainer(child)) return;
  values.push(child);
  depths.push(depth);
}

/** An object the serializer recurses into: not a primitive, not a byte array or buffer. */
function isContainer(value: unknown): value is object {
  return value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);
}
