/**
 * A worker thread for a benchmark case. The one thing it adds to `Worker`: a run that
 * is waiting on the worker fails as soon as the worker dies (`guard`), instead of
 * waiting forever for an answer that will never come, and an uncaught error inside the
 * worker becomes that failure's message instead of crashing the whole bench process.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

const bootstrap = new URL('./worker-bootstrap.mjs', import.meta.url);

export class BenchWorker {
  readonly worker: Worker;
  private lastError: Error | undefined;
  /** Rejects when the worker exits, for whatever reason. Never resolves. */
  private readonly death: Promise<never>;

  /** `url` is the worker's `.ts` entry; it is started through worker-bootstrap.mjs. */
  constructor(url: URL, options: WorkerOptions) {
    this.worker = new Worker(bootstrap, { ...options, argv: [...(options.argv ?? []), url.href] });
    this.worker.on('error', (error) => {
      this.lastError = error;
    });
    this.death = new Promise<never>((_, reject) => {
      this.worker.once('exit', (code) => {
        const why = this.lastError ? `: ${this.lastError.message}` : '';
        reject(new Error(`worker ${url.pathname.split('/').pop() ?? ''} exited with code ${code}${why}`));
      });
    });
    // Nobody may be guarding when the worker exits (e.g. after teardown): not an error.
    this.death.catch(() => {});
  }

  /** `promise`, unless the worker dies first. */
  guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.death]);
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}
