/**
 * First state: both sides send HELLO at once and check the other's — same network, same
 * genesis, a clock close enough, a sync version in common.
 */
import { Command } from './commands.ts';
import { parseHello } from './payloads.ts';
import type { PeerConnection } from './peer-connection.ts';
import { PeerIdState } from './peer-id-state.ts';
import { APP_NAME, SYNC_VERSION } from './protocol-settings.ts';
import type { ProtocolState } from './protocol-state.ts';
import { ProtocolViolation } from './protocol-violation.ts';

export class HelloState implements ProtocolState {
  readonly name = 'HELLO';
  readonly handlers = new Map([[Command.HELLO as string, (payload: string) => this.onHello(payload)]]);

  constructor(private readonly peer: PeerConnection) {}

  enter(): void {
    const { settings } = this.peer;
    this.peer.send(
      Command.HELLO,
      JSON.stringify({
        app: APP_NAME,
        network: settings.network.name,
        genesis: settings.genesis,
        timestamp: Date.now(),
        capabilities: ['sync-v2-style'],
        syncVersions: [SYNC_VERSION],
      }),
    );
  }

  private onHello(payload: string): void {
    const hello = parseHello(payload);
    const { settings } = this.peer;
    if (hello.network !== settings.network.name) throw new ProtocolViolation(`wrong network: ${hello.network} (ours is ${settings.network.name})`);
    if (hello.genesis !== settings.genesis) throw new ProtocolViolation(`different genesis block: ${hello.genesis}`);
    if (Math.abs(hello.timestamp - Date.now()) > settings.maxClockSkewMs) throw new ProtocolViolation('clocks differ too much');
    if (!hello.syncVersions.includes(SYNC_VERSION)) throw new ProtocolViolation(`no common sync version (peer has ${hello.syncVersions.join(', ')})`);
    this.peer.changeState(new PeerIdState(this.peer));
  }
}
