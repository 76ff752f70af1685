/**
 * PING every `pingIntervalMs`; a peer silent for `idleTimeoutMs` (no line at all) is
 * dropped.
 */
import { Command } from './commands.ts';
import type { PeerConnection } from './peer-connection.ts';
import { ProtocolViolation } from './protocol-violation.ts';

export class Keepalive {
  readonly handlers = new Map<string, (payload: string) => void>([
    [Command.PING, () => this.peer.send(Command.PONG)],
    [Command.PONG, () => undefined],
  ]);
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly peer: PeerConnection) {}

  start(): void {
    const { pingIntervalMs, idleTimeoutMs } = this.peer.settings;
    this.timer = setInterval(() => {
      if (Date.now() - this.peer.lastReceived > idleTimeoutMs) this.peer.fail(new ProtocolViolation(`idle for ${idleTimeoutMs} ms`));
      else this.peer.send(Command.PING);
    }, pingIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
