/**
 * The working state: liveness, block sync in both directions, and relay. Each part owns
 * its commands; this state merges them and starts and stops the parts.
 */
import { BlockQueries } from './block-queries.ts';
import { BlockStreamer } from './block-streamer.ts';
import { BlockSync } from './block-sync.ts';
import { Keepalive } from './keepalive.ts';
import type { PeerConnection } from './peer-connection.ts';
import type { ProtocolState } from './protocol-state.ts';
import { RelayForwarder } from './relay-forwarder.ts';

export class ReadyState implements ProtocolState {
  readonly name = 'READY';
  readonly handlers: ReadonlyMap<string, (payload: string) => void>;
  private readonly keepalive: Keepalive;
  private readonly sync: BlockSync;
  private readonly streamer: BlockStreamer;
  private readonly relay: RelayForwarder;

  constructor(peer: PeerConnection) {
    this.keepalive = new Keepalive(peer);
    this.sync = new BlockSync(peer);
    this.streamer = new BlockStreamer(peer);
    this.relay = new RelayForwarder(peer, this.sync);
    this.handlers = new Map([...this.keepalive.handlers, ...new BlockQueries(peer).handlers, ...this.streamer.handlers, ...this.sync.handlers, ...this.relay.handlers]);
  }

  enter(): void {
    this.keepalive.start();
    this.relay.start();
    this.sync.start();
  }

  leave(): void {
    this.keepalive.stop();
    this.sync.stop();
    this.streamer.stop();
    this.relay.stop();
  }
}
