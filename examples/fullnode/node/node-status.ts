/**
 * What `GET /status` answers.
 */
import type { Isolation } from 'agent-ipc';
import type { Hash } from '../chain/sha256.ts';
import type { PeerStatus } from './peer-registry.ts';

export interface NodeStatus {
  height: number;
  bestBlock: Hash;
  peers: PeerStatus[];
  /** Where peer connections run: `inline` (on the node's thread), `thread` or `process`. */
  p2p: Isolation;
  peerId: string;
  network: string;
}
