/**
 * `createLineServer`: the RFC's `IpcLineReceiver` with its factories. TCP stays in the
 * node; each connection's protocol runs in an agent (one per connection, or a pool) of
 * the chosen isolation; lines flow to the protocol and back over the agent's IPC.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { Logger } from 'pino';
import { ConnectionClosedError } from '../errors.ts';
import { invalidArgument, invalidOption } from '../invalid-option.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS } from '../spawn-options.ts';
import { AgentPool } from './agent-pool.ts';
import type { AgentRestartInfo, AgentSupply } from './agent-supply.ts';
import { PerConnectionAgents } from './per-connection-agents.ts';
import type { PeerAddress } from './shared/line-methods.ts';
import { resolveLineServerOptions, type LineServerOptions, type ResolvedLineServerOptions } from './line-server-options.ts';
import { ServedConnection, type ConnectionHooks, type LineConnectionInfo } from './served-connection.ts';

/** The events of a {@link LineServer} and their arguments. */
export interface LineServerEvents {
  /** A connection is live: its protocol's `connectionMade` ran. */
  connect: [connection: LineConnectionInfo];
  /**
   * A live connection is finished: its socket closed and its `connectionLost` ran (or
   * its agent died). `reason` is `undefined` for a clean close. With `timeoutMs: 0`, a
   * connection whose socket closed is reported so after 5 s even if its
   * `connectionLost` has not run (it waits for a line that may never be done).
   */
  disconnect: [connection: LineConnectionInfo, reason: Error | undefined];
  /**
   * Something failed: a peer broke framing, a protocol threw, an agent died or could
   * not start, a socket failed. The connection it concerns (if any) is closed; the
   * server goes on. At most one per connection (its first failure). Without a listener
   * these are logged (warn) through `logger`.
   */
  error: [error: Error, connection: LineConnectionInfo | undefined];
  /**
   * A pool agent exited, crashed, hung (a liveness probe got no answer: one sent after a
   * call timed out or, with `handOffSockets`, a periodic one) or could not start, and is
   * being replaced, after `info.delayMs` if its place in the pool keeps failing
   * (`info.failures` in a row: 0 ms for the first, then 100 ms doubling up to 10 s).
   * Its connections were closed with `info.reason`.
   * Without a listener these are logged (warn) through `logger`.
   */
  agentRestart: [info: AgentRestartInfo];
}

/** Listener of a {@link LineServer} event. */
export type LineServerListener<E extends keyof LineServerEvents> = (...args: LineServerEvents[E]) => void;

/** A TCP line server whose connections are served by agents. */
export interface LineServer {
  /**
   * Accepts connections on `port` (`0` picks a free one) and `host` (default: every
   * interface). Resolves with the bound address. May be called more than once.
   */
  listen(port: number, host?: string): Promise<PeerAddress>;
  /**
   * Connects to a peer (the RFC's client factory); the connection is served like an
   * accepted one. Resolves once its protocol's `connectionMade` ran.
   */
  connect(port: number, host?: string): Promise<LineConnectionInfo>;
  /** The live connections: each from its `connect` event until its `disconnect` event. */
  readonly connections: readonly LineConnectionInfo[];
  /** The addresses being listened on. */
  readonly addresses: readonly PeerAddress[];
  /**
   * Adds a listener. An event name not in {@link LineServerEvents} (a typo), or a
   * listener that is not a function, is a `TypeError` (code `ERR_AGENT_IPC_INVALID_ARGUMENT`);
   * so for `once` and `off`.
   */
  on<E extends keyof LineServerEvents>(event: E, listener: LineServerListener<E>): this;
  /** Adds a listener called once. */
  once<E extends keyof LineServerEvents>(event: E, listener: LineServerListener<E>): this;
  /** Removes a listener. */
  off<E extends keyof LineServerEvents>(event: E, listener: LineServerListener<E>): this;
  /**
   * Stops listening, closes every connection (each protocol's `connectionLost` runs with
   * `ConnectionClosedError`; one still waiting for its agent just ends, and a `connect()`
   * waiting rejects with it — neither is an `error` event) and every agent. Resolves when
   * all are gone; idempotent.
   */
  close(): Promise<void>;
}

/**
 * Creates a line server. Nothing listens until {@link LineServer.listen}.
 *
 * ```ts
 * const server = createLineServer({
 *   agent: new URL('./peer-protocol.ts', import.meta.url),
 *   expose: { getBlockHash: (height: number) => chain[height] },
 *   isolation: 'thread',
 *   agents: { pool: 4 },
 * });
 * const { port } = await server.listen(40403);
 * ```
 *
 * Throws `TypeError` for bad options.
 */
export function createLineServer<Main extends object = object>(options: LineServerOptions<Main>): LineServer {
  return new TcpLineServer(resolveLineServerOptions(options));
}

function checkPort(port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw invalidOption('port', 'an integer from 0 to 65535', port);
  return port;
}

function checkHost(host: unknown): string | undefined {
  if (host !== undefined && (typeof host !== 'string' || host.length === 0)) throw invalidOption('host', 'a non-empty string', host);
  return host;
}

function boundAddress(server: net.Server): PeerAddress {
  const address = server.address() as net.AddressInfo;
  return Object.freeze({ address: address.address, port: address.port, family: address.family });
}

/**
 * The events a {@link LineServer} emits: a listener for any other name would never run.
 * Built from a record of every key of {@link LineServerEvents}, so that an event added
 * there and forgotten here fails the type-check instead of being refused at run time.
 */
const EVENTS = Object.keys({ connect: true, disconnect: true, error: true, agentRestart: true } satisfies Record<keyof LineServerEvents, true>) as ReadonlyArray<keyof LineServerEvents>;

/** Refuses a listener for an event the server never emits (a typo), or one that is not a function. */
function checkListener(method: string, event: unknown, listener: unknown): void {
  if (!EVENTS.includes(event as keyof LineServerEvents)) throw invalidArgument(`${method}(event): unknown event ${typeof event === 'string' ? `'${event}'` : typeof event} (known: ${EVENTS.join(', ')})`);
  if (typeof listener !== 'function') throw invalidArgument(`${method}('${String(event)}', listener) expects a function, got ${listener === null ? 'null' : typeof listener}`);
}

class TcpLineServer implements LineServer {
  private readonly events = new EventEmitter();
  private readonly supply: AgentSupply;
  private readonly log: Logger | undefined;
  private readonly servers = new Set<net.Server>();
  private readonly listening = new Set<Promise<unknown>>();
  private readonly dialing = new Set<net.Socket>();
  private readonly served = new Set<ServedConnection>();
  private readonly hooks: ConnectionHooks;
  private nextId = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ResolvedLineServerOptions) {
    this.log = options.logger?.child({ component: 'line-server' });
    this.supply =
      options.agents === 'per-connection'
        ? new PerConnectionAgents(options)
        : new AgentPool(options, options.agents.pool, {
            error: (error) => this.report(error, undefined),
            restart: (info) => this.reportRestart(info),
          });
    this.hooks = {
      opened: (connection) => {
        this.log?.debug({ connection: connection.info }, 'connection made');
        this.events.emit('connect', connection.info);
      },
      failed: (connection, error) => this.report(error, connection.info),
      ended: (connection, reason, wasOpen) => {
        if (!wasOpen) return;
        this.log?.debug({ connection: connection.info, reason }, 'connection lost');
        this.events.emit('disconnect', connection.info, reason);
      },
      // Kept until then (also once reported ended): close() still has its agent to end.
      finished: (connection) => this.served.delete(connection),
    };
  }

  get connections(): readonly LineConnectionInfo[] {
    const live: LineConnectionInfo[] = [];
    for (const connection of this.served) if (connection.live) live.push(connection.info);
    return live;
  }

  get addresses(): readonly PeerAddress[] {
    const addresses: PeerAddress[] = [];
    for (const server of this.servers) if (server.listening) addresses.push(boundAddress(server));
    return addresses;
  }

  async listen(port: number, host?: string): Promise<PeerAddress> {
    checkPort(port);
    checkHost(host);
    if (this.closing) throw new ConnectionClosedError('the line server is closed');
    const listening = this.startListening(port, host);
    this.listening.add(listening);
    void listening.then(
      () => this.listening.delete(listening),
      () => this.listening.delete(listening),
    );
    return listening;
  }

  async connect(port: number, host?: string): Promise<LineConnectionInfo> {
    checkPort(port);
    checkHost(host);
    if (this.closing) throw new ConnectionClosedError('the line server is closed');
    await this.supply.start();
    const socket = net.connect({ port, host, allowHalfOpen: true });
    // A socket to be handed off must not be read here: paused before it connects, it
    // never starts reading, so the peer's first bytes wait for the agent.
    if (this.options.handOffSockets) socket.pause();
    this.dialing.add(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      this.dialing.delete(socket);
      socket.removeAllListeners('connect');
      socket.removeAllListeners('error');
    }
    if (this.closing) {
      socket.destroy();
      throw new ConnectionClosedError('the line server is closed');
    }
    return this.serve(socket, 'outbound').opened;
  }

  on<E extends keyof LineServerEvents>(event: E, listener: LineServerListener<E>): this {
    checkListener('on', event, listener);
    this.events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<E extends keyof LineServerEvents>(event: E, listener: LineServerListener<E>): this {
    checkListener('once', event, listener);
    this.events.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<E extends keyof LineServerEvents>(event: E, listener: LineServerListener<E>): this {
    checkListener('off', event, listener);
    this.events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async startListening(port: number, host: string | undefined): Promise<PeerAddress> {
    // pauseOnConnect: a socket to be handed off is never read by the node.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: this.options.handOffSockets }, (socket) => {
      if (this.closing) socket.destroy();
      else this.serve(socket, 'inbound');
    });
    this.servers.add(server);
    try {
      await this.supply.start();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.servers.delete(server);
      server.close();
      throw error;
    }
    if (this.closing) throw new ConnectionClosedError('the line server is closed');
    server.on('error', (error) => this.report(error, undefined));
    return boundAddress(server);
  }

  private serve(socket: net.Socket, direction: 'inbound' | 'outbound'): ServedConnection {
    const connection = new ServedConnection(socket, ++this.nextId, direction, this.options, this.supply, this.hooks);
    this.served.add(connection);
    void connection.start();
    return connection;
  }

  private report(error: Error, connection: LineConnectionInfo | undefined): void {
    // An 'error' event without a listener would throw: the node must not crash for a peer.
    if (this.events.listenerCount('error') > 0) this.events.emit('error', error, connection);
    else this.log?.warn({ err: error, connection }, 'line server: %s', error.message);
  }

  private reportRestart(info: AgentRestartInfo): void {
    if (this.events.listenerCount('agentRestart') > 0) this.events.emit('agentRestart', info);
    else this.log?.warn({ agent: info.agent, err: info.reason, failures: info.failures, delayMs: info.delayMs }, 'line server: replacing agent %s', info.agent);
  }

  private async shutdown(): Promise<void> {
    const reason = new ConnectionClosedError('the line server is closing');
    // Connections still waiting for an agent end first, with the close's reason: like an
    // open connection the close ends, that is not a failure (no 'error' event). Were the
    // waits given up first, whether the supply's rejection reached a connection before
    // its close did would depend on the order of microtasks.
    for (const connection of this.served) if (connection.waiting) connection.close(reason);
    // An agent stuck starting must not hold up the close (nor a listen() waiting for it).
    this.supply.stopStarting();
    await Promise.allSettled([...this.listening]);
    const stopped = [...this.servers].map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Once a socket went to a child process, Node.js's net.Server polls the children
          // on close and never calls back if they have all exited (its list of them is
          // empty). The listening socket itself is closed by now, synchronously.
          if (this.options.handOffSockets) resolve();
        }),
    );
    for (const socket of this.dialing) socket.destroy(reason);
    for (const connection of this.served) connection.close(reason);
    // Give each protocol's connectionLost its chance before the agents are closed …
    const finished = (): Promise<unknown> => Promise.allSettled([...this.served].map((connection) => connection.finished));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished(), new Promise<void>((resolve) => (timer = setTimeout(resolve, DEFAULT_CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    // … then close the agents (a hung one is forced down), which settles the rest.
    await this.supply.close();
    await finished();
    await Promise.all(stopped);
  }
}
