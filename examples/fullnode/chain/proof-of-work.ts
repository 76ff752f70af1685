/**
 * The proof of work: the header's sha256, hashed again `iterations - 1` times, must
 * start with `difficultyBits` zero bits. Iterating makes *verifying* cost real CPU
 * (~0.3–1 ms a block with the default parameters), which is what a real node spends
 * per vertex on verification and what the agent takes off the node's thread. Mining
 * costs about 2^difficultyBits verifications.
 */
import { hash as digest } from 'node:crypto';
import type { BlockHeader } from './block.ts';
import { encodeHeader } from './block.ts';
import type { NetworkParams } from './network-params.ts';

export type ProofOfWorkParams = Pick<NetworkParams, 'powIterations' | 'difficultyBits'>;

/** The work hash of a header's bytes. */
export function workHash(header: Uint8Array, iterations: number): Uint8Array {
  let value = digest('sha256', header, 'buffer');
  for (let i = 1; i < iterations; i++) value = digest('sha256', value, 'buffer');
  return value;
}

/** True if `hash` starts with at least `bits` zero bits. */
export function meetsTarget(hash: Uint8Array, bits: number): boolean {
  let byte = 0;
  for (; bits >= 8; bits -= 8) if (hash[byte++] !== 0) return false;
  return bits === 0 || hash[byte] >> (8 - bits) === 0;
}

/** The stateless check an agent runs on every block a peer sends. */
export function hasValidProofOfWork(header: Uint8Array, params: ProofOfWorkParams): boolean {
  return meetsTarget(workHash(header, params.powIterations), params.difficultyBits);
}

/** Finds a nonce that makes `header` meet the target (for generated chains). */
export function mine(header: Omit<BlockHeader, 'nonce'>, params: ProofOfWorkParams): BlockHeader {
  for (let nonce = 0; nonce <= 0xffff_ffff; nonce++) {
    const candidate = { ...header, nonce };
    if (hasValidProofOfWork(encodeHeader(candidate), params)) return candidate;
  }
  throw new RangeError('no nonce meets the target; lower difficultyBits');
}
