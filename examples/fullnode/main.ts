/**
 * The reference full node's command line: `npm run fullnode -- --help`.
 *
 *   npm run fullnode -- --generate-blocks 2000
 *   npm run fullnode -- --port 40404 --http-port 8081 --bootstrap 127.0.0.1:40403 --p2p-multiprocess
 *
 * Prints one `online:` line when it is ready (the demo waits for it), a progress line
 * while syncing, and stops cleanly on SIGINT / SIGTERM (a second signal forces it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pino } from 'pino';
import { parseCliArgs, UsageError, USAGE, type CliOptions } from './cli/cli-options.ts';
import { SyncProgress } from './cli/sync-progress.ts';
import { FullNode } from './node/full-node.ts';

/** How long a clean stop may take before the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;

function options(): CliOptions {
  try {
    return parseCliArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`fullnode: ${error.message}\nrun with --help for the options\n`);
    process.exit(2);
  }
}

function explain(error: unknown, cli: CliOptions): string {
  const e = error as NodeJS.ErrnoException & { port?: number };
  if (e?.code === 'EADDRINUSE') {
    return `port ${e.port ?? '?'} is in use (P2P is --port ${cli.port}, HTTP is --http-port ${cli.httpPort}; 0 picks a free one)`;
  }
  if (e?.code === 'EADDRNOTAVAIL') return `cannot listen on --host ${cli.host}`;
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<void> {
  const cli = options();
  if (cli.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const logger = pino({ level: cli.logLevel, base: { node: 'fullnode' } }, pino.destination(2));
  const temporary = cli.dataDir === null;
  const dataDir = cli.dataDir ?? mkdtempSync(path.join(tmpdir(), 'fullnode-'));
  const removeTemporary = (): void => {
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
  };

  const abort = new AbortController();
  let starting: Promise<unknown> = Promise.resolve();
  let node: FullNode | undefined;
  const progress = new SyncProgress(process.stdout);
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      process.stderr.write(`fullnode: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`fullnode: ${signal}, stopping…\n`);
    abort.abort(new Error(signal));
    progress.stop();
    const forced = setTimeout(() => {
      process.stderr.write(`fullnode: not stopped after ${STOP_TIMEOUT_MS / 1000} s, exiting\n`);
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    forced.unref();
    // A signal during start-up: the start aborts and stops what it opened.
    await starting.catch(() => undefined);
    await node?.stop();
    removeTemporary();
    process.stderr.write('fullnode: stopped\n');
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  process.stdout.write(`data dir: ${dataDir}${temporary ? ' (temporary)' : ''}\n`);
  const generating = cli.generateBlocks;
  let lastShown = 0;
  try {
    const start = FullNode.start({
      dataDir,
      host: cli.host,
      port: cli.port,
      httpPort: cli.httpPort,
      bootstrap: cli.bootstrap,
      p2p: cli.p2p,
      agents: cli.agents,
      agentPriority: cli.agentPriority,
      logger,
      signal: abort.signal,
      generateBlocks: generating,
      onGenerated: (height, done) => {
        if (done === generating || Date.now() - lastShown > 1000) {
          lastShown = Date.now();
          process.stdout.write(`generated ${done.toLocaleString('en-US')} / ${generating.toLocaleString('en-US')} blocks (height ${height.toLocaleString('en-US')})\n`);
        }
      },
    });
    starting = start;
    node = await start;
  } catch (error) {
    if (abort.signal.aborted) return; // stopped by a signal while starting: `stop` cleans up
    removeTemporary();
    process.stderr.write(`fullnode: ${explain(error, cli)}\n`);
    process.exitCode = 1;
    return;
  }
  if (stopping) return;
  const status = node.status();
  process.stdout.write(
    `online: peer ${status.peerId.slice(0, 16)}…, height ${status.height}, ` +
      `p2p tcp://${node.p2pAddress.address}:${node.p2pAddress.port} (${node.p2p}), http http://${cli.host}:${node.httpPort}\n`,
  );
  progress.start(node);
}

main().catch((error: unknown) => {
  process.stderr.write(`fullnode: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
