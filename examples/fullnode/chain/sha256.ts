/**
 * Hashes as the chain uses them: SHA-256, written as 64 lowercase hex characters
 * everywhere above the byte encodings (storage keys, protocol payloads, the HTTP API).
 */
import { hash as digest } from 'node:crypto';
import { Buffer } from 'node:buffer';

/** A SHA-256 hash as 64 lowercase hex characters. */
export type Hash = string;

const HASH_PATTERN = /^[0-9a-f]{64}$/;

export function sha256(data: Uint8Array): Uint8Array {
  return digest('sha256', data, 'buffer');
}

export function sha256Hex(data: Uint8Array): Hash {
  return digest('sha256', data, 'hex');
}

export function isHash(value: unknown): value is Hash {
  return typeof value === 'string' && HASH_PATTERN.test(value);
}

export function hashToBytes(hash: Hash): Uint8Array {
  return Buffer.from(hash, 'hex');
}

export function bytesToHash(bytes: Uint8Array): Hash {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
