/**
 * The node's handle on one line-protocol agent: the agent itself, the connections it
 * serves, and what happens when it dies (those connections close, nothing else).
 */
import type { Socket } from 'node:net';
import type { AgentHost } from '../agent-host.ts';
import { deserializeError, type WireError } from '../error-codec.ts';
import { AgentExitedError, type AgentExit } from '../errors.ts';
import { startAgent } from '../spawn.ts';
import { lineEndpoint, type AgentConnections } from './line-endpoint.ts';
import { SOCKET_MESSAGE, type LineAgentMethods, type SocketMessage } from './line-methods.ts';
import type { ResolvedLineServerOptions } from './line-server-options.ts';
import type { Promisified } from '../types.ts';

/** What a line agent needs from a connection it serves. */
export interface ServedByAgent {
  readonly id: number;
  /** Writes lines the protocol sent. */
  write(lines: string[]): void;
  /** The protocol called `loseConnection(reason)`. */
  loseFromAgent(reason: Error | undefined): void;
  /** The agent reported an error of this (handed-off) connection. */
  failedInAgent(error: Error): void;
  /** This (handed-off) connection is finished in the agent. */
  closedInAgent(reason: Error | undefined): void;
  /** The agent is gone; `unexpected` unless the server retired it. */
  agentGone(error: AgentExitedError, unexpected: boolean): void;
}

/** A running line-protocol agent and the connections it serves. */
export class LineAgent implements AgentConnections {
  readonly name: string;
  private readonly served = new Map<number, ServedByAgent>();
  private agent!: AgentHost;
  private retiring: Promise<void> | undefined;
  private dead = false;

  private constructor(
    name: string,
    private readonly onDeath: (agent: LineAgent, error: AgentExitedError) => void,
  ) {
    this.name = name;
  }

  /** Spawns an agent; `onDeath` runs if it exits without being retired. */
  static async start(options: ResolvedLineServerOptions, name: string, onDeath: (agent: LineAgent, error: AgentExitedError) => void): Promise<LineAgent> {
    const handle = new LineAgent(name, onDeath);
    handle.agent = await startAgent(
      options.entry,
      {
        isolation: options.isolation,
        expose: lineEndpoint(options.expose, handle),
        data: options.data,
        logger: options.logger,
        timeoutMs: options.timeoutMs,
        name,
        sandbox: options.sandbox,
      },
      { handles: options.handOffSockets },
    );
    void handle.agent.exited.then((exit) => handle.exitedWith(exit));
    return handle;
  }

  /** The protocol methods of the agent. */
  get remote(): Promisified<LineAgentMethods> {
    return this.agent.remote as Promisified<LineAgentMethods>;
  }

  /** False once the agent exited or is being closed. */
  get alive(): boolean {
    return !this.dead && !this.retiring;
  }

  /** Connections this agent serves now. */
  get load(): number {
    return this.served.size;
  }

  attach(connection: ServedByAgent): void {
    this.served.set(connection.id, connection);
  }

  detach(connection: ServedByAgent): void {
    if (this.served.get(connection.id) === connection) this.served.delete(connection.id);
  }

  send(id: number, lines: string[]): void {
    this.served.get(id)?.write(lines);
  }

  lose(id: number, reason: WireError | null): void {
    this.served.get(id)?.loseFromAgent(reason === null ? undefined : deserializeError(reason, `agent '${this.name}'`));
  }

  failed(id: number, error: WireError): void {
    this.served.get(id)?.failedInAgent(deserializeError(error, `agent '${this.name}'`));
  }

  closed(id: number, reason: WireError | null): void {
    this.served.get(id)?.closedInAgent(reason === null ? undefined : deserializeError(reason, `agent '${this.name}'`));
  }

  /** Gives connection `id`'s socket to the agent (`handOffSockets`); resolves once sent. */
  handOver(id: number, socket: Socket): Promise<void> {
    const message: SocketMessage = { type: SOCKET_MESSAGE, id };
    return this.agent.sendHandle(message, socket);
  }

  /** Closes the agent on purpose (graceful, then forced). Idempotent. */
  retire(): Promise<void> {
    this.retiring ??= this.agent.close();
    return this.retiring;
  }

  private exitedWith(exit: AgentExit): void {
    this.dead = true;
    const unexpected = this.retiring === undefined;
    const error = new AgentExitedError(this.name, exit);
    for (const connection of [...this.served.values()]) connection.agentGone(error, unexpected);
    if (unexpected) this.onDeath(this, error);
  }
}
