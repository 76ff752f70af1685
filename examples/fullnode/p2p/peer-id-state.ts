/**
 * Second state: both sides send PEER-ID; each asks its node whether that peer is
 * welcome (not itself, not already connected), answers READY, and moves on to READY
 * once the peer's READY arrives too.
 */
import { Command } from './commands.ts';
import { parsePeerId } from './payloads.ts';
import type { PeerConnection } from './peer-connection.ts';
import type { ProtocolState } from './protocol-state.ts';
import { ProtocolViolation } from './protocol-violation.ts';
import { ReadyState } from './ready-state.ts';

export class PeerIdState implements ProtocolState {
  readonly name = 'PEER-ID';
  readonly handlers = new Map<string, (payload: string) => void>([
    [Command.PEER_ID, (payload) => this.onPeerId(payload)],
    [Command.READY, () => this.onReady()],
  ]);

  constructor(private readonly peer: PeerConnection) {}

  enter(): void {
    const entrypoints = this.peer.node.entrypoints();
    this.peer.send(Command.PEER_ID, JSON.stringify({ id: this.peer.settings.peerId, entrypoints }));
  }

  private onPeerId(payload: string): void {
    if (this.peer.peerId !== null) throw new ProtocolViolation('PEER-ID sent twice');
    const hello = parsePeerId(payload);
    const verdict = this.peer.node.peerReady(this.peer.conn.id, hello);
    if (!verdict.accepted) throw new ProtocolViolation(`peer refused: ${verdict.reason ?? 'no reason'}`);
    this.peer.peerId = hello.id;
    this.peer.send(Command.READY);
  }

  private onReady(): void {
    // The peer sends its PEER-ID before its READY, and we answered that PEER-ID with ours.
    if (this.peer.peerId === null) throw new ProtocolViolation('READY before PEER-ID');
    this.peer.changeState(new ReadyState(this.peer));
  }
}
