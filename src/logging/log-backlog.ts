/**
 * How much a pino destination has taken and not yet written: the measure the node's
 * agent log writer (`agent-log-writer.ts`) bounds agents' records by. pino itself
 * ignores its destination's back-pressure, and each kind of destination reports its
 * backlog differently (or not at all), so this is the one place that knows them.
 */

/** What the destination kinds pino writes to expose about what they buffer. */
interface DestinationState {
  /** `stream.Writable` (`fs.WriteStream`, `net.Socket`, a `Transform`, …): bytes buffered (objects, in object mode). */
  writableLength?: unknown;
  /** SonicBoom (`pino.destination()`): bytes taken and not yet written (a private field; see {@link logBacklog}). */
  _len?: unknown;
  /** thread-stream (`pino.transport()`): true once its shared buffer is full, until it has handed everything on. */
  writableNeedDrain?: unknown;
  /** `pino.multistream()`: its destinations, which may change while it is in use. */
  streams?: unknown;
}

/** What `stream` buffers, in bytes (`Infinity`: full); 0 for a destination that does not say. */
function backlogOf(stream: unknown, depth: number): number {
  if (stream === null || typeof stream !== 'object') return 0;
  const state = stream as DestinationState;
  const length = state.writableLength;
  if (typeof length === 'number') return length;
  const len = state._len;
  if (typeof len === 'number') return len;
  const needDrain = state.writableNeedDrain;
  if (typeof needDrain === 'boolean') return needDrain ? Infinity : 0;
  const streams = state.streams;
  if (!Array.isArray(streams) || depth > 3) return 0;
  let sum = 0;
  for (let i = 0; i < streams.length; i++) {
    const entry: unknown = streams[i];
    if (entry !== null && typeof entry === 'object') sum += backlogOf((entry as { stream?: unknown }).stream, depth + 1);
  }
  return sum;
}

/**
 * How many bytes the destination `stream` (a pino logger's `pino.symbols.streamSym`) has
 * taken and not yet written, as a function read once per agent record; `undefined` for
 * a destination that does not say (a plain `{ write() }` object), which cannot be bounded.
 *
 * - `stream.Writable`: `writableLength`.
 * - SonicBoom (`pino()` without a stream, `pino.destination()`; asynchronous unless
 *   `sync: true`): `_len`. It has no public measure: its `write()` answers `false` past
 *   16 KiB but pino drops that answer, and its `'drain'` comes only after a write
 *   completes. A synchronous SonicBoom writes before `write()` returns (the node's thread
 *   waits for a slow disk), so its `_len` stays near 0.
 * - thread-stream (`pino.transport()`): `writableNeedDrain`, true once its shared buffer
 *   (`bufferSize`, 4 MiB by default) is full: counted as full.
 * - `pino.multistream()`: the sum over its destinations, each as above, looked up at
 *   every read since destinations may be added or removed.
 *
 * @internal
 */
export function logBacklog(stream: unknown): (() => number) | undefined {
  if (stream === null || typeof stream !== 'object') return undefined;
  const state = stream as DestinationState;
  // One property read per record for the common kinds; the generic walk for the rest.
  if (typeof state.writableLength === 'number') return () => state.writableLength as number;
  if (typeof state._len === 'number') return () => state._len as number;
  if (typeof state.writableNeedDrain === 'boolean') return () => (state.writableNeedDrain ? Infinity : 0);
  if (Array.isArray(state.streams)) return () => backlogOf(stream, 0);
  return undefined;
}
