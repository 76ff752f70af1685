/**
 * One peer connection's protocol: the `LineProtocol` the line server drives. It parses
 * lines, dispatches them to the current state's handlers, and owns what every state
 * shares — the node handle, pending replies, and how the connection ends.
 *
 * This is the code a legacy node has in its protocol class, and it reads like one: its
 * calls into the node are synchronous (`this.node.getBlockMeta(h)`), because `node` is
 * `main.blocking`. Inline, those are direct calls; in an agent each one parks the agent's
 * thread for a few microseconds while the node answers. The code is the same.
 */
import type { Logger } from 'pino';
import type { Blocking, MainHandle, Promisified } from 'agent-ipc/agent';
import type { LineConnection, LineProtocol } from 'agent-ipc/lines/agent';
import type { NodeApi } from '../node/node-api.ts';
import { Command } from './commands.ts';
import { HelloState } from './hello-state.ts';
import { formatLine, parseLine } from './line-format.ts';
import { PendingReplies } from './pending-replies.ts';
import type { ProtocolSettings } from './protocol-settings.ts';
import type { ProtocolState } from './protocol-state.ts';
import { ProtocolViolation } from './protocol-violation.ts';

/** Errors that are the peer's fault: it is told why (ERROR) before the connection closes. */
const PEER_FAULTS = new Set(['ProtocolViolation', 'DecodeError', 'InvalidBlockError']);
/** The node or the agent is closing: a call in flight fails with one of these. Not worth more than a debug line. */
const CLOSING = new Set(['ConnectionClosedError', 'AgentExitedError']);

const NOT_STARTED: ProtocolState = { name: 'NOT-STARTED', handlers: new Map() };

export class PeerConnection implements LineProtocol {
  /** The node, called synchronously: storage reads and block submission. */
  readonly node: Blocking<NodeApi>;
  /** The node, for notifications nobody waits for and for long waits. */
  readonly nodeAsync: Promisified<NodeApi>;
  readonly replies: PendingReplies;
  /** The peer's id, once its PEER-ID was accepted. */
  peerId: string | null = null;
  /** When the last line arrived (the keepalive drops a silent peer). */
  lastReceived = Date.now();
  private state: ProtocolState = NOT_STARTED;

  constructor(
    main: MainHandle<NodeApi>,
    readonly conn: LineConnection,
    readonly settings: ProtocolSettings,
    readonly log: Logger,
  ) {
    this.node = main.blocking;
    this.nodeAsync = main.async;
    this.replies = new PendingReplies(settings.replyTimeoutMs);
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  get stateName(): string {
    return this.state.name;
  }

  connectionMade(): void {
    this.log.debug({ peer: this.conn.peer, direction: this.conn.direction }, 'connection made');
    this.changeState(new HelloState(this));
  }

  lineReceived(line: string): void {
    this.lastReceived = Date.now();
    try {
      const { command, payload } = parseLine(line);
      if (command === Command.ERROR) {
        this.log.warn({ reason: payload }, 'peer sent ERROR');
        this.conn.loseConnection(new Error(`peer sent ERROR: ${payload}`));
        return;
      }
      const handler = this.state.handlers.get(command);
      if (!handler) throw new ProtocolViolation(`${command} is not accepted in state ${this.state.name}`);
      handler(payload);
    } catch (error) {
      this.fail(error);
    }
  }

  connectionLost(reason?: Error): void {
    this.log.debug({ reason: reason?.message }, 'connection lost');
    this.state.leave?.();
    this.state = NOT_STARTED;
    this.replies.rejectAll(new ProtocolViolation('the connection is closed'));
  }

  changeState(next: ProtocolState): void {
    this.state.leave?.();
    this.state = next;
    next.enter?.();
  }

  send(command: string, payload?: string): void {
    this.conn.sendLine(formatLine(command, payload));
  }

  /** Sends `command` and resolves with the payload of the `reply` line that answers it. */
  request(command: string, payload: string, reply: string): Promise<string> {
    const answer = this.replies.wait(reply);
    this.send(command, payload);
    return answer;
  }

  /** Ends the connection because of `error`; a peer at fault is told why first. */
  fail(error: unknown): void {
    if (!this.conn.connected) return;
    const reason = error instanceof Error ? error : new Error(String(error));
    if (PEER_FAULTS.has(reason.name)) {
      this.log.warn({ reason: reason.message, state: this.state.name }, 'dropping peer');
      this.send(Command.ERROR, reason.message.replace(/[\r\n]+/g, ' ').slice(0, 1000));
    } else if (CLOSING.has(reason.name)) {
      this.log.debug({ reason: reason.message }, 'closing');
    } else {
      this.log.error({ err: reason, state: this.state.name }, 'connection failed');
    }
    this.conn.loseConnection(reason);
  }
}
