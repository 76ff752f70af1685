/**
 * Public types of the agent side of the line server: what a line protocol implements
 * and what it gets to talk to its peer.
 */
import type { AgentContext, AgentDefinition, MainHandle } from '../../types.ts';
import type { LineAgentMethods, LineDirection, PeerAddress } from '../shared/line-methods.ts';

/**
 * One connection's protocol, as in Twisted's `LineReceiver`. The factory given to
 * `defineLineProtocol` builds one per connection. Each method may return a promise;
 * the next event of the same connection waits for it.
 */
export interface LineProtocol {
  /** The connection is up; runs before the first `lineReceived`. */
  connectionMade?(): void | Promise<void>;
  /**
   * One line from the peer, without its delimiter. Lines of a connection arrive one at
   * a time, in order: the next call starts after this one (or its promise) settled.
   * Throwing (or rejecting) closes the connection with that error.
   */
  lineReceived(line: string): void | Promise<void>;
  /**
   * The connection is gone; runs once, after the line in progress (if any) settled.
   * `reason` is `undefined` for a clean close (the peer closed, or
   * `loseConnection()` without a reason), otherwise the error that ended it: the
   * error `lineReceived` threw, the reason given to `loseConnection`,
   * `MessageTooLargeError` or `ProtocolError` for bad framing, a socket error, or
   * `ConnectionClosedError` when the server closes.
   */
  connectionLost?(reason?: Error): void | Promise<void>;
}

/** The transport of one connection, as its protocol sees it. */
export interface LineConnection {
  /** The connection's id, unique within its line server (`server.connections[i].id`). */
  readonly id: number;
  /** The remote end. */
  readonly peer: PeerAddress;
  /** `'inbound'` if the peer connected to us, `'outbound'` for `server.connect()`. */
  readonly direction: LineDirection;
  /** False once the connection is closing or gone; lines sent then are dropped. */
  readonly connected: boolean;
  /**
   * False while the way to the peer is full — the node's socket buffer is full, or more
   * than 1 MiB of sent lines are still on their way to the node — and once the
   * connection is gone. It updates at each `sendLine`, so a loop that checks it stops.
   * A streaming sender pauses then and goes on after {@link whenWritable} or
   * {@link onDrain}: Twisted's producer pause/resume.
   */
  readonly writable: boolean;
  /**
   * Sends one line (the delimiter is added). Lines leave in call order. Throws
   * `TypeError` if the line contains the delimiter and `MessageTooLargeError` if it is
   * longer than the server's `maxLineLength` (the peer would drop the connection).
   */
  sendLine(line: string): void;
  /**
   * Closes the connection once what was sent is written. No further lines are
   * delivered; `connectionLost` then runs with `reason`.
   */
  loseConnection(reason?: Error): void;
  /**
   * Resolves when the connection is writable (at once if it is); rejects with
   * `ConnectionClosedError` once it is closing or gone (its `cause`: the reason
   * `connectionLost` gets) — a wait already under way as soon as the connection ends, so
   * that a line waiting here ends and `connectionLost` can run, and a call made later at once.
   */
  whenWritable(): Promise<void>;
  /** Calls `listener` each time the connection turns writable again. Returns a function that removes it. */
  onDrain(listener: () => void): () => void;
}

/** Builds the protocol of one connection. Runs once per connection, in the agent. */
export type LineProtocolFactory<Main = unknown> = (main: MainHandle<Main>, conn: LineConnection, ctx: AgentContext) => LineProtocol | Promise<LineProtocol>;

/** What `defineLineProtocol` returns: an agent definition. `export default` it. */
export type LineProtocolDefinition<Main = unknown> = AgentDefinition<LineAgentMethods, Main>;
