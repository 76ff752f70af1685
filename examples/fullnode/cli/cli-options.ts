/**
 * The command line of `npm run fullnode -- …`. Hand-parsed rather than with
 * `util.parseArgs` because `--p2p-multiprocess` takes an *optional* value, and every
 * mistake should get a message that names the flag and what it wants.
 */
import type { Isolation } from 'agent-ipc';
import type { PeerEndpoint } from '../node/bootstrap-dialer.ts';

export interface CliOptions {
  /** `null`: a fresh temporary directory, removed at exit. */
  dataDir: string | null;
  generateBlocks: number;
  host: string;
  port: number;
  httpPort: number;
  bootstrap: PeerEndpoint[];
  p2p: Isolation;
  /** `per-connection`, or a pool of agents started with the node. */
  agents: 'per-connection' | { pool: number };
  /** The agents' CPU priority (nice value); `undefined`: the node's default for them. */
  agentPriority: number | undefined;
  logLevel: string;
  help: boolean;
}

/** A bad command line; the message says what to fix. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage: npm run fullnode -- [options]

  --data-dir DIR            where the chain is stored (default: a temporary directory, removed at exit)
  --generate-blocks N       mine N blocks on the stored chain before going online
  --port P                  P2P port (default 40403; 0 picks a free one)
  --http-port P             HTTP API port (default 8080; 0 picks a free one)
  --host HOST               address to listen on (default 127.0.0.1)
  --bootstrap HOST:PORT …   peers to connect to (repeat the flag or list several)
  --p2p-multiprocess[=thread|process]
                            run each peer connection in an agent: a worker thread (the
                            default) or a child process; without the flag P2P runs inline
  --p2p-agents N            with --p2p-multiprocess: N agents started with the node, the
                            connections shared among them (default: an agent per
                            connection, started when the connection opens)
  --p2p-agent-priority N    with --p2p-multiprocess: the agents' CPU priority as a nice
                            value from 0 to 19 (default 10, below normal, so the node's
                            own thread comes first when cores are short; 0: the node's)
  --log-level LEVEL         fatal, error, warn, info (default), debug, trace or silent
  --help                    this text

HTTP API: GET /status, GET /block/:hash`;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const VALUE_FLAGS = ['--data-dir', '--generate-blocks', '--port', '--http-port', '--host', '--bootstrap', '--p2p-agents', '--p2p-agent-priority', '--log-level'];

function port(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`${flag} wants a port number from 0 to 65535, got '${value}'`);
  return n;
}

export function parseEndpoint(value: string): PeerEndpoint {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(value);
  if (!match) throw new UsageError(`--bootstrap wants HOST:PORT (e.g. 127.0.0.1:40403 or [::1]:40403), got '${value}'`);
  const p = port('--bootstrap', match[3]);
  if (p === 0) throw new UsageError(`--bootstrap wants a port from 1 to 65535, got '${value}'`);
  return { host: match[1] ?? match[2], port: p };
}

export function parseCliArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    dataDir: null,
    generateBlocks: 0,
    host: '127.0.0.1',
    port: 40403,
    httpPort: 8080,
    bootstrap: [],
    p2p: 'inline',
    agents: 'per-connection',
    agentPriority: undefined,
    logLevel: 'info',
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    const eq = token.indexOf('=');
    const flag = token.startsWith('--') && eq > 0 ? token.slice(0, eq) : token;
    const inline = token.startsWith('--') && eq > 0 ? token.slice(eq + 1) : undefined;

    if (flag === '--help' || flag === '-h') {
      options.help = true;
      continue;
    }
    if (flag === '--p2p-multiprocess') {
      if (inline === undefined) options.p2p = 'thread';
      else if (inline === 'thread' || inline === 'process') options.p2p = inline;
      else throw new UsageError(`--p2p-multiprocess takes 'thread' or 'process' (as --p2p-multiprocess=process), got '${inline}'`);
      continue;
    }
    if (!VALUE_FLAGS.includes(flag)) {
      if (!token.startsWith('-')) throw new UsageError(`unexpected argument '${token}' (flags start with --)`);
      throw new UsageError(`unknown flag ${flag} (known: ${[...VALUE_FLAGS, '--p2p-multiprocess', '--help'].join(', ')})`);
    }
    const values: string[] = [];
    if (inline !== undefined) values.push(inline);
    else {
      // --bootstrap takes every following value; the others take exactly one.
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--') && (values.length === 0 || flag === '--bootstrap')) values.push(argv[++i]);
    }
    if (values.length === 0 || values[0] === '') throw new UsageError(`${flag} needs a value`);
    const value = values[0];
    switch (flag) {
      case '--data-dir':
        options.dataDir = value;
        break;
      case '--generate-blocks':
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`--generate-blocks wants a whole number of blocks, got '${value}'`);
        options.generateBlocks = Number(value);
        break;
      case '--port':
        options.port = port(flag, value);
        break;
      case '--http-port':
        options.httpPort = port(flag, value);
        break;
      case '--host':
        options.host = value;
        break;
      case '--bootstrap':
        for (const endpoint of values) options.bootstrap.push(parseEndpoint(endpoint));
        break;
      case '--p2p-agents':
        if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64) throw new UsageError(`--p2p-agents wants a number of agents from 1 to 64, got '${value}'`);
        options.agents = { pool: Number(value) };
        break;
      case '--p2p-agent-priority':
        if (!/^\d+$/.test(value) || Number(value) > 19) throw new UsageError(`--p2p-agent-priority wants a nice value from 0 to 19, got '${value}'`);
        options.agentPriority = Number(value);
        break;
      case '--log-level':
        if (!LOG_LEVELS.includes(value)) throw new UsageError(`--log-level wants one of ${LOG_LEVELS.join(', ')}, got '${value}'`);
        options.logLevel = value;
        break;
    }
  }
  if (options.agents !== 'per-connection' && options.p2p === 'inline') throw new UsageError('--p2p-agents needs --p2p-multiprocess (inline P2P has no agents)');
  if (options.agentPriority !== undefined && options.p2p === 'inline') throw new UsageError('--p2p-agent-priority needs --p2p-multiprocess (inline P2P has no agents)');
  return options;
}
