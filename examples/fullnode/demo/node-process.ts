/**
 * A full node running as its own OS process (the CLI, built: see built-node.ts), as
 * two real nodes would: the demo and the benchmark start one to sync from and one that syncs, so the
 * serving node's work never lands on the syncing node's thread.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { builtFullNode } from './built-node.ts';


export interface NodeProcessOptions {
  args: string[];
  /** How long to wait for the `online:` line (mining a big chain takes a while). */
  startTimeoutMs?: number;
  /** Called with each line the node prints on stdout. */
  onLine?: (line: string) => void;
}

export class NodeProcess {
  private readonly output: string[] = [];
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  /** Starts the built node (see built-node.ts) with `args`; resolves once it printed `online:`. */
  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const main = await builtFullNode();
    // A plain node, as deployed: no tsx, and the bench's own flags are not passed on.
    const child = spawn(process.execPath, [main, '--log-level', 'warn', ...options.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const node = new NodeProcess(child);
    let buffer = '';
    let online!: () => void;
    const isOnline = new Promise<void>((resolve) => (online = resolve));
    const onText = (text: string): void => {
      buffer += text;
      let at: number;
      while ((at = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        node.output.push(line);
        options.onLine?.(line);
        if (line.startsWith('online:')) online();
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onText);
    child.stderr!.setEncoding('utf8').on('data', (text: string) => node.output.push(...text.trimEnd().split('\n')));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        isOnline,
        node.exited.then((code) => {
          throw new Error(`the node exited with code ${code} before going online:\n${node.output.slice(-10).join('\n')}`);
        }),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the node did not go online in time')), options.startTimeoutMs ?? 60_000))),
      ]);
    } catch (error) {
      await node.stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return node;
  }

  /** Everything the node printed so far. */
  get log(): readonly string[] {
    return this.output;
  }

  /** SIGTERM (the node's clean shutdown), SIGKILL if it is not gone within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }
}
