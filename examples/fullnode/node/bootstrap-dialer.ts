/**
 * Keeps the node connected to its bootstrap peers: connects at start, retries a failed
 * attempt and reconnects a lost connection, backing off from 1 s to 10 s. The back-off
 * is reset only by a connection that lasted: a peer that accepts TCP and then refuses
 * the handshake is not redialled every second.
 */
import type { Logger } from 'pino';
import type { LineServer } from 'agent-ipc/lines';

export interface PeerEndpoint {
  host: string;
  port: number;
}

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 10_000;

export class BootstrapDialer {
  private readonly byConnection = new Map<number, { endpoint: PeerEndpoint; since: number }>();
  private readonly delays = new Map<PeerEndpoint, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly onDisconnect = (info: { id: number }): void => {
    const entry = this.byConnection.get(info.id);
    if (!entry) return;
    this.byConnection.delete(info.id);
    if (Date.now() - entry.since >= MAX_DELAY_MS) this.delays.delete(entry.endpoint);
    this.later(entry.endpoint);
  };

  constructor(
    private readonly server: LineServer,
    private readonly endpoints: readonly PeerEndpoint[],
    private readonly log: Logger | undefined,
  ) {}

  start(): void {
    this.server.on('disconnect', this.onDisconnect);
    for (const endpoint of this.endpoints) void this.dial(endpoint);
  }

  stop(): void {
    this.stopped = true;
    this.server.off('disconnect', this.onDisconnect);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async dial(endpoint: PeerEndpoint): Promise<void> {
    if (this.stopped) return;
    try {
      const info = await this.server.connect(endpoint.port, endpoint.host);
      this.byConnection.set(info.id, { endpoint, since: Date.now() });
      this.log?.info({ peer: `${endpoint.host}:${endpoint.port}`, connection: info.id }, 'connected to bootstrap peer');
    } catch (error) {
      if (this.stopped) return;
      this.log?.warn({ peer: `${endpoint.host}:${endpoint.port}`, reason: (error as Error).message }, 'bootstrap peer unreachable');
      this.later(endpoint);
    }
  }

  private later(endpoint: PeerEndpoint): void {
    if (this.stopped) return;
    const delay = this.delays.get(endpoint) ?? FIRST_DELAY_MS;
    this.delays.set(endpoint, Math.min(delay * 2, MAX_DELAY_MS));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.dial(endpoint);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}
