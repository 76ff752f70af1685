/**
 * The value codec of blocking calls. Async calls between threads need no codec
 * (structured clone does it natively), but a blocking call moves its arguments and
 * answer through a shared byte area, and pays the codec twice each way. `v8.serialize`
 * costs ~8–10 µs for a tiny value; this codec writes the common shapes directly:
 *
 * | tag  | value            | body                                   |
 * |------|------------------|----------------------------------------|
 * | 0x00 | undefined        | —                                      |
 * | 0x01 | null             | —                                      |
 * | 0x02 | false            | —                                      |
 * | 0x03 | true             | —                                      |
 * | 0x04 | int32            | 4 bytes LE                             |
 * | 0x05 | float64          | 8 bytes LE                             |
 * | 0x06 | string           | u32 byte length, UTF-8                 |
 * | 0x07 | array            | u32 count, values                      |
 * | 0x08 | plain object     | u32 count, (string key body, value)…   |
 * | 0x09 | Uint8Array       | u32 length, bytes (a plain copy)       |
 * | 0x0a | anything else    | u32 length, `v8.serialize` bytes       |
 * | 0x0b | ASCII string     | u32 length, bytes (all < 0x80)         |
 * | 0x0c | UTF-16 string    | u32 byte length, pad, UTF-16LE         |
 * | 0x0d | large Uint8Array | u32 length, pad, bytes                 |
 *
 * Anything outside the fast shapes (Map, Set, Date, BigInt, other typed arrays, class
 * instances, cycles, very deep nesting) sends the *whole* value through tag 0x0a, so
 * fidelity is structured clone's. All integers are little-endian.
 *
 * Long strings (64 chars or more) and byte arrays are copied straight into the byte area,
 * with no intermediate buffer, in a form the reader can turn back into a string without
 * UTF-8 decoding (which costs ~10× a copy for non-ASCII text): pure ASCII as one byte
 * per char (tag 0x0b), anything else as UTF-16 code units (tag 0x0c; lone surrogates
 * survive, as with structured clone). A reader must not trust the ASCII claim: bytes
 * ≥ 0x80 then read as Latin-1, still a valid string.
 *
 * UTF-16 and large byte bodies start at a multiple of 8 from the start of the area the
 * writer wrote into: after the length comes a *pad* — one byte n (0–7), then n zero
 * bytes. The count is explicit so that an encoded value stays readable wherever it is
 * copied (a process agent's blocking answer is read at an arbitrary offset of its input
 * buffer), and a reader never derives a length from its own position. V8 copies to and from a `SharedArrayBuffer` with
 * relaxed atomic accesses, word by word only when both ends are 8-aligned and byte by
 * byte otherwise: aligned, a 64 KiB copy into shared memory takes ~3–5 µs instead of
 * ~22 µs (measured on Node.js 20).
 */
import { Buffer } from 'node:buffer';
import * as v8 from 'node:v8';
import { MAX_COST_PER_BYTE, withinDecodeBudget } from '../decoded-size.ts';
import { DataCloneError } from '../errors.ts';

const TAG_UNDEFINED = 0x00;
const TAG_NULL = 0x01;
const TAG_FALSE = 0x02;
const TAG_TRUE = 0x03;
const TAG_INT32 = 0x04;
const TAG_FLOAT64 = 0x05;
const TAG_STRING = 0x06;
const TAG_ARRAY = 0x07;
const TAG_OBJECT = 0x08;
const TAG_BYTES = 0x09;
const TAG_V8 = 0x0a;
const TAG_ASCII = 0x0b;
const TAG_UTF16 = 0x0c;
const TAG_BYTES_ALIGNED = 0x0d;

/** The first offset at or after `offset` that is a multiple of 8. */
function align8(offset: number): number {
  return offset + ((8 - (offset % 8)) % 8);
}

/** String values at least this long are written as ASCII or UTF-16 (see the module comment). */
const LONG_STRING = 64;
/** Byte arrays at least this long are written 8-aligned, and copied out into memory that is not zero-filled first. */
const LONG_BYTES = 256;

/** Deeper values go through v8 (which also handles cycles). */
const MAX_DEPTH = 24;

/**
 * Decoding treats the bytes as hostile (the other side wrote them): every count is
 * checked against the bytes left before anything is allocated for it (an array
 * element takes at least 1 byte, an object entry at least 5), nesting deeper than the
 * encoder ever writes is refused, and a v8 body may decode to at most what its bytes
 * justify or the receiver's budget allows (a sparse array's length is not backed by
 * bytes: see `decoded-size.ts`). So decoding is linear in the bytes and allocates at most
 * ~80 × their number + 1 MiB, or the budget the reader is given: the one a stream frame
 * of the same `maxMessageBytes` has (`decodeBudget`, 8 × it), so that an honest sparse
 * or pre-sized array (`new Array(300_000)` with a few elements set) crosses a blocking
 * call as it crosses an async one.
 */
const MAX_DECODE_DEPTH = MAX_DEPTH + 1;
/** Minimum bytes of an object entry: key length (4), value tag (1). */
const MIN_ENTRY_BYTES = 5;
/** Heap a v8 body may decode to beyond {@link MAX_COST_PER_BYTE} per byte. */
const V8_DECODE_SLACK = 1 << 20;

/** Thrown inside the encoder to switch strategy; never escapes this module. */
const NOT_FAST = Symbol('not-fast');
const OVERFLOW = Symbol('overflow');

/**
 * `Buffer`'s UTF-8 primitives without the argument parsing of `write`/`toString`
 * (~40 ns instead of ~100 ns for a short string). Present on every Node.js `Buffer`
 * for many majors, though not in the type definitions.
 */
interface Utf8Buffer extends Buffer {
  utf8Write(value: string, offset: number, length?: number): number;
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  ucs2Write(value: string, offset: number): number;
  ucs2Slice(start: number, end: number): string;
}

const textEncoder = new TextEncoder();

/** A byte area with a fast `Buffer` view on it (works on `SharedArrayBuffer` too). */
export class ByteArea {
  readonly bytes: Uint8Array;
  readonly buffer: Utf8Buffer;
  readonly view: DataView;
  constructor(readonly backing: ArrayBufferLike, offset = 0, length = backing.byteLength - offset) {
    this.bytes = new Uint8Array(backing, offset, length);
    this.buffer = Buffer.from(backing, offset, length) as Utf8Buffer;
    this.view = new DataView(backing, offset, length);
  }
}

/** Filled in by {@link encodeInto} when a value does not fit. */
export interface Shortfall {
  /** The end offset the writer asked for when it ran out of room (the value was not encoded to its end, so more may be needed; worst-case padding included). */
  bytes: number;
}

/**
 * Encodes into `area` starting at `offset`. Returns the end offset, or `-1` if the
 * value does not fit (the caller then grows the area and tries again, guided by
 * `shortfall`, or uses {@link encodeToNewBuffer}).
 */
export function encodeInto(value: unknown, area: ByteArea, offset: number, shortfall?: Shortfall): number {
  const writer = new Writer(area, offset, false);
  if (writer.top(value)) return writer.pos;
  if (shortfall) shortfall.bytes = writer.needed;
  return -1;
}

/**
 * Encodes into a fresh `ArrayBuffer` of its own (transferable). Large byte arrays are
 * copied once: a byte array's buffer is sized up front (with {@link BYTES_HEADER_ROOM}
 * for its header), uninitialised (no zero fill), and a buffer filled to
 * within {@link SLACK_BYTES} is returned as a view, not copied again. (Sized for the
 * short form only, an 8 MiB array grew into a 16 MiB buffer and was then copied out of
 * it: three copies, measured at ~0.7 GB/s where one copy runs at ~3.)
 */
export function encodeToNewBuffer(value: unknown): Uint8Array {
  const writer = new Writer(new ByteArea(newBuffer(value instanceof Uint8Array ? value.length + BYTES_HEADER_ROOM : 256)), 0, true);
  writer.top(value);
  const bytes = writer.area.bytes;
  return bytes.length - writer.pos <= SLACK_BYTES ? bytes.subarray(0, writer.pos) : bytes.slice(0, writer.pos);
}

/** Unused bytes at the end of a new buffer that are left there rather than copied away. */
const SLACK_BYTES = 64;

/**
 * Room for a byte array's header in a buffer sized for it: what the writer reserves
 * before it knows the pad (tag, length, pad count and up to 7 pad bytes: 13), rounded up.
 */
const BYTES_HEADER_ROOM = 16;

/** An uninitialised `ArrayBuffer` of exactly `size` bytes, not from Buffer's shared pool. */
function newBuffer(size: number): ArrayBuffer {
  return Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer;
}

/**
 * Decodes the value stored in `area` from `offset` to `end`. Byte arrays are copied
 * out unless `shareBytes` is set (use it only when `area` is not reused afterwards). A v8
 * body may decode to `maxDecoded` bytes of heap (estimated), or what its own bytes justify
 * if that is more (see {@link MAX_DECODE_DEPTH}'s note).
 */
export function decode(area: ByteArea, offset: number, end: number, shareBytes = false, maxDecoded = 0): unknown {
  // An end past the area (a lying writer, or a view older than the body) is a truncated value.
  if (end > area.bytes.length) throw new RangeError('[agent-ipc] codec: value is truncated');
  const reader = new Reader(area, offset, end, shareBytes, maxDecoded);
  const value = reader.value();
  if (reader.pos !== end) throw new RangeError('[agent-ipc] codec: trailing bytes after value');
  return value;
}

class Writer {
  pos: number;
  /** After an overflow of a fixed area: the end offset that was asked for. */
  needed = 0;
  constructor(
    public area: ByteArea,
    offset: number,
    private readonly growable: boolean,
  ) {
    this.pos = offset;
  }

  /** Writes the whole value; false if it overflowed a fixed area. */
  top(value: unknown): boolean {
    const start = this.pos;
    try {
      this.value(value, 0);
      return true;
    } catch (signal) {
      if (signal === OVERFLOW) return false;
      if (signal !== NOT_FAST) throw signal;
    }
    this.pos = start;
    let serialized: Buffer;
    try {
      serialized = v8.serialize(value);
    } catch (error) {
      throw new DataCloneError('a value', { cause: error });
    }
    try {
      this.ensure(5 + serialized.length);
    } catch (signal) {
      this.needed = this.pos + 5 + serialized.length;
      if (signal === OVERFLOW) return false;
      throw signal;
    }
    this.area.bytes[this.pos++] = TAG_V8;
    this.u32(serialized.length);
    this.area.bytes.set(serialized, this.pos);
    this.pos += serialized.length;
    return true;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.area.bytes.length) return;
    if (!this.growable) {
      this.needed = Math.max(this.needed, this.pos + n);
      throw OVERFLOW;
    }
    // Large items (byte arrays, long strings) jump straight to the size they need.
    const size = Math.max(this.area.bytes.length * 2, this.pos + n);
    const next = new ByteArea(newBuffer(size));
    next.bytes.set(this.area.bytes.subarray(0, this.pos));
    this.area = next;
  }

  private u32(n: number): void {
    this.area.view.setUint32(this.pos, n, true);
    this.pos += 4;
  }

  private value(value: unknown, depth: number): void {
    switch (typeof value) {
      case 'number':
        if ((value | 0) === value && !Object.is(value, -0)) {
          this.ensure(5);
          this.area.bytes[this.pos++] = TAG_INT32;
          this.area.view.setInt32(this.pos, value, true);
          this.pos += 4;
        } else {
          this.ensure(9);
          this.area.bytes[this.pos++] = TAG_FLOAT64;
          this.area.view.setFloat64(this.pos, value, true);
          this.pos += 8;
        }
        return;
      case 'string': {
        this.ensure(1);
        const tagAt = this.pos++;
        let tag = TAG_STRING;
        if (value.length >= LONG_STRING) tag = this.longString(value);
        else this.string(value);
        // Set after the body (in a separate statement): writing it may have moved to a larger area.
        this.area.bytes[tagAt] = tag;
        return;
      }
      case 'boolean':
        this.ensure(1);
        this.area.bytes[this.pos++] = value ? TAG_TRUE : TAG_FALSE;
        return;
      case 'undefined':
        this.ensure(1);
        this.area.bytes[this.pos++] = TAG_UNDEFINED;
        return;
      case 'object':
        if (value === null) {
          this.ensure(1);
          this.area.bytes[this.pos++] = TAG_NULL;
          return;
        }
        if (depth >= MAX_DEPTH) throw NOT_FAST;
        if (Array.isArray(value)) return this.array(value, depth);
        if (value instanceof Uint8Array) return this.bytes(value);
        {
          const proto = Object.getPrototypeOf(value) as unknown;
          if (proto === Object.prototype || proto === null) return this.object(value as Record<string, unknown>, depth);
        }
        throw NOT_FAST;
      default:
        // bigint goes through v8; functions and symbols make v8 throw a clear TypeError.
        throw NOT_FAST;
    }
  }

  /** Writes a string body: u32 byte length, UTF-8. */
  private string(s: string): void {
    const length = s.length;
    this.ensure(4 + length * 3);
    const bytes = this.area.bytes;
    const at = this.pos + 4;
    let i = 0;
    // ASCII is the common case (method names, keys, hex ids) and a plain loop beats the encoders.
    if (length < LONG_STRING) {
      for (; i < length; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        bytes[at + i] = c;
      }
    }
    const written = i === length ? length : this.area.buffer.utf8Write(s, at);
    this.area.view.setUint32(this.pos, written, true);
    this.pos = at + written;
  }

  /**
   * The body of a long string value; returns its tag. ASCII is tried first, into exactly
   * `length` bytes: the encoder reading every char into that room proves each was one
   * byte. Otherwise the string goes as UTF-16 (exactly 2 bytes per code unit).
   */
  private longString(s: string): number {
    const length = s.length;
    // A few sampled chars rule out ASCII cheaply for most non-ASCII text.
    const step = length >>> 2;
    let ascii = true;
    for (let i = 0; i < length; i += step) if (s.charCodeAt(i) > 0x7f) ascii = false;
    if (ascii) {
      this.ensure(4 + length);
      const at = this.pos + 4;
      if (textEncoder.encodeInto(s, this.area.bytes.subarray(at, at + length)).read === length) {
        this.area.view.setUint32(this.pos, length, true);
        this.pos = at + length;
        return TAG_ASCII;
      }
    }
    this.ensure(4 + 8 + length * 2);
    const at = this.padTo8(this.pos + 4);
    const written = this.area.buffer.ucs2Write(s, at);
    this.area.view.setUint32(this.pos, written, true);
    this.pos = at + written;
    return TAG_UTF16;
  }

  /** Writes a pad at `from` (a count byte n, then n zero bytes) that ends on a multiple of 8; returns that offset. */
  private padTo8(from: number): number {
    const to = align8(from + 1);
    this.area.bytes[from] = to - from - 1;
    this.area.bytes.fill(0, from + 1, to);
    return to;
  }

  private array(list: unknown[], depth: number): void {
    this.ensure(5);
    this.area.bytes[this.pos++] = TAG_ARRAY;
    this.u32(list.length);
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      // A hole: a sparse array's length may claim billions of them; v8 encodes only what is there.
      if (item === undefined && !(i in list)) throw NOT_FAST;
      this.value(item, depth + 1);
    }
  }

  private object(record: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(record);
    this.ensure(5);
    this.area.bytes[this.pos++] = TAG_OBJECT;
    this.u32(keys.length);
    for (const key of keys) {
      this.string(key);
      this.value(record[key], depth + 1);
    }
  }

  private bytes(data: Uint8Array): void {
    // Subclasses other than Buffer (none in practice) keep their identity through v8.
    if (data.constructor !== Uint8Array && !Buffer.isBuffer(data)) throw NOT_FAST;
    if (data.length >= LONG_BYTES) {
      this.ensure(5 + 8 + data.length);
      this.area.bytes[this.pos++] = TAG_BYTES_ALIGNED;
      this.u32(data.length);
      const at = this.padTo8(this.pos);
      this.area.bytes.set(data, at);
      this.pos = at + data.length;
      return;
    }
    this.ensure(5 + data.length);
    this.area.bytes[this.pos++] = TAG_BYTES;
    this.u32(data.length);
    this.area.bytes.set(data, this.pos);
    this.pos += data.length;
  }
}

/** Strings shorter than this (in bytes) are decoded char by char, and remembered if ASCII. */
const SHORT_STRING = 24;
/**
 * Recently decoded short ASCII strings, by a hash of length and first and last byte: a
 * fixed table (a hostile writer cannot grow it), each entry checked char by char before
 * it is reused. Decoding `['add', [5, 1]]` went from ~75 to ~64 ns (Node.js 20).
 */
const RECENT_STRINGS = 64;
const recentStrings = new Array<string | undefined>(RECENT_STRINGS).fill(undefined);

class Reader {
  constructor(
    private readonly area: ByteArea,
    public pos: number,
    private readonly end: number,
    private readonly shareBytes: boolean,
    private readonly maxDecoded: number,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.end) throw new RangeError('[agent-ipc] codec: value is truncated');
  }

  /** Skips a pad (count byte, then that many bytes), checks `length` bytes follow, and returns their start. */
  private skipTo8(length: number): number {
    this.need(1);
    const pad = this.area.bytes[this.pos]!;
    if (pad > 7) throw new RangeError('[agent-ipc] codec: bad padding');
    const start = this.pos + 1 + pad;
    if (start > this.end) throw new RangeError('[agent-ipc] codec: value is truncated');
    this.pos = start;
    this.need(length);
    this.pos = start + length;
    return start;
  }

  private u32(): number {
    this.need(4);
    const n = this.area.view.getUint32(this.pos, true);
    this.pos += 4;
    return n;
  }

  value(depth = 0): unknown {
    this.need(1);
    const tag = this.area.bytes[this.pos++];
    switch (tag) {
      case TAG_UNDEFINED:
        return undefined;
      case TAG_NULL:
        return null;
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_INT32: {
        this.need(4);
        const n = this.area.view.getInt32(this.pos, true);
        this.pos += 4;
        return n;
      }
      case TAG_FLOAT64: {
        this.need(8);
        const n = this.area.view.getFloat64(this.pos, true);
        this.pos += 8;
        return n;
      }
      case TAG_STRING:
        return this.string();
      case TAG_ASCII: {
        const length = this.u32();
        this.need(length);
        const start = this.pos;
        this.pos += length;
        // A byte copy, no UTF-8 decoding (bytes >= 0x80 from a lying writer read as Latin-1).
        return this.area.buffer.latin1Slice(start, start + length);
      }
      case TAG_UTF16: {
        const length = this.u32();
        if (length % 2 !== 0) throw new RangeError('[agent-ipc] codec: odd UTF-16 byte length');
        const start = this.skipTo8(length);
        return this.area.buffer.ucs2Slice(start, start + length);
      }
      case TAG_BYTES_ALIGNED: {
        const length = this.u32();
        const start = this.skipTo8(length);
        if (this.shareBytes) return this.area.bytes.subarray(start, start + length);
        // Into memory that is not zero-filled first (it is overwritten at once).
        const copy = new Uint8Array(newBuffer(length), 0, length);
        copy.set(this.area.bytes.subarray(start, start + length));
        return copy;
      }
      case TAG_ARRAY: {
        const count = this.u32();
        if (count > this.end - this.pos) throw new RangeError('[agent-ipc] codec: array count exceeds data');
        if (depth >= MAX_DECODE_DEPTH) throw new RangeError('[agent-ipc] codec: value nested too deep');
        const list = new Array<unknown>(count);
        for (let i = 0; i < count; i++) list[i] = this.value(depth + 1);
        return list;
      }
      case TAG_OBJECT: {
        const count = this.u32();
        if (count * MIN_ENTRY_BYTES > this.end - this.pos) throw new RangeError('[agent-ipc] codec: object count exceeds data');
        if (depth >= MAX_DECODE_DEPTH) throw new RangeError('[agent-ipc] codec: value nested too deep');
        const record: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.string();
          // defineProperty, not assignment: a key named __proto__ stays data, never a prototype.
          Object.defineProperty(record, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
        }
        return record;
      }
      case TAG_BYTES: {
        const length = this.u32();
        this.need(length);
        const start = this.pos;
        this.pos += length;
        return this.shareBytes ? this.area.bytes.subarray(start, start + length) : this.area.bytes.slice(start, start + length);
      }
      case TAG_V8: {
        const length = this.u32();
        this.need(length);
        const start = this.pos;
        this.pos += length;
        const body = this.area.buffer.subarray(start, start + length);
        let within: boolean;
        try {
          within = withinDecodeBudget(body, Math.max(MAX_COST_PER_BYTE * length + V8_DECODE_SLACK, this.maxDecoded));
        } catch (error) {
          throw new RangeError('[agent-ipc] codec: malformed v8 body', { cause: error });
        }
        if (!within) throw new RangeError('[agent-ipc] codec: v8 body claims more than its bytes can hold');
        // Node's deserializer returns typed arrays as views into the bytes it is given when
        // they are aligned: into the mailbox area, which the next call overwrites. So it
        // gets a copy unless the caller owns the area (shareBytes).
        return v8.deserialize(this.shareBytes ? body : Buffer.from(body));
      }
      default:
        throw new RangeError(`[agent-ipc] codec: unknown tag 0x${(tag ?? 0).toString(16)}`);
    }
  }

  private string(): string {
    const length = this.u32();
    this.need(length);
    const start = this.pos;
    this.pos += length;
    return utf8At(this.area, start, length);
  }
}

/**
 * The `length` bytes at `start` of `area` as the string a TAG_STRING (UTF-8) value holds:
 * short all-ASCII ones through {@link shortAscii}. The general reader and the call
 * envelope's both read strings here, so they build the very same ones.
 */
function utf8At(area: ByteArea, start: number, length: number): string {
  if (length === 0) return '';
  if (length < SHORT_STRING) return shortAscii(area.bytes, start, length) ?? area.buffer.utf8Slice(start, start + length);
  return area.buffer.utf8Slice(start, start + length);
}

/**
 * The `length` bytes (1 to SHORT_STRING − 1) at `start` as a string if they are all
 * ASCII, else `undefined` (the caller decodes them as UTF-8). Method names and object
 * keys repeat call after call: the string decoded last time for this slot of
 * {@link recentStrings} is returned when its chars match (no allocation).
 */
function shortAscii(bytes: Uint8Array, start: number, length: number): string | undefined {
  const slot = (length * 31 + bytes[start]! * 7 + bytes[start + length - 1]!) & (RECENT_STRINGS - 1);
  const recent = recentStrings[slot];
  if (recent !== undefined && recent.length === length) {
    let i = 0;
    while (i < length && recent.charCodeAt(i) === bytes[start + i]) i++;
    if (i === length) return recent;
  }
  let s = '';
  for (let i = start; i < start + length; i++) {
    const c = bytes[i]!;
    if (c > 0x7f) return undefined;
    s += String.fromCharCode(c);
  }
  recentStrings[slot] = s;
  return s;
}

/*
 * The call envelope. Every blocking request is the value `[command, args]`, and most
 * are a method name and a few int32s or ASCII strings (`main.blocking.getBlock(hash)`,
 * `add(i, 1)`). These two functions write and read exactly the bytes the general writer
 * and reader do for such a request, without their per-value dispatch, and hand anything
 * else to them: the wire format is unchanged, and a reader of either kind reads what a
 * writer of either kind wrote. Measured in a tight loop (Node.js 20, with other jobs
 * running: read them as ratios): encoding `['add', [i, 1]]` ~150 → ~17 ns (the general
 * path also builds the `[command, args]` array), decoding it ~111 → ~32 ns.
 */

/** Args the envelope writes itself: at most this many, strings at most this long. */
const ENVELOPE_MAX_ARGS = 8;
const ENVELOPE_MAX_STRING = 256;

/**
 * Writes the request `[command, args]` at the start of `area` if it has the common
 * shape (see above) and fits; returns its end, or -1 when the general writer must do it
 * (it then writes over whatever this one left).
 */
export function encodeCallInto(command: string, args: unknown, area: ByteArea): number {
  if (!Array.isArray(args) || args.length > ENVELOPE_MAX_ARGS) return -1;
  const length = command.length;
  if (length >= LONG_STRING) return -1;
  const { bytes, view } = area;
  if (bytes.length < 15 + length + args.length * (5 + ENVELOPE_MAX_STRING)) return -1;
  bytes[0] = TAG_ARRAY;
  view.setUint32(1, 2, true);
  bytes[5] = TAG_STRING;
  view.setUint32(6, length, true);
  if (!asciiInto(bytes, 10, command)) return -1;
  let pos = 10 + length;
  bytes[pos] = TAG_ARRAY;
  view.setUint32(pos + 1, args.length, true);
  pos += 5;
  for (let i = 0; i < args.length; i++) {
    const arg: unknown = args[i];
    if (typeof arg === 'number') {
      if ((arg | 0) !== arg || Object.is(arg, -0)) return -1;
      bytes[pos] = TAG_INT32;
      view.setInt32(pos + 1, arg, true);
      pos += 5;
    } else if (typeof arg === 'string' && arg.length <= ENVELOPE_MAX_STRING) {
      // As the general writer: shorter than LONG_STRING as UTF-8 (all ASCII here), longer as ASCII.
      bytes[pos] = arg.length < LONG_STRING ? TAG_STRING : TAG_ASCII;
      view.setUint32(pos + 1, arg.length, true);
      pos += 5;
      if (!asciiInto(bytes, pos, arg)) return -1;
      pos += arg.length;
    } else {
      // Anything else, holes included (the general writer sends a sparse array through v8).
      return -1;
    }
  }
  return pos;
}

/** Copies `s` to `bytes` at `at`, one byte a char; false (stopping there) at a char that is not ASCII. */
function asciiInto(bytes: Uint8Array, at: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return false;
    bytes[at + i] = c;
  }
  return true;
}

/**
 * Reads a request written from `0` to `end` of `area`: the common shape directly, any
 * other (or anything malformed) through {@link decode}, which then returns or throws
 * exactly as it would have (`maxDecoded` as there). Bounds are checked before every
 * read, as in the general reader, and strings are built as it builds them.
 */
export function decodeCall(area: ByteArea, end: number, maxDecoded = 0): unknown {
  const { bytes, view, buffer } = area;
  if (end > bytes.length || end < 15 || bytes[0] !== TAG_ARRAY || view.getUint32(1, true) !== 2 || bytes[5] !== TAG_STRING) return decode(area, 0, end, false, maxDecoded);
  const length = view.getUint32(6, true);
  let pos = 10 + length;
  if (length === 0 || length >= SHORT_STRING || pos + 5 > end) return decode(area, 0, end, false, maxDecoded);
  const command = shortAscii(bytes, 10, length);
  if (command === undefined || bytes[pos] !== TAG_ARRAY) return decode(area, 0, end, false, maxDecoded);
  const count = view.getUint32(pos + 1, true);
  pos += 5;
  // Each arg takes at least 5 bytes: a count beyond that is the general reader's to refuse.
  if (count > ENVELOPE_MAX_ARGS || count * 5 > end - pos) return decode(area, 0, end, false, maxDecoded);
  const args = new Array<unknown>(count);
  for (let i = 0; i < count; i++) {
    if (pos + 5 > end) return decode(area, 0, end, false, maxDecoded);
    const tag = bytes[pos];
    if (tag === TAG_INT32) {
      args[i] = view.getInt32(pos + 1, true);
      pos += 5;
      continue;
    }
    if (tag !== TAG_STRING && tag !== TAG_ASCII) return decode(area, 0, end, false, maxDecoded);
    const size = view.getUint32(pos + 1, true);
    const start = pos + 5;
    if (size > end - start) return decode(area, 0, end, false, maxDecoded);
    // TAG_ASCII as the general reader reads it: a byte copy.
    args[i] = tag === TAG_ASCII ? buffer.latin1Slice(start, start + size) : utf8At(area, start, size);
    pos = start + size;
  }
  return pos === end ? [command, args] : decode(area, 0, end, false, maxDecoded);
}
