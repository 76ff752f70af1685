/**
 * Mines blocks with transactions on top of a tip, for `--generate-blocks`, the demo and
 * the tests. It keeps a wallet of the outputs it created and spends them in later
 * blocks, so validating a generated block reads storage once per input, like a real
 * chain's does. Shape (per block): a coinbase and 0–6 transactions of 1–3 inputs.
 */
import { encodeBlock, transactionRoot, type Block } from './block.ts';
import type { BlockMeta } from './block-meta.ts';
import type { NetworkParams } from './network-params.ts';
import { mine } from './proof-of-work.ts';
import { SeededRandom } from './seeded-random.ts';
import { sha256Hex, type Hash } from './sha256.ts';
import { ADDRESS_BYTES, encodeTransaction, type Transaction, type TxOutput } from './transaction.ts';

const MAX_TRANSACTIONS = 6;
const MAX_INPUTS = 3;
const MAX_OUTPUTS = 3;
const FEE = 1;

interface Spendable {
  txid: Hash;
  index: number;
  amount: number;
}

const ADDRESSES = Array.from({ length: 16 }, (_, i) => sha256Hex(new TextEncoder().encode(`wallet ${i}`)).slice(0, 2 * ADDRESS_BYTES));

export class ChainGenerator {
  private readonly random: SeededRandom;
  private wallet: Spendable[] = [];

  constructor(
    private readonly params: NetworkParams,
    seed = 1,
  ) {
    this.random = new SeededRandom(seed);
  }

  /** Mines the block after `parent`. Call `next` again with the block's meta for the one after. */
  next(parent: BlockMeta, now = Date.now()): Block {
    const height = parent.height + 1;
    const transactions: Transaction[] = [];
    let fees = 0;
    const count = this.random.int(0, MAX_TRANSACTIONS);
    for (let i = 0; i < count && this.wallet.length > 0; i++) {
      const inputs = this.take(this.random.int(1, MAX_INPUTS));
      const total = inputs.reduce((sum, input) => sum + input.amount, 0);
      const tx = encodeTransaction({
        lockHeight: 0,
        inputs: inputs.map(({ txid, index }) => ({ txid, index })),
        outputs: this.split(total > FEE ? total - FEE : total),
      });
      fees += total - tx.outputs.reduce((sum, output) => sum + output.amount, 0);
      transactions.push(tx);
    }
    const coinbase = encodeTransaction({ lockHeight: height, inputs: [], outputs: [{ amount: this.params.blockReward + fees, address: this.address() }] });
    transactions.unshift(coinbase);
    for (const tx of transactions) tx.outputs.forEach((output, index) => this.wallet.push({ txid: tx.txid, index, amount: output.amount }));

    const timestamp = Math.max(now, parent.timestamp + 1);
    const header = mine({ height, parent: parent.hash, timestamp, txRoot: transactionRoot(transactions) }, this.params);
    return encodeBlock(header, transactions);
  }

  /** Removes `n` random outputs from the wallet. */
  private take(n: number): Spendable[] {
    const taken: Spendable[] = [];
    for (let i = 0; i < n && this.wallet.length > 0; i++) {
      const at = this.random.int(0, this.wallet.length - 1);
      taken.push(this.wallet[at]);
      this.wallet[at] = this.wallet[this.wallet.length - 1];
      this.wallet.pop();
    }
    return taken;
  }

  /** 1–3 outputs adding up to `total` (one output if it cannot be split). */
  private split(total: number): TxOutput[] {
    const parts = Math.min(this.random.int(1, MAX_OUTPUTS), total);
    const outputs: TxOutput[] = [];
    let left = total;
    for (let i = parts; i > 1; i--) {
      const amount = this.random.int(1, left - (i - 1));
      outputs.push({ amount, address: this.address() });
      left -= amount;
    }
    outputs.push({ amount: left, address: this.address() });
    return outputs;
  }

  private address(): string {
    return ADDRESSES[this.random.int(0, ADDRESSES.length - 1)];
  }
}
