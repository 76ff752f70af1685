/**
 * The JSON payloads of the protocol and their validation. Everything here comes from a
 * peer, so every field is checked; a bad one is a `ProtocolViolation`.
 */
import { Buffer } from 'node:buffer';
import { isHash, type Hash } from '../chain/sha256.ts';
import { StreamEnd, type StreamEndCode } from './commands.ts';
import { ProtocolViolation } from './protocol-violation.ts';

export interface HelloPayload {
  app: string;
  network: string;
  genesis: Hash;
  /** The sender's clock, ms since the epoch. */
  timestamp: number;
  capabilities: string[];
  syncVersions: string[];
}

export interface PeerIdPayload {
  /** 32 random bytes, hex: the peer's identity (no keys in this example). */
  id: string;
  entrypoints: string[];
}

export interface BestBlockPayload {
  block: Hash;
  height: number;
}

export interface NextBlocksRequest {
  start: Hash;
  end: Hash;
  quantity: number;
}

/** At most this many heights per GET-PEER-BLOCK-HASHES. */
export const MAX_HASH_QUERIES = 20;

function json(payload: string, what: string): Record<string, unknown> | unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new ProtocolViolation(`${what}: payload is not JSON`);
  }
  if (value === null || typeof value !== 'object') throw new ProtocolViolation(`${what}: payload is not an object or array`);
  return value as Record<string, unknown> | unknown[];
}

function object(payload: string, what: string): Record<string, unknown> {
  const value = json(payload, what);
  if (Array.isArray(value)) throw new ProtocolViolation(`${what}: payload is not an object`);
  return value;
}

function height(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 0xffff_ffff) throw new ProtocolViolation(`${what}: bad height ${String(value)}`);
  return value;
}

function hash(value: unknown, what: string): Hash {
  if (!isHash(value)) throw new ProtocolViolation(`${what}: bad hash ${JSON.stringify(value)}`);
  return value;
}

function strings(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new ProtocolViolation(`${what}: expected a list of strings`);
  return value as string[];
}

export function parseHello(payload: string): HelloPayload {
  const o = object(payload, 'HELLO');
  if (typeof o.app !== 'string' || typeof o.network !== 'string') throw new ProtocolViolation('HELLO: app and network must be strings');
  if (typeof o.timestamp !== 'number' || !Number.isFinite(o.timestamp)) throw new ProtocolViolation('HELLO: bad timestamp');
  return {
    app: o.app,
    network: o.network,
    genesis: hash(o.genesis, 'HELLO genesis'),
    timestamp: o.timestamp,
    capabilities: strings(o.capabilities, 'HELLO capabilities'),
    syncVersions: strings(o.syncVersions, 'HELLO syncVersions'),
  };
}

export function parsePeerId(payload: string): PeerIdPayload {
  const o = object(payload, 'PEER-ID');
  return { id: hash(o.id, 'PEER-ID id'), entrypoints: strings(o.entrypoints, 'PEER-ID entrypoints') };
}

export function parseBestBlock(payload: string): BestBlockPayload {
  const o = object(payload, 'BEST-BLOCK');
  return { block: hash(o.block, 'BEST-BLOCK'), height: height(o.height, 'BEST-BLOCK') };
}

export function parseHashQuery(payload: string): number[] {
  const list = json(payload, 'GET-PEER-BLOCK-HASHES');
  if (!Array.isArray(list) || list.length > MAX_HASH_QUERIES) throw new ProtocolViolation(`GET-PEER-BLOCK-HASHES: expected at most ${MAX_HASH_QUERIES} heights`);
  return list.map((h) => height(h, 'GET-PEER-BLOCK-HASHES'));
}

/** PEER-BLOCK-HASHES: `[[height, hash], …]` for the asked heights the peer has. */
export function parseHashAnswer(payload: string): Map<number, Hash> {
  const list = json(payload, 'PEER-BLOCK-HASHES');
  if (!Array.isArray(list) || list.length > MAX_HASH_QUERIES) throw new ProtocolViolation('PEER-BLOCK-HASHES: expected a list of [height, hash]');
  const answer = new Map<number, Hash>();
  for (const pair of list) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new ProtocolViolation('PEER-BLOCK-HASHES: expected a list of [height, hash]');
    answer.set(height(pair[0], 'PEER-BLOCK-HASHES'), hash(pair[1], 'PEER-BLOCK-HASHES'));
  }
  return answer;
}

export function parseNextBlocksRequest(payload: string): NextBlocksRequest {
  const o = object(payload, 'GET-NEXT-BLOCKS');
  const quantity = o.quantity;
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 1) throw new ProtocolViolation('GET-NEXT-BLOCKS: bad quantity');
  return { start: hash(o.start_hash, 'GET-NEXT-BLOCKS start_hash'), end: hash(o.end_hash, 'GET-NEXT-BLOCKS end_hash'), quantity };
}

export function formatNextBlocksRequest(request: NextBlocksRequest): string {
  return JSON.stringify({ start_hash: request.start, end_hash: request.end, quantity: request.quantity });
}

const STREAM_END_CODES = new Set<string>(Object.values(StreamEnd));

export function parseStreamEnd(payload: string): StreamEndCode {
  if (!STREAM_END_CODES.has(payload)) throw new ProtocolViolation(`BLOCKS-END: unknown code ${JSON.stringify(payload.slice(0, 40))}`);
  return payload as StreamEndCode;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** BLOCKS and DATA carry one block, base64. */
export function parseBlockBytes(payload: string, what: string): Uint8Array {
  if (payload.length % 4 !== 0 || !BASE64.test(payload)) throw new ProtocolViolation(`${what}: payload is not base64`);
  return Buffer.from(payload, 'base64');
}

export function formatBlockBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
