/**
 * The agent's way back to the line server: `sendLine` and `loseConnection` become calls
 * of the server's reserved methods. Lines sent during one synchronous stretch of agent
 * code travel as one call per connection (flushed on a microtask, so before the IPC
 * layer's own end-of-turn flush; several calls in a row where one would exceed the
 * agent's `maxMessageBytes`, see `line-budget.ts`), and anything else the agent sends the node — an
 * async or blocking call, a byte-layer call, a close — first flushes the lines queued
 * before it. So the node sees lines and calls in the order the agent made them.
 *
 * Where the lines then go is each connection's {@link LineOutlet}: to the node, which
 * owns the socket ({@link NodeLink.relay}), or — for a socket handed off to this process
 * agent — straight to the socket. The batching and the ordering are the same either way.
 *
 * The node answers each `send` once it has handed the lines to the socket; the answer
 * is the acknowledgement that flow control counts on (see `ProtocolSession.writable`).
 */
import { serializeError } from '../../error-codec.ts';
import { methodProxy } from '../../rpc.ts';
import type { MainHandle, Promisified } from '../../types.ts';
import { LineMethod, type LineNodeMethods } from '../shared/line-methods.ts';

/** Nobody waits for these calls; a closed node is not an error for the agent. */
const ignore = (): void => undefined;

/** A connection with outgoing lines. */
export interface LineSender {
  readonly id: number;
  /** Writes the lines queued for it during one synchronous stretch, in order. */
  transmit(lines: string[]): void;
}

/** Where a connection's lines and its close go. */
export interface LineOutlet {
  /**
   * Writes `lines` of connection `id`. A promise resolves once they were handed to the
   * socket (the acknowledgement flow control counts on); nothing returned means at once.
   */
  write(id: number, lines: string[]): Promise<unknown> | void;
  /** Closes connection `id` once what was written left. */
  lose(id: number, reason: Error | undefined): void;
}

/** Outgoing lines and closes of every connection served by one agent. */
export class NodeLink {
  private readonly node: Promisified<LineNodeMethods>;
  private pending = new Map<LineSender, string[]>();
  private scheduled = false;

  constructor(main: MainHandle<unknown>) {
    this.node = main.async as unknown as Promisified<LineNodeMethods>;
  }

  /** Queues `line` for `sender`; it leaves at the end of this synchronous stretch. */
  send(sender: LineSender, line: string): void {
    const lines = this.pending.get(sender);
    if (lines) lines.push(line);
    else this.pending.set(sender, [line]);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** The outlet of relayed connections: the node owns the socket and writes for the agent. */
  readonly relay: LineOutlet = {
    write: (id, lines) => this.node[LineMethod.SEND](id, lines),
    lose: (id, reason) => {
      this.node[LineMethod.LOSE](id, reason === undefined ? null : serializeError(reason)).then(ignore, ignore);
    },
  };

  /**
   * Connection `id` failed with `error` in the agent: a handed-off one (its socket failed),
   * or lines it sent were refused. The agent closes it; the node reports it.
   */
  failed(id: number, error: Error): void {
    this.node[LineMethod.FAILED](id, serializeError(error)).then(ignore, ignore);
  }

  /** A handed-off connection is finished: its socket closed and its `connectionLost` ran. */
  closed(id: number, reason: Error | undefined): void {
    this.tellClosed(LineMethod.CLOSED, id, reason);
  }

  /**
   * A handed-off connection's socket closed while its session has not ended (no
   * `timeoutMs`: `connectionLost` waits for a line that has not settled), so that the
   * node's grace period for it starts.
   */
  socketClosed(id: number, reason: Error | undefined): void {
    this.tellClosed(LineMethod.SOCKET_CLOSED, id, reason);
  }

  private tellClosed(method: typeof LineMethod.CLOSED | typeof LineMethod.SOCKET_CLOSED, id: number, reason: Error | undefined): void {
    this.node[method](id, reason === undefined ? null : serializeError(reason)).then(ignore, ignore);
  }

  /** Sends every queued line now. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    for (const [sender, lines] of pending) sender.transmit(lines);
  };

  /** `main` as the protocol sees it: every call first flushes the lines queued before it. */
  orderedMain<Main>(main: MainHandle<Main>): MainHandle<Main> {
    const flush = this.flush;
    const asyncApi = main.async as unknown as Record<string, (...args: unknown[]) => unknown>;
    const blockingApi = main.blocking as unknown as Record<string, (...args: unknown[]) => unknown>;
    return {
      async: methodProxy((name, args) => {
        flush();
        return asyncApi[name]!(...args);
      }),
      blocking: methodProxy((name, args) => {
        flush();
        return blockingApi[name]!(...args);
      }),
      call(command, payload, options) {
        flush();
        return main.call(command, payload, options);
      },
      callBlocking(command, payload, options) {
        flush();
        return main.callBlocking(command, payload, options);
      },
    };
  }
}
