/**
 * Builds the binary encodings of blocks and transactions: a growable buffer with
 * big-endian fixed-width fields, the way chain formats are usually laid out.
 */
import { hashToBytes, type Hash } from './sha256.ts';

export class ByteWriter {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  u8(value: number): this {
    this.reserve(1).setUint8(this.length, value);
    this.length += 1;
    return this;
  }

  u16(value: number): this {
    this.reserve(2).setUint16(this.length, value);
    this.length += 2;
    return this;
  }

  u32(value: number): this {
    this.reserve(4).setUint32(this.length, value);
    this.length += 4;
    return this;
  }

  /** Milliseconds since the epoch: an integer, exact in a float64 for the next 285,000 years. */
  f64(value: number): this {
    this.reserve(8).setFloat64(this.length, value);
    this.length += 8;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
    return this;
  }

  hash(value: Hash): this {
    return this.bytes(hashToBytes(value));
  }

  /** The bytes written so far (a copy the caller owns). */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  private reserve(extra: number): DataView {
    if (this.length + extra > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extra));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    return this.view;
  }
}
