/**
 * One TCP connection of the line server, node side: the RFC's `IpcLineReceiver`. It gets
 * the connection an agent, opens the protocol's session there, and keeps the
 * connection's lifecycle for the server. Its bytes travel one of two ways:
 *
 * - relayed (the default): a {@link LineSocket} in the node frames the socket into
 *   lines, hands them to the agent one batch at a time and writes the lines the protocol
 *   sends, with back-pressure both ways;
 * - handed off (`handOffSockets`, process agents): the socket itself goes to the agent,
 *   which runs the same `LineSocket` there; the node keeps a {@link HandedOverSocket}
 *   and learns of failures and of the close from the agent.
 *
 * Lifecycle: acquiring an agent → opening (hand-over, factory + `connectionMade`) → open
 * → closing (`connectionLost`, socket closed) → finished. Every path ends in finished,
 * exactly once.
 */
import type { Socket } from 'node:net';
import { serializeError } from '../error-codec.ts';
import { AgentExitedError, ConnectionClosedError, UnknownMethodError, WriteBufferOverflowError } from '../errors.ts';
import { invalidArgument } from '../invalid-option.ts';
import type { AgentSupply } from './agent-supply.ts';
import { HandedOverSocket } from './handed-over-socket.ts';
import type { LineAgent, ServedByAgent } from './line-agent.ts';
import type { LineBudget } from './shared/line-budget.ts';
import type { CarrierEvents, LineCarrier } from './shared/line-carrier.ts';
import { LineMethod, type LineDirection, type PeerAddress } from './shared/line-methods.ts';
import { lineRefusal } from './shared/line-check.ts';
import { LineSocket } from './shared/line-socket.ts';
import { DEFAULT_CLOSE_TIMEOUT_MS } from '../spawn-options.ts';

/** A connection as `server.connections` and the server's events show it. */
export interface LineConnectionInfo {
  /** Unique within the server; the protocol sees it as `conn.id`. */
  readonly id: number;
  /** `'inbound'` (accepted by `listen`) or `'outbound'` (made by `connect`). */
  readonly direction: LineDirection;
  /** The remote end. */
  readonly peer: PeerAddress;
  /** Our end. */
  readonly local: PeerAddress;
  /** Name of the agent serving it; `undefined` only in an `error` event raised before one was assigned. */
  readonly agent: string | undefined;
}

/** What a connection tells its server. */
export interface ConnectionHooks {
  /** `connectionMade` ran: the connection is live. */
  opened(connection: ServedConnection): void;
  /** Something failed: the peer broke framing, the protocol threw, the agent died, … */
  failed(connection: ServedConnection, error: Error): void;
  /**
   * The connection ended as the server shows it (its `disconnect`, if `wasOpen`): its
   * socket is closed and its `connectionLost` ran — or, where nothing bounds that
   * (`timeoutMs: 0`), did not end within {@link LOST_GRACE_MS} of the socket's close.
   */
  ended(connection: ServedConnection, reason: Error | undefined, wasOpen: boolean): void;
  /** The connection is finished: nothing of it is left in its agent (or the agent is gone). */
  finished(connection: ServedConnection): void;
}

/**
 * With `timeoutMs: 0`, how long after its socket closed a connection may wait for its
 * agent to end the session (`connectionLost`, which waits for the line in progress)
 * before the server reports it ended. As long as `close()` gives each `connectionLost`.
 */
export const LOST_GRACE_MS = DEFAULT_CLOSE_TIMEOUT_MS;

/** Framing and flow settings shared by a server's connections. */
export interface ConnectionSettings {
  delimiter: string;
  maxLineLength: number;
  highWaterMark: number;
  /** How many relayed lines one delivery to the agent may carry. */
  lineBudget: LineBudget;
  /** The agents' `maxMessageBytes`: what the protocol's lines must fit in, on their way back. */
  maxMessageBytes: number;
  /** The timeout of calls into the agent; `0`: none, so the end of a session is waited for at most {@link LOST_GRACE_MS}. */
  timeoutMs: number;
  /** The agent module, for the error when it is not a line protocol. */
  entry: string;
  /** Give the socket to the agent (process agents) instead of relaying its lines. */
  handOffSockets: boolean;
}

type Phase = 'acquiring' | 'opening' | 'open' | 'closing' | 'finished';

/** The part of the limit on relayed lines waiting for a peer that does not depend on the server's options. */
export const WRITE_BUFFER_FLOOR = 16 * 1024 * 1024;

/**
 * The most a relayed connection's socket may hold of lines waiting for its peer, in
 * characters (UTF-16 units: what `socket.writableLength` counts of the strings written),
 * before a send is refused and the connection fails with `WriteBufferOverflowError`.
 *
 * The node writes whatever its agent sends; nothing else bounds the socket's buffer
 * against a protocol that ignores `conn.writable` while its peer does not read. The limit
 * is set above what an honest protocol can ever have waiting:
 *
 * - one that waits on `conn.writable` stops when the node's `write` returned false or when
 *   more than `MAX_UNACKNOWLEDGED` (1 MiB, `protocol-session.ts`) is unacknowledged, so at
 *   most the socket's high-water mark (16 KiB) plus that window plus one line are ever
 *   waiting: `WRITE_BUFFER_FLOOR` covers it sixteen times over, and a line more is added;
 * - one that answers line for line without looking at `writable` is covered for
 *   `highWaterMark` + 2 answers of `maxLineLength` (the server stops reading a peer whose
 *   replies do not leave); but one socket read can hold many more small lines than that,
 *   and their answers leave together, so a protocol whose answers can add up to tens of
 *   MiB must wait on `writable` too (docs/line-server.md, "A hard limit"; a known issue).
 *
 * With the defaults (`highWaterMark` 256, `maxLineLength` 65,536) that is about 32 MiB a
 * connection: twice what a peer may already make the node hold of incoming lines. A
 * derived limit rather than an option: the two options it follows are the ones that size
 * a connection's traffic, and no honest protocol needs to raise it on its own.
 */
export function writeBufferLimit(settings: Pick<ConnectionSettings, 'delimiter' | 'maxLineLength' | 'highWaterMark'>): number {
  return WRITE_BUFFER_FLOOR + (settings.highWaterMark + 2) * (settings.maxLineLength + settings.delimiter.length);
}

const ignore = (): void => undefined;

function endpoint(address: string | undefined, port: number | undefined, family: string | undefined): PeerAddress {
  return Object.freeze({ address: address ?? '', port: port ?? 0, family: family ?? '' });
}

/** The node side of one connection. */
export class ServedConnection implements ServedByAgent {
  readonly id: number;
  readonly direction: LineDirection;
  readonly peer: PeerAddress;
  readonly local: PeerAddress;
  /** Resolves once `connectionMade` ran; rejects if the connection ended before. */
  readonly opened: Promise<LineConnectionInfo>;
  /** Resolves once the connection is finished (socket closed, session torn down). */
  readonly finished: Promise<void>;
  private info_: LineConnectionInfo;
  private phase: Phase = 'acquiring';
  private agent: LineAgent | undefined;
  private agentAlive = false;
  /** The OPEN call was made, so the agent holds a session that a LOST must end. */
  private sessionStarted = false;
  private wasOpen = false;
  /** An `error` event was emitted (or is held) for this connection: there is one at most. */
  private reported = false;
  /**
   * A failure reported before the open settled: held until it did, so that a connection
   * that becomes live has its `connect` before its `error` (see `report`).
   */
  private heldFailure: Error | undefined;
  /** The server was told the connection ended (its `disconnect`): it is no longer listed. */
  private endReported = false;
  private lostGrace: NodeJS.Timeout | undefined;
  /** The agent reported the handed-off socket closed before it answered OPEN: applied once it did (see `closedInAgent`). */
  private closedEarly: { reason: Error | undefined } | undefined;
  private readonly carrier: LineCarrier;
  private readonly handedOver: HandedOverSocket | undefined;
  /** Relayed connections only: the socket the node writes the agent's lines to, and its {@link writeBufferLimit}. */
  private readonly relayed: { socket: Socket; limit: number } | undefined;
  /**
   * Aborted when the connection stops waiting for its agent: its close became due first
   * (its socket was reset or closed, or the server closes it). The supply then forgets it at once.
   */
  private readonly giveUp = new AbortController();
  private resolveOpened!: (info: LineConnectionInfo) => void;
  private rejectOpened!: (error: Error) => void;
  private resolveFinished!: () => void;

  constructor(
    socket: Socket,
    id: number,
    direction: LineDirection,
    private readonly settings: ConnectionSettings,
    private readonly supply: AgentSupply,
    private readonly hooks: ConnectionHooks,
  ) {
    this.id = id;
    this.direction = direction;
    this.peer = endpoint(socket.remoteAddress, socket.remotePort, socket.remoteFamily);
    this.local = endpoint(socket.localAddress, socket.localPort, socket.localFamily);
    this.info_ = Object.freeze({ id, direction, peer: this.peer, local: this.local, agent: undefined });
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(ignore);
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    const events: CarrierEvents = {
      deliver: (lines) => this.agent!.remote[LineMethod.DELIVER](this.id, lines),
      writable: (writable) => this.tellWritable(writable),
      failed: (error) => this.report(error),
      ending: () => void this.shutdown(),
      closeRequestedEarly: () => this.giveUpIfDue(),
    };
    if (settings.handOffSockets) this.carrier = this.handedOver = new HandedOverSocket(socket, id, events);
    else {
      this.carrier = new LineSocket(socket, id, settings, events);
      this.relayed = { socket, limit: writeBufferLimit(settings) };
    }
  }

  /** What `server.connections` shows. */
  get info(): LineConnectionInfo {
    return this.info_;
  }

  /**
   * True from `connectionMade` until the server reports the connection ended: listed in
   * `server.connections` exactly between its `connect` and its `disconnect` event.
   */
  get live(): boolean {
    return this.wasOpen && !this.endReported;
  }

  /** True while the connection waits for its agent. */
  get waiting(): boolean {
    return this.phase === 'acquiring';
  }

  /** Gets an agent and opens the session (after handing the socket over, in hand-off mode). */
  async start(): Promise<void> {
    let agent: LineAgent;
    this.giveUpIfDue();
    try {
      agent = await this.supply.acquire(this.giveUp.signal);
    } catch (error) {
      // Given up by the connection itself: how it ends (and any failure) is known already.
      if (!this.giveUp.signal.aborted || error !== this.giveUp.signal.reason) this.fail(error);
      void this.shutdown();
      return;
    }
    this.agent = agent;
    this.info_ = Object.freeze({ ...this.info_, agent: agent.name });
    agent.attach(this);
    this.agentAlive = agent.alive;
    if (!this.agentAlive) this.fail(new ConnectionClosedError(`agent '${agent.name}' is gone`));
    if (this.closingUndrained()) {
      void this.shutdown();
      return;
    }
    this.phase = 'opening';
    this.sessionStarted = true;
    try {
      if (this.handedOver) await this.handedOver.handOver((socket) => agent.handOver(this.id, socket));
      await agent.remote[LineMethod.OPEN]({
        id: this.id,
        peer: this.peer,
        direction: this.direction,
        delimiter: this.settings.delimiter,
        maxLineLength: this.settings.maxLineLength,
        maxMessageBytes: this.settings.maxMessageBytes,
        highWaterMark: this.settings.highWaterMark,
        timeoutMs: this.settings.timeoutMs,
        handOff: this.handedOver !== undefined,
      });
    } catch (error) {
      this.fail(this.explainOpenFailure(error));
      void this.shutdown();
      return;
    }
    this.phase = 'open';
    this.wasOpen = true;
    this.resolveOpened(this.info_);
    this.hooks.opened(this);
    // A failure while the open was in flight (lines already read broke framing, the first
    // line of a handed-off socket threw, its socket failed) follows the connect event.
    this.releaseHeldFailure();
    if (this.closedEarly) this.carrier.requestClose(this.closedEarly.reason, false);
    this.carrier.start();
  }

  /**
   * Closes the connection now (server close): sockets are destroyed, not drained. A
   * connection still waiting for its agent stops waiting, with `reason` and no failure.
   */
  close(reason: Error): void {
    this.carrier.requestClose(reason, false);
    this.carrier.destroy();
  }

  /**
   * Writes lines the agent sent (its `send` call). The agent is not trusted to have run
   * `sendLine`'s checks (it can call the reserved method itself): a batch with a line the
   * peer would not frame as sent — not a string, holding the delimiter, longer than
   * `maxLineLength` — or one that would take the socket past {@link writeBufferLimit} is
   * refused whole, nothing of it written: the call throws (the agent's `send` rejects
   * with that error) and the connection fails with it, as `sendLine`'s refusal fails it
   * in the agent.
   */
  write(lines: string[]): void {
    const refusal = this.refusal(lines);
    if (refusal) {
      this.fail(refusal);
      // Its buffer is what the peer did not read: the connection is failed, so let it go
      // now rather than linger (see LineSocket.closeGracefully) for a peer that will not.
      if (refusal instanceof WriteBufferOverflowError) this.carrier.destroy();
      throw refusal;
    }
    this.carrier.write(lines);
  }

  /** Why `lines` must not be written, if they must not (see `write`). */
  private refusal(lines: string[]): Error | undefined {
    const { delimiter, maxLineLength } = this.settings;
    let size = 0;
    for (const line of lines) {
      // The same errors as sendLine's, so that the connection ends the same way whichever side refused.
      if (typeof line !== 'string') return invalidArgument(`agent '${this.info_.agent}' sent a line that is not a string`);
      const refused = lineRefusal(line, delimiter, maxLineLength, `agent '${this.info_.agent}' sent`);
      if (refused) return refused;
      size += line.length + delimiter.length;
    }
    // Counted as the socket counts what it holds of strings: in UTF-16 units. A socket
    // that takes no more writes (closing, or gone) holds nothing more of them.
    if (this.relayed === undefined) return undefined;
    const { socket, limit } = this.relayed;
    if (!socket.destroyed && !socket.writableEnded && socket.writableLength + size > limit) {
      return new WriteBufferOverflowError(this.id, socket.writableLength + size, limit);
    }
    return undefined;
  }

  loseFromAgent(reason: Error | undefined): void {
    this.carrier.requestClose(reason, false);
  }

  failedInAgent(error: Error): void {
    if (this.phase === 'finished') return;
    this.report(error);
    // Handed off, the reason is kept for the close the agent reports next (it may drain
    // first). Relayed (lines the protocol sent were refused), the lines not yet delivered
    // are not, as when the protocol throws.
    this.carrier.requestClose(error, this.handedOver !== undefined);
  }

  /**
   * The agent's report that a handed-off socket closed: its session finished (CLOSED), or
   * — with no `timeoutMs`, a line not settled — the socket alone (SOCKET_CLOSED, so that
   * the connection closes here now and its grace period, see `shutdown`, runs; CLOSED
   * comes later if the session ends). It can overtake the agent's answer to OPEN — a
   * `connectionMade` that threw closes the session in the agent with that very error,
   * whose report the agent leaves to the node (OPEN rejects with it) — so before that
   * answer it is only noted: taken as the reason now, it would pass for a failure already
   * reported, and the error event would be lost.
   */
  closedInAgent(reason: Error | undefined): void {
    if (this.phase === 'opening') this.closedEarly ??= { reason };
    else this.carrier.requestClose(reason, false);
  }

  agentGone(error: AgentExitedError, unexpected: boolean): void {
    this.agentAlive = false;
    if (unexpected) this.fail(error);
    else this.carrier.requestClose(error, false);
  }

  /**
   * Stops waiting for an agent once the connection is to close without draining: its
   * socket was reset, failed or closed, or the server closes it. Such a connection would
   * never be opened (see `start`), so waiting on would only hold its socket. A half-close
   * or a framing error (a drained close) does not stop the wait: the connection is still
   * opened once it has an agent, so that its protocol and the server's events see it end
   * with its reason, as they would had the agent been ready sooner.
   */
  private giveUpIfDue(): void {
    // The carrier can ask while it is being built (a socket already gone): start() asks again.
    if (this.phase !== 'acquiring' || (this.carrier as LineCarrier | undefined) === undefined || this.giveUp.signal.aborted || !this.closingUndrained()) return;
    this.giveUp.abort(this.carrier.ending!.reason ?? new ConnectionClosedError(`connection ${this.id} closed while it waited for an agent`));
  }

  /** The connection is to close without draining (its socket reset, failed or closed, or the server closing it): it will never be opened. */
  private closingUndrained(): boolean {
    const ending = this.carrier.ending;
    return ending !== undefined && !ending.drain;
  }

  private tellWritable(writable: boolean): void {
    // From OPEN on the agent has the session: the message arrives after OPEN, in order.
    if (!this.sessionStarted || this.phase === 'closing' || this.phase === 'finished' || !this.agentAlive || !this.agent) return;
    this.agent.remote[LineMethod.WRITABLE](this.id, writable).then(ignore, ignore);
  }

  /**
   * Emits the connection's `error` event: the first failure only. What follows from it —
   * a `connectionLost` that times out behind a `lineReceived` that did, in an agent stuck
   * in a loop — is the same failure seen again, not news for whoever handles the event.
   */
  private report(error: Error): void {
    if (this.reported) return;
    this.reported = true;
    // Before the open settled the connection has had no `connect` event yet (it may never
    // have one): the failure waits for the outcome, so the events come in order.
    if (this.phase === 'acquiring' || this.phase === 'opening') this.heldFailure = error;
    else this.hooks.failed(this, error);
  }

  /** Emits the failure held while the open was in flight (once the open settled, either way). */
  private releaseHeldFailure(): void {
    const error = this.heldFailure;
    if (error === undefined) return;
    this.heldFailure = undefined;
    this.hooks.failed(this, error);
  }

  /** Reports `error` and closes the connection with it (once: later errors only lose). */
  private fail(thrown: unknown): void {
    if (this.phase === 'closing' || this.phase === 'finished') return;
    this.carrier.fail(thrown);
  }

  /** Closes the socket and ends the agent's session; then the connection is finished. */
  private async shutdown(): Promise<void> {
    // A failure held while the open was in flight is emitted however the open ended.
    this.releaseHeldFailure();
    if (this.phase === 'closing' || this.phase === 'finished') return;
    this.phase = 'closing';
    this.carrier.halt();
    const reason = this.carrier.ending?.reason;
    this.carrier.closeGracefully();
    let lost: Promise<unknown> = Promise.resolve();
    if (this.sessionStarted && this.agentAlive && this.agent) {
      lost = this.agent.remote[LineMethod.LOST](this.id, reason === undefined ? null : serializeError(reason)).then(ignore, (error: unknown) => {
        // An agent that exited or is closing has already been accounted for.
        if (!(error instanceof AgentExitedError) && !(error instanceof ConnectionClosedError)) this.report(error as Error);
      });
    }
    // With no timeout nothing bounds connectionLost, nor the line in progress it waits
    // for: a protocol stuck there would keep a connection whose peer is gone from ever
    // being reported ended. Once the socket closed, it gets a grace period; past it the
    // connection is reported ended, and its agent kept until the session does end (or
    // the server closes).
    if (this.settings.timeoutMs === 0) {
      void this.carrier.closed.then(() => {
        if (this.phase !== 'finished') this.lostGrace = setTimeout(() => this.reportEnd(), LOST_GRACE_MS).unref();
      });
    }
    await Promise.all([lost, this.carrier.closed]);
    this.finish();
  }

  private finish(): void {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    clearTimeout(this.lostGrace);
    const reason = this.carrier.ending?.reason;
    this.carrier.destroy();
    if (this.agent) {
      this.agent.detach(this);
      this.supply.release(this.agent);
    }
    if (!this.wasOpen) this.rejectOpened(reason ?? new ConnectionClosedError(`connection ${this.id} closed before it was made`));
    this.reportEnd();
    this.hooks.finished(this);
    this.resolveFinished();
  }

  /** Tells the server the connection ended (once): its `disconnect`, if it was live. */
  private reportEnd(): void {
    if (this.endReported) return;
    this.endReported = true;
    this.hooks.ended(this, this.carrier.ending?.reason, this.wasOpen);
  }

  private explainOpenFailure(error: unknown): unknown {
    if (error instanceof UnknownMethodError && error.method === LineMethod.OPEN) {
      return invalidArgument(`agent module ${this.settings.entry} is not a line protocol: export default defineLineProtocol(...)`, { cause: error });
    }
    return error;
  }
}
