/**
 * Reads the binary encodings of blocks and transactions. Every read is bounds-checked
 * and throws `DecodeError`: these bytes come from peers.
 */
import { DecodeError } from './decode-error.ts';
import { bytesToHash, type Hash } from './sha256.ts';

export class ByteReader {
  private readonly view: DataView;
  private offset = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u16(): number {
    return this.view.getUint16(this.take(2));
  }

  u32(): number {
    return this.view.getUint32(this.take(4));
  }

  f64(): number {
    return this.view.getFloat64(this.take(8));
  }

  bytes(length: number): Uint8Array {
    const at = this.take(length);
    return this.data.subarray(at, at + length);
  }

  hash(): Hash {
    return bytesToHash(this.bytes(32));
  }

  /** Throws unless every byte was consumed: trailing bytes would make two encodings of one value. */
  end(): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.what}: ${this.remaining} trailing bytes`);
  }

  private take(length: number): number {
    if (this.offset + length > this.data.length) {
      throw new DecodeError(`${this.what}: truncated (needs ${length} bytes at offset ${this.offset}, has ${this.data.length - this.offset})`);
    }
    const at = this.offset;
    this.offset += length;
    return at;
  }
}
