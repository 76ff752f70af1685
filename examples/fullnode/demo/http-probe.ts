/**
 * Asks a node's `GET /status` every `intervalMs` over a keep-alive connection and records
 * how long each answer took: what a user of the node's API sees while it syncs. One
 * request at a time; a late answer delays the next request rather than piling up.
 */
import * as http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeStatus } from '../node/node-status.ts';

export class HttpProbe {
  readonly latenciesMs: number[] = [];
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private running = false;
  private loop: Promise<void> | undefined;
  private waiters: Array<{ test: (status: NodeStatus) => boolean; resolve: (status: NodeStatus) => void }> = [];
  /** Last answer. */
  status: NodeStatus | undefined;

  constructor(
    private readonly port: number,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Resolves with the first answer (from now on) for which `test` holds. */
  until(test: (status: NodeStatus) => boolean): Promise<NodeStatus> {
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  /** Clears the samples (keeps probing). */
  reset(): void {
    this.latenciesMs.length = 0;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.agent.destroy();
  }

  private async run(): Promise<void> {
    let next = performance.now();
    while (this.running) {
      const started = performance.now();
      try {
        this.status = await this.get();
        this.latenciesMs.push(performance.now() - started);
        const status = this.status;
        this.waiters = this.waiters.filter((waiter) => (waiter.test(status) ? (waiter.resolve(status), false) : true));
      } catch {
        // The node is starting or stopping: no sample.
      }
      next += this.intervalMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else next = performance.now();
    }
  }

  private get(): Promise<NodeStatus> {
    return new Promise((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port: this.port, path: '/status', agent: this.agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          try {
            resolve(JSON.parse(body) as NodeStatus);
          } catch (error) {
            reject(error as Error);
          }
        });
        response.on('error', reject);
      });
      request.on('error', reject);
    });
  }
}
