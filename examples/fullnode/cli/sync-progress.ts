/**
 * The CLI's progress display: while the node is behind a peer, one line a second (in
 * place on a terminal, every few seconds in a log) with height, target and rate; one
 * line when it caught up.
 */
import type { FullNode } from '../node/full-node.ts';

const TICK_MS = 1000;
const LOG_EVERY_MS = 5000;

export class SyncProgress {
  private timer: NodeJS.Timeout | undefined;
  private syncingSince: { time: number; height: number } | undefined;
  private lastLogged = 0;
  private showing = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  start(node: FullNode): void {
    this.timer = setInterval(() => this.tick(node), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.clear();
  }

  private tick(node: FullNode): void {
    const height = node.storage.best.height;
    const target = node.peers.bestPeerHeight();
    const now = Date.now();
    if (target > height) {
      this.syncingSince ??= { time: now, height };
      const seconds = (now - this.syncingSince.time) / 1000;
      const rate = seconds > 0 ? (height - this.syncingSince.height) / seconds : 0;
      const pct = ((100 * height) / target).toFixed(1);
      this.show(`syncing: height ${height.toLocaleString('en-US')} / ${target.toLocaleString('en-US')} (${pct}%), ${Math.round(rate)} blocks/s, ${node.peers.list().length} peer(s)`, now);
    } else if (this.syncingSince) {
      const seconds = ((now - this.syncingSince.time) / 1000).toFixed(1);
      this.clear();
      this.out.write(`synced: height ${height.toLocaleString('en-US')} (best ${node.storage.best.hash.slice(0, 16)}…) after ${seconds} s\n`);
      this.syncingSince = undefined;
    }
  }

  private show(line: string, now: number): void {
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${line}`);
      this.showing = true;
    } else if (now - this.lastLogged >= LOG_EVERY_MS) {
      this.out.write(`${line}\n`);
      this.lastLogged = now;
    }
  }

  private clear(): void {
    if (this.showing) this.out.write('\r\x1b[K');
    this.showing = false;
  }
}
