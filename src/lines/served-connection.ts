/**
 * One TCP connection of the line server, node side: the RFC's `IpcLineReceiver`. It
 * frames the socket's bytes into lines, hands them to the connection's session in its
 * agent one batch at a time, writes the lines the protocol sends, and carries
 * back-pressure both ways:
 *
 * - reading: when more than `highWaterMark` lines wait for the protocol, the socket is
 *   paused; it resumes once at most half as many wait;
 * - writing: when the socket's write buffer is full the agent is told (`conn.writable`
 *   turns false), and told again when it drained.
 *
 * Lifecycle: acquiring an agent → opening (factory + `connectionMade`) → open →
 * closing (`connectionLost`, socket closed) → finished. Every path ends in finished,
 * exactly once.
 */
import type { Socket } from 'node:net';
import { serializeError } from '../error-codec.ts';
import { AgentExitedError, ConnectionClosedError, UnknownMethodError } from '../errors.ts';
import type { AgentSupply } from './agent-supply.ts';
import type { LineAgent, ServedByAgent } from './line-agent.ts';
import { LineMethod, type LineDirection, type PeerAddress } from './line-methods.ts';
import { LineReceiver } from './line-receiver.ts';

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
  /** The connection is finished; `wasOpen` if `opened` was called for it. */
  finished(connection: ServedConnection, reason: Error | undefined, wasOpen: boolean): void;
}

/** Framing and flow settings shared by a server's connections. */
export interface ConnectionSettings {
  delimiter: string;
  maxLineLength: number;
  highWaterMark: number;
  /** The agent module, for the error when it is not a line protocol. */
  entry: string;
}

type Phase = 'acquiring' | 'opening' | 'open' | 'closing' | 'finished';

/** How a connection is to end. */
interface Ending {
  reason: Error | undefined;
  /** Deliver the lines already received first (the peer closed, or broke framing). */
  drain: boolean;
}

/** After a graceful close, how long a peer that does not read may keep its socket. */
const LINGER_MS = 5000;

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
  private ending: Ending | undefined;
  private readonly receiver: LineReceiver;
  private queue: string[] = [];
  /** Lines in the batch the protocol is processing. */
  private delivering = 0;
  private readingPaused = false;
  private socketWritable = true;
  private readonly socketClosed: Promise<void>;
  private linger: NodeJS.Timeout | undefined;
  private resolveOpened!: (info: LineConnectionInfo) => void;
  private rejectOpened!: (error: Error) => void;
  private resolveFinished!: () => void;

  constructor(
    private readonly socket: Socket,
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
    this.receiver = new LineReceiver(settings);
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(ignore);
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.socketClosed = new Promise((resolve) => socket.once('close', () => resolve()));

    // Small request/response lines must not wait for Nagle's algorithm.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('end', () => this.requestClose(undefined, true));
    socket.on('error', (error) => this.fail(error));
    socket.on('drain', () => this.drained());
    socket.once('close', () => {
      clearTimeout(this.linger);
      // Only a close we did not ask for (and that came without 'end' or 'error').
      this.requestClose(new ConnectionClosedError(`the socket of connection ${id} closed`), false);
    });
  }

  /** What `server.connections` shows. */
  get info(): LineConnectionInfo {
    return this.info_;
  }

  /** True between `connectionMade` and the start of the close. */
  get live(): boolean {
    return this.wasOpen && this.phase === 'open' && this.ending === undefined;
  }

  /** Gets an agent and opens the session. */
  async start(): Promise<void> {
    let agent: LineAgent;
    try {
      agent = await this.supply.acquire();
    } catch (error) {
      this.fail(error);
      void this.shutdown();
      return;
    }
    this.agent = agent;
    this.info_ = Object.freeze({ ...this.info_, agent: agent.name });
    agent.attach(this);
    this.agentAlive = agent.alive;
    if (!this.agentAlive) this.fail(new ConnectionClosedError(`agent '${agent.name}' is gone`));
    if (this.ending && !this.ending.drain) {
      void this.shutdown();
      return;
    }
    this.phase = 'opening';
    this.sessionStarted = true;
    try {
      await agent.remote[LineMethod.OPEN]({
        id: this.id,
        peer: this.peer,
        direction: this.direction,
        delimiter: this.settings.delimiter,
        maxLineLength: this.settings.maxLineLength,
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
    this.advance();
  }

  /** Closes the connection now (server close): sockets are destroyed, not drained. */
  close(reason: Error): void {
    this.requestClose(reason, false);
    if (!this.socket.destroyed) this.socket.destroy();
  }

  write(lines: string[]): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded || lines.length === 0) return;
    const delimiter = this.settings.delimiter;
    let text = '';
    for (const line of lines) {
      if (typeof line !== 'string') return this.fail(new TypeError(`[agent-ipc] agent '${this.info_.agent}' sent a line that is not a string`));
      text += line;
      text += delimiter;
    }
    if (!socket.write(text) && this.socketWritable) {
      this.socketWritable = false;
      this.tellWritable(false);
    }
  }

  loseFromAgent(reason: Error | undefined): void {
    this.requestClose(reason, false);
  }

  agentGone(error: AgentExitedError, unexpected: boolean): void {
    this.agentAlive = false;
    if (unexpected) this.fail(error);
    else this.requestClose(error, false);
  }

  private received(chunk: Buffer): void {
    if (this.ending || this.phase === 'closing' || this.phase === 'finished') return;
    const { lines, error } = this.receiver.push(chunk);
    if (lines.length > 0) {
      if (this.queue.length === 0) this.queue = lines;
      else for (const line of lines) this.queue.push(line);
    }
    if (error) {
      // Lines before the bad one are still delivered (as Twisted would have), then the
      // connection closes; nothing more is read.
      this.hooks.failed(this, error);
      this.requestClose(error, true);
    } else if (!this.readingPaused && this.queue.length + this.delivering > this.settings.highWaterMark) {
      this.readingPaused = true;
      this.socket.pause();
    }
    this.advance();
  }

  private drained(): void {
    if (this.socketWritable) return;
    this.socketWritable = true;
    this.tellWritable(true);
  }

  private tellWritable(writable: boolean): void {
    // From OPEN on the agent has the session: the message arrives after OPEN, in order.
    if (!this.sessionStarted || this.phase === 'closing' || this.phase === 'finished' || !this.agentAlive || !this.agent) return;
    this.agent.remote[LineMethod.WRITABLE](this.id, writable).then(ignore, ignore);
  }

  /** Reports `error` and closes the connection with it (once: later errors only lose). */
  private fail(thrown: unknown): void {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    if (this.phase === 'closing' || this.phase === 'finished') return;
    if (this.ending?.reason === undefined) this.hooks.failed(this, error);
    this.requestClose(error, false);
  }

  /** Records how the connection ends; a later, harsher request can still cut a drain short. */
  private requestClose(reason: Error | undefined, drain: boolean): void {
    // Once closing, the reason is settled: the socket's own 'close' must not replace it.
    if (this.phase === 'closing' || this.phase === 'finished') return;
    if (!this.ending) this.ending = { reason, drain };
    else {
      this.ending.reason ??= reason;
      if (!drain) this.ending.drain = false;
    }
    this.advance();
  }

  /** Moves the connection on: the next batch of lines, or the close once it is due. */
  private advance(): void {
    if (this.phase !== 'open') return;
    const ending = this.ending;
    if (ending && (!ending.drain || (this.queue.length === 0 && this.delivering === 0))) {
      void this.shutdown();
      return;
    }
    if (this.delivering === 0 && this.queue.length > 0) this.deliverNext();
  }

  private deliverNext(): void {
    const batch = this.queue;
    this.queue = [];
    this.delivering = batch.length;
    this.agent!.remote[LineMethod.DELIVER](this.id, batch).then(
      () => {
        this.delivering = 0;
        if (this.readingPaused && !this.ending && this.queue.length <= this.settings.highWaterMark / 2) {
          this.readingPaused = false;
          this.socket.resume();
        }
        this.advance();
      },
      (error: unknown) => {
        this.delivering = 0;
        this.fail(error);
      },
    );
  }

  /** Closes the socket and ends the agent's session; then the connection is finished. */
  private async shutdown(): Promise<void> {
    if (this.phase === 'closing' || this.phase === 'finished') return;
    this.phase = 'closing';
    this.ending ??= { reason: undefined, drain: false };
    this.queue = [];
    const reason = this.ending?.reason;
    this.closeSocket();
    let lost: Promise<unknown> = Promise.resolve();
    if (this.sessionStarted && this.agentAlive && this.agent) {
      lost = this.agent.remote[LineMethod.LOST](this.id, reason === undefined ? null : serializeError(reason)).then(ignore, (error: unknown) => {
        // An agent that exited or is closing has already been accounted for.
        if (!(error instanceof AgentExitedError) && !(error instanceof ConnectionClosedError)) this.hooks.failed(this, error as Error);
      });
    }
    await Promise.all([lost, this.socketClosed]);
    this.finish();
  }

  /** Ends our side once what was written left; a peer that does not read is cut off later. */
  private closeSocket(): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    if (this.readingPaused) socket.resume();
    socket.end(() => socket.destroy());
    this.linger = setTimeout(() => socket.destroy(), LINGER_MS);
  }

  private finish(): void {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    const reason = this.ending?.reason;
    if (!this.socket.destroyed) this.socket.destroy();
    if (this.agent) {
      this.agent.detach(this);
      this.supply.release(this.agent);
    }
    if (!this.wasOpen) this.rejectOpened(reason ?? new ConnectionClosedError(`connection ${this.id} closed before it was made`));
    this.hooks.finished(this, reason, this.wasOpen);
    this.resolveFinished();
  }

  private explainOpenFailure(error: unknown): unknown {
    if (error instanceof UnknownMethodError && error.method === LineMethod.OPEN) {
      return new TypeError(`[agent-ipc] agent module ${this.settings.entry} is not a line protocol: export default defineLineProtocol(...)`, { cause: error });
    }
    return error;
  }
}
