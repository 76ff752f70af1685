/**
 * What decoding a `v8.serialize` body would allocate, found by walking its bytes once
 * without decoding them.
 *
 * A stream frame from a process agent is at most `maxMessageBytes` long, but what V8
 * builds from it can be much larger: three bytes make an empty object (~60 bytes of
 * heap), three an empty `Map` (~200), five an array whose backing store V8 allocates at
 * the length the body claims. A hostile agent sending frames of small objects made the
 * node's heap grow ~10× past `maxMessageBytes`. So before a large body is decoded,
 * {@link decodedSizeEstimate} walks it and adds up a per-value estimate of the heap it
 * will take (an upper bound for 64-bit V8, checked against real heap figures in
 * `test/hostile-frames.test.ts`); a body whose estimate is over the budget is refused
 * undecoded. The walk is linear in the body's length: every count it reads is checked
 * against the bytes left before anything is done with it, and nesting is bounded.
 *
 * The format walked is V8's `ValueSerializer` output (see `value-serializer.cc`, format
 * versions 13–15) plus Node's host objects for typed arrays (`_writeHostObject`: a
 * varint type, a varint byte length, the bytes). Anything it does not know (transfers,
 * shared memory, WebAssembly) makes the body invalid here, as it would be on decoding:
 * the library never sends those.
 */

/** Estimated heap bytes per kind of value (64-bit V8, no pointer compression), above the slot that holds it. */
const COST = {
  /** A reference to a field of a container: one tagged slot. */
  slot: 8,
  heapNumber: 16,
  string: 24,
  bigint: 16,
  object: 96,
  /** A property that takes an object to a shape not seen before in this body: a new hidden class (measured ~250 bytes). */
  newShapeProperty: 256,
  /** A property along a shape already seen (objects of one shape share their hidden classes). */
  property: 24,
  array: 80,
  sparseArray: 96,
  sparseElement: 32,
  map: 224,
  mapEntry: 24,
  set: 224,
  setEntry: 16,
  date: 160,
  wrapper: 48,
  regexp: 96,
  arrayBuffer: 96,
  view: 96,
  error: 160,
} as const;

/**
 * The largest estimate one byte of body can add (an empty `Map` is three bytes:
 * `;` `:` and a zero count, estimated at `map + slot`), sparse arrays aside (see
 * {@link mayClaimLongSparseArray}). A shorter body than `budget / MAX_COST_PER_BYTE`
 * without a long sparse array cannot exceed `budget` and needs no walk.
 */
export const MAX_COST_PER_BYTE = Math.ceil((COST.map + COST.slot) / 3);

/** The longest array V8 gives a flat backing store when its length is set (`JSArray::kMaxFastArrayLength`). */
const MAX_FAST_ARRAY_LENGTH = 2 ** 25;

/** Deeper nesting than this is refused (V8 would recurse as deep to decode it). */
export const MAX_DECODE_DEPTH = 1000;

/** Thrown inside the walker once the budget is passed; never escapes this module. */
const OVER_BUDGET = Symbol('over-budget');

/** Why a body was refused by {@link decodedSizeEstimate}. */
export class BodyWalkError extends Error {}

/**
 * The estimated heap bytes decoding `body` (a `v8.serialize` body: header and one
 * value) would allocate; stops and returns a number over `budget` as soon as the
 * running total passes it. Throws {@link BodyWalkError} if the body is malformed,
 * truncated, too deep, or holds what the library never sends.
 */
export function decodedSizeEstimate(body: Uint8Array, budget = Infinity): number {
  const walker = new BodyWalker(body, budget);
  try {
    walker.header();
    walker.value(0);
  } catch (signal) {
    if (signal !== OVER_BUDGET) throw signal;
  }
  return walker.total;
}

class BodyWalker {
  total = 0;
  private pos = 0;
  private version = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly budget: number,
  ) {}

  private fail(why: string): never {
    throw new BodyWalkError(why);
  }

  private charge(bytes: number): void {
    this.total += bytes;
    // Over budget: stop here, the caller refuses the body (and the rest need not be read).
    if (this.total > this.budget) throw OVER_BUDGET;
  }

  private byte(): number {
    if (this.pos >= this.bytes.length) this.fail('truncated');
    return this.bytes[this.pos++]!;
  }

  private varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    return this.fail('varint too long');
  }

  private skip(n: number): void {
    if (n > this.bytes.length - this.pos) this.fail('length beyond the body');
    this.pos += n;
  }

  /** Bytes left: the most elements any count can honestly claim. */
  private left(): number {
    return this.bytes.length - this.pos;
  }

  header(): void {
    if (this.byte() !== 0xff) this.fail('no header');
    this.version = this.varint();
  }

  /** Skips padding and object-count checks, then returns the next tag. */
  private tag(): number {
    for (;;) {
      const tag = this.byte();
      if (tag === 0x00) continue; // padding
      if (tag === 0x3f) {
        this.varint(); // '?' verify object count
        continue;
      }
      return tag;
    }
  }

  value(depth: number): void {
    if (depth > MAX_DECODE_DEPTH) this.fail('nested too deep');
    this.valueWithTag(this.tag(), depth);
  }

  private valueWithTag(tag: number, depth: number): void {
    switch (tag) {
      case 0x2d: // '-' hole
      case 0x5f: // '_' undefined
      case 0x30: // '0' null
      case 0x54: // 'T'
      case 0x46: // 'F'
        return;
      case 0x49: // 'I' int32 (zigzag)
        this.varint();
        return;
      case 0x55: // 'U' uint32
        if (this.varint() > 0x3fffffff) this.charge(COST.heapNumber);
        return;
      case 0x4e: // 'N' double
        this.skip(8);
        this.charge(COST.heapNumber);
        return;
      case 0x5a: // 'Z' BigInt
        this.bigint();
        return;
      case 0x22: // '"' one-byte string
      case 0x63: {
        // 'c' two-byte string (length in bytes)
        const length = this.varint();
        this.skip(length);
        this.charge(COST.string + length);
        return;
      }
      case 0x53: {
        // 'S' UTF-8 string: at most two bytes of string per byte
        const length = this.varint();
        this.skip(length);
        this.charge(COST.string + 2 * length);
        return;
      }
      case 0x5e: // '^' reference to an object already read
        this.varint();
        return;
      case 0x6f: // 'o' object
        this.charge(COST.object);
        this.properties(0x7b, depth); // '{'
        this.varint();
        return;
      case 0x41: {
        // 'A' dense array: V8 allocates the claimed length up front, so it must fit the bytes left
        const length = this.varint();
        if (length > this.left()) this.fail('dense array longer than the body');
        this.charge(COST.array + COST.slot * length);
        for (let i = 0; i < length; i++) this.value(depth + 1);
        this.properties(0x24, depth); // '$'
        this.varint();
        this.varint();
        return;
      }
      case 0x61: {
        // 'a' sparse array: V8 gives a length up to 2²⁵ a backing store of that length
        // (20 bytes of body made 256 MiB of heap); a longer one stays a dictionary.
        const length = this.varint();
        this.charge(COST.sparseArray + (length <= MAX_FAST_ARRAY_LENGTH ? COST.slot * length : 0));
        this.properties(0x40, depth, COST.sparseElement); // '@'
        this.varint();
        this.varint();
        return;
      }
      case 0x44: // 'D' date
        this.skip(8);
        this.charge(COST.date);
        return;
      case 0x79: // 'y' true object
      case 0x78: // 'x' false object
        this.charge(COST.wrapper);
        return;
      case 0x6e: // 'n' number object
        this.skip(8);
        this.charge(COST.wrapper + COST.heapNumber);
        return;
      case 0x7a: // 'z' BigInt object
        this.charge(COST.wrapper);
        this.bigint();
        return;
      case 0x73: // 's' string object
        this.charge(COST.wrapper);
        this.value(depth + 1);
        return;
      case 0x52: // 'R' regexp: pattern, flags
        this.charge(COST.regexp);
        this.value(depth + 1);
        this.varint();
        return;
      case 0x3b: // ';' Map
        this.charge(COST.map);
        this.entries(0x3a, depth, COST.mapEntry); // ':'
        this.varint();
        return;
      case 0x27: // "'" Set
        this.charge(COST.set);
        this.entries(0x2c, depth, COST.setEntry); // ','
        this.varint();
        return;
      case 0x42: {
        // 'B' ArrayBuffer, possibly followed by a view on it
        const length = this.varint();
        this.skip(length);
        this.charge(COST.arrayBuffer + length);
        this.maybeView();
        return;
      }
      case 0x7e: {
        // '~' resizable ArrayBuffer
        const length = this.varint();
        this.varint();
        this.skip(length);
        this.charge(COST.arrayBuffer + length);
        this.maybeView();
        return;
      }
      case 0x5c: {
        // '\' host object: a typed array as Node writes it (type, byte length, bytes),
        // copied out of the body on decoding (see stream-frames.ts)
        this.varint();
        const length = this.varint();
        this.skip(length);
        this.charge(COST.arrayBuffer + COST.view + length);
        return;
      }
      case 0x72: // 'r' error
        this.charge(COST.error);
        this.error(depth);
        return;
      default:
        return this.fail(`unexpected tag 0x${tag.toString(16)}`);
    }
  }

  private bigint(): void {
    const bitfield = this.varint();
    const length = Math.floor(bitfield / 2) % 2 ** 30;
    this.skip(length);
    this.charge(COST.bigint + length);
  }

  /** An optional 'V' view right after an array buffer. */
  private maybeView(): void {
    if (this.pos < this.bytes.length && this.bytes[this.pos] === 0x56) {
      this.pos++;
      this.varint(); // subtag
      this.varint(); // byte offset
      this.varint(); // byte length
      if (this.version >= 14) this.varint(); // flags

      this.charge(COST.view);
    }
  }

  /**
   * Key/value pairs up to the end tag `end`. Each pair costs `perEntry`, or for an
   * object's named properties, what V8's hidden classes cost: a shape is the sequence
   * of keys so far, identified here by a hash of that sequence, and a property that
   * leads to a shape not seen before in this body is charged a new hidden class.
   */
  private properties(end: number, depth: number, perEntry?: number): void {
    let shape = 0x811c9dc5;
    for (;;) {
      const tag = this.tag();
      if (tag === end) return;
      let cost = perEntry ?? COST.property;
      if (perEntry === undefined && (tag === 0x22 || tag === 0x53 || tag === 0x63)) {
        const start = this.pos;
        this.valueWithTag(tag, depth + 1);
        shape = this.hashBytes(shape, start, this.pos);
        if (!this.shapes.has(shape)) {
          this.shapes.add(shape);
          cost = COST.newShapeProperty;
        }
      } else {
        this.valueWithTag(tag, depth + 1);
      }
      this.charge(cost + 2 * COST.slot);
      this.value(depth + 1);
    }
  }

  /** Shapes (key sequences) seen so far, as hashes. */
  private readonly shapes = new Set<number>();

  /** FNV-1a of `seed` and the bytes from `start` to `end`. */
  private hashBytes(seed: number, start: number, end: number): number {
    let h = seed;
    for (let i = start; i < end; i++) h = Math.imul(h ^ this.bytes[i]!, 0x01000193);
    return h >>> 0;
  }

  /** Values (Set) or key/value pairs (Map, counted singly) up to the end tag `end`. */
  private entries(end: number, depth: number, perEntry: number): void {
    for (;;) {
      const tag = this.tag();
      if (tag === end) return;
      this.charge(perEntry + COST.slot);
      this.valueWithTag(tag, depth + 1);
    }
  }

  /** An error's fields: prototype tags, message, stack, cause, up to '.'. */
  private error(depth: number): void {
    for (;;) {
      const tag = this.byte();
      switch (tag) {
        case 0x2e: // '.' end
          return;
        case 0x45: // 'E' EvalError … 'U' URIError prototypes: no payload
        case 0x52:
        case 0x46:
        case 0x53:
        case 0x54:
        case 0x55:
          continue;
        case 0x6d: // 'm' message
        case 0x73: // 's' stack
        case 0x63: // 'c' cause
          this.value(depth + 1);
          continue;
        default:
          this.fail(`unexpected error field 0x${tag.toString(16)}`);
      }
    }
  }
}

/** A body may decode to at most this many times the body limit (`maxMessageBytes`), in estimated heap bytes. */
export const DECODE_BUDGET_FACTOR = 8;

/**
 * The most heap (estimated) one body's decoded values may take, for a body limit: a
 * stream frame's, and a blocking call's v8 body (whose own bytes may justify more).
 */
export function decodeBudget(maxBodyBytes: number): number {
  return DECODE_BUDGET_FACTOR * maxBodyBytes;
}

/**
 * True if decoding `body` is estimated to allocate at most `budget` bytes. A body short
 * enough that it could not exceed the budget is not walked at all.
 */
export function withinDecodeBudget(body: Uint8Array, budget: number): boolean {
  if (body.length * MAX_COST_PER_BYTE <= budget && !mayClaimLongSparseArray(body)) return true;
  return decodedSizeEstimate(body, budget) <= budget;
}

/**
 * False only if `body` certainly holds no sparse array longer than 2¹⁴: no `a` tag
 * byte followed by a varint of three bytes or more. A cheap filter (a native byte
 * search), so that small bodies are walked only when they might need it.
 */
function mayClaimLongSparseArray(body: Uint8Array): boolean {
  for (let at = body.indexOf(0x61); at >= 0; at = body.indexOf(0x61, at + 1)) {
    if ((body[at + 1] ?? 0) >= 0x80 && (body[at + 2] ?? 0) >= 0x80) return true;
  }
  return false;
}
