/**
 * The node's view of its peers: which connections exist (from the line server's
 * events), which peer is behind each (from the handshake), and how their sync goes (from
 * the protocol's reports). Feeds `/status`, the CLI's progress line, and the one rule
 * the node enforces at handshake: one connection per peer, and never to itself.
 */
import type { LineConnectionInfo } from 'agent-ipc/lines';
import type { Hash } from '../chain/sha256.ts';

export interface PeerVerdict {
  accepted: boolean;
  reason?: string;
}

export interface PeerSyncReport {
  state: 'syncing' | 'synced';
  peerHeight: number;
  peerBest: Hash;
}

export interface PeerStatus {
  connection: number;
  address: string;
  direction: 'inbound' | 'outbound';
  /** The agent serving the connection (inline too: the library names every agent). */
  agent: string | null;
  /** The peer's id, once its PEER-ID arrived. */
  id: string | null;
  state: 'handshake' | 'ready' | 'syncing' | 'synced';
  /** The peer's best height, as last seen by the sync. */
  peerHeight: number | null;
}

export class PeerRegistry {
  private readonly peers = new Map<number, PeerStatus>();

  constructor(private readonly ownId: string) {}

  connected(info: LineConnectionInfo): void {
    this.peers.set(info.id, {
      connection: info.id,
      address: `${info.peer.address}:${info.peer.port}`,
      direction: info.direction,
      agent: info.agent ?? null,
      id: null,
      state: 'handshake',
      peerHeight: null,
    });
  }

  disconnected(connection: number): void {
    this.peers.delete(connection);
  }

  has(connection: number): boolean {
    return this.peers.has(connection);
  }

  ready(connection: number, hello: { id: string }): PeerVerdict {
    const peer = this.peers.get(connection);
    // A late call from a protocol whose connection is already gone.
    if (!peer) return { accepted: false, reason: 'the connection is closed' };
    if (hello.id === this.ownId) return { accepted: false, reason: 'connected to itself' };
    for (const other of this.peers.values()) {
      if (other.connection !== connection && other.id === hello.id) return { accepted: false, reason: `peer ${hello.id.slice(0, 12)}… is already connected` };
    }
    peer.id = hello.id;
    peer.state = 'ready';
    return { accepted: true };
  }

  syncState(connection: number, report: PeerSyncReport): void {
    const peer = this.peers.get(connection);
    if (!peer) return;
    peer.state = report.state;
    peer.peerHeight = report.peerHeight;
  }

  list(): PeerStatus[] {
    return [...this.peers.values()].map((peer) => ({ ...peer }));
  }

  /** The highest best height a peer reported, or -1. */
  bestPeerHeight(): number {
    let best = -1;
    for (const peer of this.peers.values()) if (peer.peerHeight !== null && peer.peerHeight > best) best = peer.peerHeight;
    return best;
  }
}
