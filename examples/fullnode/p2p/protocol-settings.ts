/**
 * What a connection's protocol needs to know about its node, passed once to every agent
 * as `ctx.data` (the line server's `data` option): identity, network, and timings.
 */
import type { NetworkParams } from '../chain/network-params.ts';
import type { Hash } from '../chain/sha256.ts';

export interface ProtocolTimings {
  /** Most blocks one GET-NEXT-BLOCKS streams (sync-v2's default is 1,000). */
  streamLimit: number;
  /** How often an idle connection checks whether the peer is ahead. */
  syncIntervalMs: number;
  pingIntervalMs: number;
  /** A peer silent this long is dropped. */
  idleTimeoutMs: number;
  /** A request whose reply (or next streamed block) takes longer drops the peer. */
  replyTimeoutMs: number;
  /** HELLO timestamps further from our clock are refused. */
  maxClockSkewMs: number;
}

export interface ProtocolSettings extends ProtocolTimings {
  app: string;
  peerId: string;
  network: NetworkParams;
  genesis: Hash;
}

export const DEFAULT_TIMINGS: ProtocolTimings = Object.freeze({
  streamLimit: 1000,
  syncIntervalMs: 1000,
  pingIntervalMs: 5000,
  idleTimeoutMs: 60_000,
  replyTimeoutMs: 30_000,
  maxClockSkewMs: 30_000,
});

export const APP_NAME = 'agent-ipc-fullnode/0.1';
export const SYNC_VERSION = 'v2';
