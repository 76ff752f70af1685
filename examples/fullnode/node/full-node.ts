/**
 * The full node: storage, the vertex handler, the HTTP API and the P2P line server,
 * wired together. Everything here runs on the node's thread. Where each peer
 * connection's protocol runs is one option, `p2p`: `'inline'` (on this thread, the
 * legacy architecture) or `'thread'` / `'process'` (an agent per connection) — the
 * protocol code and the node API are the same in all three.
 */
import { constants } from 'node:os';
import * as http from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { createLineServer, type LineServer, type PeerAddress } from 'agent-ipc/lines';
import { registerError, type Isolation } from 'agent-ipc';
import type { Block } from '../chain/block.ts';
import { ChainGenerator } from '../chain/chain-generator.ts';
import { DecodeError } from '../chain/decode-error.ts';
import { InvalidBlockError } from '../chain/invalid-block-error.ts';
import { DEFAULT_NETWORK, type NetworkParams } from '../chain/network-params.ts';
import { DEFAULT_TIMINGS, type ProtocolSettings, type ProtocolTimings, APP_NAME } from '../p2p/protocol-settings.ts';
import { ChainStorage } from '../storage/chain-storage.ts';
import { blockJson } from './block-json.ts';
import { BlockQueue } from './block-queue.ts';
import { BootstrapDialer, type PeerEndpoint } from './bootstrap-dialer.ts';
import { createHttpApi } from './http-api.ts';
import { AgentMetricsExporter } from './agent-metrics-exporter.ts';
import { createNodeApi } from './node-api.ts';
import type { NodeStatus } from './node-status.ts';
import { PeerRegistry } from './peer-registry.ts';
import { RelayHub } from './relay-hub.ts';
import { VertexHandler } from './vertex-handler.ts';

/**
 * The peer protocol module each agent loads: next to this file's directory when run from
 * source, or beside the bundled `main.js` when run from the build (demo/built-node.ts).
 */
const PEER_PROTOCOL = import.meta.url.endsWith('.ts') ? new URL('../p2p/peer-protocol.ts', import.meta.url) : new URL('./p2p/peer-protocol.js', import.meta.url);

// Agents' blocking calls that fail with these get them back as themselves.
registerError(InvalidBlockError);
registerError(DecodeError);

/**
 * The P2P agents' default CPU priority: `os.constants.priority.PRIORITY_BELOW_NORMAL`.
 * Syncing from four peers on 2 cores (more busy threads than cores), the node's HTTP p99
 * was 0.107× inline's with agents at the node's priority and 0.050× with them at this
 * one, at the same sync time (docs/isolation.md, "CPU priority").
 */
export const AGENT_PRIORITY = constants.priority.PRIORITY_BELOW_NORMAL;

export interface FullNodeOptions {
  /** Where the chain is stored (created if missing). */
  dataDir: string;
  network?: NetworkParams;
  /** Where peer connections run. Default `'inline'`. */
  p2p?: Isolation;
  /**
   * Which agent runs a connection (thread / process): a fresh one per connection,
   * started when it opens (the default), or one of a pool started with the node.
   */
  agents?: 'per-connection' | { pool: number };
  /**
   * The agents' CPU priority, a nice value (agent-ipc's `priority` option). Default
   * {@link AGENT_PRIORITY}: below normal, so that when busy threads outnumber cores the
   * node's own thread (storage, the HTTP API, every agent's calls) runs first.
   */
  agentPriority?: number;
  /** Address for P2P and HTTP. Default `127.0.0.1`. */
  host?: string;
  /** P2P port; `0` (the default) picks a free one. */
  port?: number;
  /** HTTP port; `null` (the default) serves no HTTP, `0` picks a free one. */
  httpPort?: number | null;
  bootstrap?: readonly PeerEndpoint[];
  /** Blocks to mine on top of the stored chain before the node goes online. */
  generateBlocks?: number;
  /** Called after each of those blocks. */
  onGenerated?: (height: number, generated: number) => void;
  logger?: Logger;
  timings?: Partial<ProtocolTimings>;
  /** Aborting it during `start` (a signal while mining, say) stops the node and rejects. */
  signal?: AbortSignal;
}

export class FullNode {
  readonly vertices: VertexHandler;
  readonly peers: PeerRegistry;
  readonly p2p: Isolation;
  private readonly relay = new RelayHub();
  private readonly blockQueue: BlockQueue;
  private readonly generator: ChainGenerator;
  private server: LineServer | undefined;
  private http: http.Server | undefined;
  /** Every agent's metrics for `GET /metrics`. */
  private agentMetrics: AgentMetricsExporter | undefined;
  private dialer: BootstrapDialer | undefined;
  private p2pAddress_: PeerAddress | undefined;
  private httpPort_: number | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly storage: ChainStorage,
    readonly network: NetworkParams,
    private readonly options: FullNodeOptions,
  ) {
    this.p2p = options.p2p ?? 'inline';
    this.peers = new PeerRegistry(storage.peerId());
    this.vertices = new VertexHandler(storage, network, this.relay);
    this.blockQueue = new BlockQueue(this.vertices);
    this.generator = new ChainGenerator(network, Number.parseInt(storage.peerId().slice(0, 8), 16));
  }

  /** Opens storage, generates blocks if asked, then goes online (P2P, HTTP, bootstrap peers). */
  static async start(options: FullNodeOptions): Promise<FullNode> {
    const network = options.network ?? DEFAULT_NETWORK;
    const node = new FullNode(ChainStorage.open(options.dataDir, network), network, options);
    try {
      if (options.generateBlocks) await node.generate(options.generateBlocks, false, options.onGenerated);
      options.signal?.throwIfAborted();
      await node.goOnline();
    } catch (error) {
      await node.stop();
      throw error;
    }
    return node;
  }

  get peerId(): string {
    return this.storage.peerId();
  }

  /** Where peers connect. */
  get p2pAddress(): PeerAddress {
    if (!this.p2pAddress_) throw new Error('the node is not online');
    return this.p2pAddress_;
  }

  /** The HTTP port, if HTTP is served. */
  get httpPort(): number | undefined {
    return this.httpPort_;
  }

  get lineServer(): LineServer {
    if (!this.server) throw new Error('the node is not online');
    return this.server;
  }

  status(): NodeStatus {
    const best = this.storage.best;
    return { height: best.height, bestBlock: best.hash, peers: this.peers.list(), p2p: this.p2p, peerId: this.peerId, network: this.network.name };
  }

  /** Mines `count` blocks on the best block and relays them to the peers. */
  generateBlocks(count: number): Promise<Block[]> {
    return this.generate(count, true);
  }

  /** Connects to a peer (beside the bootstrap peers). */
  connect(endpoint: PeerEndpoint): Promise<unknown> {
    return this.lineServer.connect(endpoint.port, endpoint.host);
  }

  /** Closes P2P (every agent) and HTTP, then storage. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.dialer?.stop();
      this.relay.close();
      await Promise.all([this.server?.close(), this.closeHttp()]);
      this.agentMetrics?.close();
      this.blockQueue.close();
      await this.storage.close();
    })();
    return this.stopping;
  }

  private async generate(count: number, relayed: boolean, onGenerated?: (height: number, generated: number) => void): Promise<Block[]> {
    const blocks: Block[] = [];
    for (let i = 0; i < count && !this.stopping && !this.options.signal?.aborted; i++) {
      const parent = this.storage.getBlockMeta(this.storage.best.hash)!;
      const block = this.generator.next(parent);
      this.vertices.add(block, { connection: null, relayed });
      blocks.push(block);
      onGenerated?.(block.height, i + 1);
      // Mining is CPU work on the node's thread: let sockets, timers and signals in.
      await nextTurn();
    }
    return blocks;
  }

  private async goOnline(): Promise<void> {
    const { options } = this;
    const host = options.host ?? '127.0.0.1';
    const settings: ProtocolSettings = {
      ...DEFAULT_TIMINGS,
      ...options.timings,
      app: APP_NAME,
      peerId: this.peerId,
      network: this.network,
      genesis: this.storage.genesis.hash,
    };
    const api = createNodeApi({
      entrypoints: () => (this.p2pAddress_ ? [`tcp://${this.p2pAddress_.address}:${this.p2pAddress_.port}`] : []),
      storage: this.storage,
      vertices: this.vertices,
      blockQueue: this.blockQueue,
      peers: this.peers,
      relay: this.relay,
    });
    // Before the line server starts agents: it learns of each from their spawn events.
    this.agentMetrics ??= new AgentMetricsExporter();
    const server = createLineServer({
      agent: PEER_PROTOCOL,
      expose: api,
      isolation: this.p2p,
      agents: this.p2p === 'inline' ? 'per-connection' : (options.agents ?? 'per-connection'),
      priority: this.p2p === 'inline' ? undefined : (options.agentPriority ?? AGENT_PRIORITY),
      data: settings,
      logger: options.logger,
      name: 'peer',
    });
    this.server = server;
    server.on('connect', (info) => this.peers.connected(info));
    server.on('disconnect', (info) => {
      this.peers.disconnected(info.id);
      this.relay.release(info.id);
      this.blockQueue.releaseClaims(info.id);
    });
    server.on('error', (error, info) => options.logger?.warn({ connection: info?.id, reason: error.message }, 'peer connection failed'));
    this.p2pAddress_ = await server.listen(options.port ?? 0, host);

    if (options.httpPort !== undefined && options.httpPort !== null) {
      const exporter = this.agentMetrics;
      const api = createHttpApi({ status: () => this.status(), block: (hash) => blockJson(this.storage, hash), metrics: () => exporter.render() });
      this.http = api;
      await new Promise<void>((resolve, reject) => {
        api.once('error', reject);
        api.listen(options.httpPort!, host, () => {
          api.off('error', reject);
          resolve();
        });
      });
      this.httpPort_ = (api.address() as { port: number }).port;
    }

    this.dialer = new BootstrapDialer(server, options.bootstrap ?? [], options.logger);
    this.dialer.start();
  }

  private async closeHttp(): Promise<void> {
    const server = this.http;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
