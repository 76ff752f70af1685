/**
 * The node's handle on one line-protocol agent: the agent itself, the connections it
 * serves, and what happens when it dies (those connections close, nothing else).
 */
import type { Agent } from '../agent-host.ts';
import { deserializeError, type WireError } from '../error-codec.ts';
import { AgentExitedError, type AgentExit } from '../errors.ts';
import { spawnAgent } from '../spawn.ts';
import { lineEndpoint, type AgentConnections } from './line-endpoint.ts';
import type { LineAgentMethods } from './line-methods.ts';
import type { ResolvedLineServerOptions } from './line-server-options.ts';

/** What a line agent needs from a connection it serves. */
export interface ServedByAgent {
  readonly id: number;
  /** Writes lines the protocol sent. */
  write(lines: string[]): void;
  /** The protocol called `loseConnection(reason)`. */
  loseFromAgent(reason: Error | undefined): void;
  /** The agent is gone; `unexpected` unless the server retired it. */
  agentGone(error: AgentExitedError, unexpected: boolean): void;
}

/** A running line-protocol agent and the connections it serves. */
export class LineAgent implements AgentConnections {
  readonly name: string;
  private readonly served = new Map<number, ServedByAgent>();
  private agent!: Agent<LineAgentMethods>;
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
    handle.agent = await spawnAgent<LineAgentMethods>(options.entry, {
      isolation: options.isolation,
      expose: lineEndpoint(options.expose, handle),
      data: options.data,
      logger: options.logger,
      timeoutMs: options.timeoutMs,
      name,
    });
    void handle.agent.exited.then((exit) => handle.exitedWith(exit));
    return handle;
  }

  /** The protocol methods of the agent. */
  get remote(): Agent<LineAgentMethods>['remote'] {
    return this.agent.remote;
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
