/**
 * Transactions: outputs hold amounts for addresses; inputs spend earlier outputs by
 * (txid, index). The first transaction of a block is its coinbase (no inputs), which
 * carries the block's height so that every coinbase has a distinct id.
 *
 * Encoding (big-endian):
 *   version u8 · lockHeight u32 · inputCount u8 · (txid[32] · index u8)* ·
 *   outputCount u8 · (amount u32 · address[20])*
 *
 * Scripts and signatures are left out: they add CPU cost, which the proof of work
 * already provides, and nothing the IPC layer cares about.
 */
import { Buffer } from 'node:buffer';
import { ByteReader } from './byte-reader.ts';
import { ByteWriter } from './byte-writer.ts';
import { DecodeError } from './decode-error.ts';
import { sha256Hex, type Hash } from './sha256.ts';

export const TX_VERSION = 1;
export const ADDRESS_BYTES = 20;
export const MAX_INPUTS = 255;
export const MAX_OUTPUTS = 255;

export interface TxInput {
  /** The transaction whose output is spent. */
  txid: Hash;
  /** Which of its outputs. */
  index: number;
}

export interface TxOutput {
  amount: number;
  /** 20 bytes, hex. */
  address: string;
}

export interface Transaction {
  /** sha256 of the encoding. */
  txid: Hash;
  /** The block height for a coinbase; 0 otherwise. */
  lockHeight: number;
  inputs: TxInput[];
  outputs: TxOutput[];
  /** The encoding the txid was computed from. */
  bytes: Uint8Array;
}

export type TransactionFields = Pick<Transaction, 'lockHeight' | 'inputs' | 'outputs'>;

export function isCoinbase(tx: Pick<Transaction, 'inputs'>): boolean {
  return tx.inputs.length === 0;
}

export function encodeTransaction(fields: TransactionFields): Transaction {
  if (fields.inputs.length > MAX_INPUTS || fields.outputs.length > MAX_OUTPUTS) throw new RangeError('too many inputs or outputs');
  const writer = new ByteWriter().u8(TX_VERSION).u32(fields.lockHeight).u8(fields.inputs.length);
  for (const input of fields.inputs) writer.hash(input.txid).u8(input.index);
  writer.u8(fields.outputs.length);
  for (const output of fields.outputs) writer.u32(output.amount).bytes(Buffer.from(output.address, 'hex'));
  const bytes = writer.finish();
  return { ...fields, txid: sha256Hex(bytes), bytes };
}

export function decodeTransaction(bytes: Uint8Array): Transaction {
  const reader = new ByteReader(bytes, 'transaction');
  const version = reader.u8();
  if (version !== TX_VERSION) throw new DecodeError(`transaction: unknown version ${version}`);
  const lockHeight = reader.u32();
  const inputs: TxInput[] = [];
  for (let n = reader.u8(); n > 0; n--) inputs.push({ txid: reader.hash(), index: reader.u8() });
  const outputs: TxOutput[] = [];
  for (let n = reader.u8(); n > 0; n--) {
    const amount = reader.u32();
    outputs.push({ amount, address: Buffer.from(reader.bytes(ADDRESS_BYTES)).toString('hex') });
  }
  reader.end();
  return { txid: sha256Hex(bytes), lockHeight, inputs, outputs, bytes };
}
