/**
 * Agent side of `handOffSockets`: one connection whose socket this process agent owns.
 * The same {@link LineSocket} as in the node frames it and carries back-pressure, and the
 * same {@link ProtocolSession} runs the protocol; only the hops are gone: lines go
 * straight from the socket to `lineReceived`, and `sendLine` straight to the socket.
 *
 * The node still owns the connection's lifecycle as the server shows it: it opens the
 * session (OPEN, which resolves once `connectionMade` ran), hears of failures
 * (`FAILED`) and of the close (`CLOSED`, once the socket closed and `connectionLost`
 * ran; with no `timeoutMs`, also `SOCKET_CLOSED` when the socket closed first, so that the
 * node's grace period for a session that may never end starts), and can end the
 * connection (LOST: the server closes).
 *
 * Relayed, a batch of lines is a call of the node's (DELIVER), and the session's end
 * another (LOST): the server's `timeoutMs` bounds them as calls. Here no call carries
 * them, so the session bounds them itself with the same `timeoutMs`: a batch whose
 * `lineReceived` has not settled in time fails the connection with the `TimeoutError`
 * a relayed one gets, and a `connectionLost` still waiting for such a line is given up
 * on after as long, so that the socket closes and the node hears of it. (A protocol
 * stuck in a synchronous loop stops this agent's timers too: nothing in the agent can
 * notice that one. The node does, by probing a hand-off agent that holds connections:
 * see `liveness-watch.ts`.)
 */
import type { Socket } from 'node:net';
import { ConnectionClosedError, TimeoutError } from '../../errors.ts';
import { isPromiseLike } from '../../promise-like.ts';
import type { AgentContext, MainHandle } from '../../types.ts';
import { LineMethod, type OpenRequest } from '../shared/line-methods.ts';
import { LineSocket } from '../shared/line-socket.ts';
import type { LineOutlet, NodeLink } from './node-link.ts';
import { ProtocolSession } from './protocol-session.ts';
import type { LineProtocolFactory } from './protocol-types.ts';

/** The node's default `highWaterMark`, should an OPEN not carry one. */
const DEFAULT_HIGH_WATER_MARK = 256;

/** A handed-off connection, inside its agent. */
export class SocketSession implements LineOutlet {
  /** Resolves once the connection is finished here and the node was told. */
  readonly finished: Promise<void>;
  private readonly id: number;
  private readonly session: ProtocolSession;
  private readonly lines: LineSocket;
  /** The server's `timeoutMs` (`0`: none): what bounds a batch of lines and `connectionLost`. */
  private readonly timeoutMs: number;
  private resolveFinished!: () => void;

  constructor(
    socket: Socket,
    request: OpenRequest,
    private readonly link: NodeLink,
  ) {
    this.id = request.id;
    // Node.js rebuilds a received socket without half-open support; the peer's FIN must
    // not end our side, so that replies to its last lines still go out (as in the node).
    socket.allowHalfOpen = true;
    this.session = new ProtocolSession(request, link, this);
    this.timeoutMs = request.timeoutMs ?? 0;
    const settings = { delimiter: request.delimiter, maxLineLength: request.maxLineLength, highWaterMark: request.highWaterMark ?? DEFAULT_HIGH_WATER_MARK };
    this.lines = new LineSocket(socket, request.id, settings, {
      deliver: (lines) => this.bounded(LineMethod.DELIVER, this.session.deliver(lines)),
      writable: (writable) => this.session.setWritable(writable),
      failed: (error) => link.failed(this.id, error),
      ending: (reason) => void this.shutdown(reason),
    });
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  /**
   * Builds the protocol and runs `connectionMade`; then lines flow. A socket already gone
   * (reset, failed or closed while it waited in the agent's inbox) gets no protocol: the
   * session fails with the socket's error, as a relayed connection whose socket went
   * while it waited for its agent is never opened. (A reset this agent has not read yet —
   * still in flight, or arriving during `connectionMade` — cannot be told from one a
   * moment later: that connection is made, then lost with the reset.)
   */
  async open<Main>(factory: LineProtocolFactory<Main>, main: MainHandle<Main>, ctx: AgentContext): Promise<void> {
    const ending = this.lines.ending;
    if (ending && !ending.drain) {
      // Closed without the protocol (nothing to run connectionLost on); the socket's error
      // was reported already (FAILED). The node's OPEN rejects with the same reason.
      this.lines.start();
      throw ending.reason ?? new ConnectionClosedError(`the socket of connection ${this.id} closed before its session started`);
    }
    try {
      await this.session.open(factory, main, ctx);
    } catch (error) {
      // The node reports this one (its OPEN rejects): close without reporting it again.
      this.lines.requestClose(error instanceof Error ? error : new Error(String(error)), false);
      this.lines.start();
      throw error;
    }
    this.lines.start();
  }

  write(_id: number, lines: string[]): void {
    this.lines.write(lines);
  }

  lose(_id: number, reason: Error | undefined): void {
    this.lines.requestClose(reason, false);
  }

  /** Nothing more will be written (the agent is closing): waits on `whenWritable` end. */
  endWrites(reason: Error | undefined): void {
    this.session.endWrites(reason);
  }

  /** The node ends the connection (the server closes): at once, not drained. */
  lost(reason: Error | undefined): Promise<void> {
    if (!this.lines.ended) {
      this.lines.requestClose(reason, false);
      this.lines.destroy();
      this.lines.start();
    }
    return this.finished;
  }

  private async shutdown(reason: Error | undefined): Promise<void> {
    // Replies the protocol sent in this synchronous stretch (to the lines delivered just
    // before the peer's FIN, or before a line that broke framing) wait in the link for its
    // microtask: written now, before our side ends, or the socket would drop them.
    this.link.flush();
    this.lines.closeGracefully();
    let lostError: Error | undefined;
    let sessionEnded = false;
    const ended = (async () => {
      try {
        await this.bounded(LineMethod.LOST, this.session.lost(reason));
      } catch (error) {
        lostError = error instanceof Error ? error : new Error(String(error));
      }
      sessionEnded = true;
    })();
    // With no timeout nothing bounds connectionLost, nor the line in progress it waits
    // for, so CLOSED may never come: the node hears of the socket's close at once, for the
    // grace it gives such a connection before reporting it ended (as when it relays).
    if (this.timeoutMs === 0) {
      void this.lines.closed.then(() => {
        if (!sessionEnded) this.link.socketClosed(this.id, reason);
      });
    }
    await ended;
    await this.lines.closed;
    // CLOSED first: a connectionLost that threw is reported, as in the node, without
    // becoming the connection's reason.
    this.link.closed(this.id, reason);
    if (lostError) this.link.failed(this.id, lostError);
    this.resolveFinished();
  }

  /**
   * `work`, failing with the `TimeoutError` of a call to `method` if it has not settled
   * within `timeoutMs` (what it runs goes on: only the wait for it ends). Synchronous
   * work, and every batch with no timeout, pass through untouched: no timer.
   */
  private bounded(method: string, work: Promise<void> | void): Promise<void> | void {
    const timeoutMs = this.timeoutMs;
    if (timeoutMs === 0 || !isPromiseLike(work)) return work;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(method, timeoutMs)), timeoutMs);
      work.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}
