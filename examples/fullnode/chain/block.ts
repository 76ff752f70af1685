/**
 * Blocks: a fixed 85-byte header, then the transactions.
 *
 * Encoding (big-endian):
 *   header: version u8 · height u32 · parent[32] · timestamp f64 (ms) · txRoot[32] · nonce u32
 *   body:   txCount u16 · (length u32 · transaction)*
 *
 * The block's id is sha256(header): cheap, so the node can bind bytes to an id without
 * redoing the proof of work (see proof-of-work.ts for what costs CPU). `txRoot` is
 * sha256 of the concatenated txids, which commits the header to the body.
 */
import { ByteReader } from './byte-reader.ts';
import { ByteWriter } from './byte-writer.ts';
import { DecodeError } from './decode-error.ts';
import { hashToBytes, sha256Hex, type Hash } from './sha256.ts';
import { decodeTransaction, type Transaction } from './transaction.ts';

export const BLOCK_VERSION = 1;
export const HEADER_BYTES = 85;
export const MAX_BLOCK_TRANSACTIONS = 1000;

export interface BlockHeader {
  height: number;
  parent: Hash;
  /** Milliseconds since the epoch. */
  timestamp: number;
  txRoot: Hash;
  nonce: number;
}

export interface Block extends BlockHeader {
  /** sha256 of the header. */
  hash: Hash;
  transactions: Transaction[];
  header: Uint8Array;
  /** The whole encoding, as stored and sent. */
  bytes: Uint8Array;
}

export function encodeHeader(header: BlockHeader): Uint8Array {
  return new ByteWriter().u8(BLOCK_VERSION).u32(header.height).hash(header.parent).f64(header.timestamp).hash(header.txRoot).u32(header.nonce).finish();
}

export function transactionRoot(transactions: readonly Pick<Transaction, 'txid'>[]): Hash {
  const all = new Uint8Array(32 * transactions.length);
  transactions.forEach((tx, i) => all.set(hashToBytes(tx.txid), 32 * i));
  return sha256Hex(all);
}

/** Assembles a block from a header (whose `txRoot` must match) and its transactions. */
export function encodeBlock(header: BlockHeader, transactions: Transaction[]): Block {
  const headerBytes = encodeHeader(header);
  const writer = new ByteWriter().bytes(headerBytes).u16(transactions.length);
  for (const tx of transactions) writer.u32(tx.bytes.length).bytes(tx.bytes);
  return { ...header, hash: sha256Hex(headerBytes), transactions, header: headerBytes, bytes: writer.finish() };
}

/** Stateless decoding: structure, versions and the header's commitment to the body. */
export function decodeBlock(bytes: Uint8Array): Block {
  const reader = new ByteReader(bytes, 'block');
  const version = reader.u8();
  if (version !== BLOCK_VERSION) throw new DecodeError(`block: unknown version ${version}`);
  const height = reader.u32();
  const parent = reader.hash();
  const timestamp = reader.f64();
  const txRoot = reader.hash();
  const nonce = reader.u32();
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new DecodeError(`block: bad timestamp ${timestamp}`);
  const header = bytes.subarray(0, reader.position);
  const count = reader.u16();
  if (count > MAX_BLOCK_TRANSACTIONS) throw new DecodeError(`block: ${count} transactions (at most ${MAX_BLOCK_TRANSACTIONS})`);
  const transactions: Transaction[] = [];
  for (let i = 0; i < count; i++) transactions.push(decodeTransaction(reader.bytes(reader.u32())));
  reader.end();
  if (transactionRoot(transactions) !== txRoot) throw new DecodeError('block: txRoot does not match its transactions');
  return { height, parent, timestamp, txRoot, nonce, hash: sha256Hex(header), transactions, header, bytes };
}
