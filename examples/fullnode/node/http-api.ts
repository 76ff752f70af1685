/**
 * The node's HTTP API (node:http, JSON):
 *
 *   GET /status        → { height, bestBlock, peers, p2p, peerId, network }
 *   GET /block/:hash   → the block with its transactions, 404 if unknown
 *   GET /metrics       → every agent's metrics, Prometheus text format (agent-metrics-exporter.ts)
 *
 * It runs on the node's thread, like everything that is not P2P: how fast it answers
 * while the node syncs is the measure of how much P2P work is left on that thread.
 */
import * as http from 'node:http';
import { isHash, type Hash } from '../chain/sha256.ts';
import type { BlockJson } from './block-json.ts';
import type { NodeStatus } from './node-status.ts';

export interface HttpApiSource {
  status(): NodeStatus;
  block(hash: Hash): BlockJson | null;
  /** The Prometheus text of `/metrics`. */
  metrics?(): Promise<string>;
}

function reply(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

export function createHttpApi(source: HttpApiSource): http.Server {
  return http.createServer({ keepAlive: true }, (request, response) => {
    try {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      if (request.method !== 'GET') return reply(response, 405, { error: 'only GET is supported' });
      if (path === '/status') return reply(response, 200, source.status());
      if (path === '/metrics' && source.metrics) {
        source.metrics().then(
          (text) => {
            response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
            response.end(text);
          },
          (error: unknown) => reply(response, 500, { error: error instanceof Error ? error.message : String(error) }),
        );
        return;
      }
      const match = /^\/block\/([^/]+)$/.exec(path);
      if (match) {
        const hash = match[1].toLowerCase();
        if (!isHash(hash)) return reply(response, 400, { error: 'a block hash is 64 hex characters' });
        const block = source.block(hash);
        return block === null ? reply(response, 404, { error: `no block ${hash}` }) : reply(response, 200, block);
      }
      reply(response, 404, { error: `no route ${path}`, routes: ['GET /status', 'GET /block/:hash', 'GET /metrics'] });
    } catch (error) {
      reply(response, 500, { error: error instanceof Error ? error.message : String(error) });
    }
  });
}
