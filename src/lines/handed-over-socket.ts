/**
 * The node's stand-in for a socket it hands to its process agent (`handOffSockets`).
 * Until the hand-over the node holds the socket without reading it (accepted with
 * `pauseOnConnect`, or paused before an outbound connect completed), so not one byte is
 * read on the wrong side. After it, the agent frames, reads and writes the socket, and
 * this carrier only keeps the connection's ending for the node: the reason the agent
 * reported, or the node's own (the server closes, the agent died).
 */
import type { Socket } from 'node:net';
import { ConnectionClosedError, ProtocolError } from '../errors.ts';
import { LineCarrier, type CarrierEvents } from './shared/line-carrier.ts';

/** A socket the node gives to its agent. */
export class HandedOverSocket extends LineCarrier {
  readonly closed: Promise<void>;
  private owned = true;
  private released!: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly id: number,
    events: CarrierEvents,
  ) {
    super(events);
    const closed = new Promise<void>((resolve) => (this.released = resolve));
    socket.once('close', () => this.released());
    this.closed = closed;
    // Before the hand-over a reset still reaches the node: it fails the connection.
    socket.on('error', this.onError);
  }

  /**
   * Gives the socket to the agent with `send`. Afterwards the node holds nothing of it:
   * its copy of the descriptor is closed once the message carrying it was written.
   */
  async handOver(send: (socket: Socket) => Promise<void>): Promise<void> {
    if (this.socket.destroyed) throw new ConnectionClosedError(`the socket of connection ${this.id} closed before it could be handed over`);
    await send(this.socket);
    this.owned = false;
    this.socket.off('error', this.onError);
    // The message in flight holds the descriptor now: the node's copy is closed at once
    // (sent with keepOpen), so that if the agent dies before taking it the kernel closes
    // the connection with the agent's end of the channel.
    this.socket.destroy();
    this.released();
  }

  /** The agent writes to its socket itself; lines sent to the node mean a broken agent. */
  write(lines: readonly string[]): void {
    if (lines.length > 0) this.fail(new ProtocolError(`the agent sent lines through the node for handed-off connection ${this.id}`));
  }

  closeGracefully(): void {
    // A socket never handed over was never read or written: nothing to flush.
    this.destroy();
  }

  destroy(): void {
    if (this.owned && !this.socket.destroyed) this.socket.destroy();
  }

  /** The agent closes the connection and reports it; nothing is delivered here. */
  protected nothingOwed(): boolean {
    return false;
  }

  protected flow(): void {}

  protected dropPending(): void {}

  private readonly onError = (error: Error): void => this.fail(error);
}
