/**
 * The node's handle on one line-protocol agent: the agent itself, the connections it
 * serves, and what happens when it dies (those connections close, nothing else).
 *
 * A supervised agent (a pool's) is also watched for hangs: when a call into it times
 * out, a liveness probe follows — a call of a method no agent serves, which any agent
 * whose event loop turns answers at once with `UnknownMethodError`. A probe that times
 * out too means the agent is stuck: it is stopped, and its connections close with
 * `AgentUnresponsiveError`. One slow handler alone (the probe is answered) closes only
 * its own connection, as for any agent.
 *
 * A hand-off agent (`handOffSockets`) is probed the same way, and also periodically
 * while it holds connections (`liveness-watch.ts`): its connections' lines are no calls
 * of the node's, so no call would time out to reveal a synchronous loop. Found stuck, it
 * is stopped the same way, whether a pool's or a connection's own.
 */
import type { Socket } from 'node:net';
import type { AgentHost } from '../agent-host.ts';
import { deserializeError, type WireError } from '../error-codec.ts';
import { AgentExitedError, AgentUnresponsiveError, TimeoutError, type AgentExit } from '../errors.ts';
import { startResolvedAgent } from '../spawn.ts';
import type { ResolvedSpawnOptions } from '../spawn-options.ts';
import { lineEndpoint, type AgentConnections } from './line-endpoint.ts';
import { LivenessWatch, probeIntervalMs } from './liveness-watch.ts';
import { LineMethod, SOCKET_MESSAGE, type LineAgentMethods, type SocketMessage } from './shared/line-methods.ts';
import type { ResolvedLineServerOptions } from './line-server-options.ts';
import type { Promisified } from '../types.ts';
import { LIVENESS_PROBE_COMMAND } from '../observability/agent-observer.ts';

/** What a line agent needs from a connection it serves. */
export interface ServedByAgent {
  readonly id: number;
  /** Writes lines the protocol sent. */
  write(lines: string[]): void;
  /** The protocol called `loseConnection(reason)`. */
  loseFromAgent(reason: Error | undefined): void;
  /** The agent reported an error of this connection (a handed-off one's, or lines it could not send). */
  failedInAgent(error: Error): void;
  /** This (handed-off) connection is finished in the agent, or (no `timeoutMs`, a line not settled) its socket closed. */
  closedInAgent(reason: Error | undefined): void;
  /** The agent is gone; `unexpected` unless the server retired it. */
  agentGone(error: AgentExitedError, unexpected: boolean): void;
}

/** The liveness probe: a reserved name no agent serves, answered by its connection layer (neither counted nor traced). */
const PROBE = LIVENESS_PROBE_COMMAND;

/** Why a probe was sent: a call timed out, or the periodic watch of a hand-off agent. */
type ProbeTrigger = 'call' | 'periodic';

/** How {@link LineAgent.start} starts an agent, beyond the server's options. */
export interface LineAgentStart {
  /** Aborting it gives up on the start (the server is closing). */
  signal?: AbortSignal;
  /** Watch for hangs and stop the agent if it is stuck (pools; hand-off agents always are). */
  supervised?: boolean;
  /**
   * Aborted when the server closes: the periodic probes of a hand-off agent stop (its
   * connections are being closed; a hung agent is forced down by the close itself).
   */
  closing?: AbortSignal;
}

/** A running line-protocol agent and the connections it serves. */
export class LineAgent implements AgentConnections {
  readonly name: string;
  private readonly served = new Map<number, ServedByAgent>();
  private agent!: AgentHost;
  private retiring: Promise<void> | undefined;
  private dead = false;
  private remote_!: Promisified<LineAgentMethods>;
  private probing = false;
  /** Periodic probes while the agent holds connections (hand-off agents with a `timeoutMs`). */
  private watch: LivenessWatch | undefined;
  private stopWatching: (() => void) | undefined;
  /** Set when a probe found the agent stuck: the timeout it exceeded. */
  private unresponsiveAfterMs: number | undefined;
  /** What sent the probe that found the agent stuck: a call that timed out, or the periodic watch. */
  private unresponsiveFoundBy: ProbeTrigger | undefined;
  /** A pool's agent: one found stuck is replaced. */
  private supervised = false;
  /** What the agent's exit is reported as, once known: one object for every connection. */
  private exitError: AgentExitedError | undefined;
  /** Rejects with the agent's exit: what waits on the agent without a call gives up. */
  private readonly gone: Promise<never>;
  private rejectGone!: (error: AgentExitedError) => void;
  /**
   * Resolves once the agent has exited and its exit was handled: its connections were
   * told and, had it exited unasked, `onDeath` ran.
   */
  readonly exitHandled: Promise<void>;

  private constructor(
    name: string,
    private readonly onDeath: (agent: LineAgent, error: AgentExitedError) => void,
  ) {
    this.name = name;
    this.gone = new Promise<never>((_, reject) => (this.rejectGone = reject));
    // Settled by exitedWith before it tells anyone; its reactions run after it returned.
    this.exitHandled = this.gone.catch(() => undefined);
  }

  /** Spawns an agent; `onDeath` runs if it exits without being retired. */
  static async start(
    options: ResolvedLineServerOptions,
    name: string,
    onDeath: (agent: LineAgent, error: AgentExitedError) => void,
    start: LineAgentStart = {},
  ): Promise<LineAgent> {
    const handle = new LineAgent(name, onDeath);
    handle.supervised = start.supervised === true;
    // Every agent option as the server validated it (once, with spawnAgent's checks).
    handle.agent = await startResolvedAgent(
      options.entry,
      {
        isolation: options.isolation,
        data: options.data,
        logger: options.logger,
        timeoutMs: options.timeoutMs,
        nodeBlockingTimeoutMs: options.nodeBlockingTimeoutMs,
        startupTimeoutMs: options.startupTimeoutMs,
        maxMessageBytes: options.maxMessageBytes,
        maxInFlight: options.maxInFlight,
        resourceLimits: options.resourceLimits,
        sandbox: options.sandbox,
        priority: options.priority,
        expose: lineEndpoint(options.expose, handle),
        name,
      } satisfies Required<ResolvedSpawnOptions>,
      { handles: options.handOffSockets, signal: start.signal },
    );
    const remote = handle.agent.remote as Promisified<LineAgentMethods>;
    // A hand-off agent is watched whoever supplies it: nothing else would notice its hang.
    const watched = options.timeoutMs > 0 && (start.supervised === true || options.handOffSockets);
    handle.remote_ = watched ? handle.watched(remote) : remote;
    if (watched && options.handOffSockets) handle.watchPeriodically(options.timeoutMs, start.closing);
    void handle.agent.exited.then((exit) => handle.exitedWith(exit));
    return handle;
  }

  /** The protocol methods of the agent. */
  get remote(): Promisified<LineAgentMethods> {
    return this.remote_;
  }

  /** False once the agent exited, is being closed, or was found stuck. */
  get alive(): boolean {
    return !this.dead && !this.retiring && this.unresponsiveAfterMs === undefined;
  }

  /** True from the moment a probe found the agent stuck (it is being stopped) until its exit. */
  get stopping(): boolean {
    return !this.dead && this.unresponsiveAfterMs !== undefined;
  }

  /** Connections this agent serves now. */
  get load(): number {
    return this.served.size;
  }

  attach(connection: ServedByAgent): void {
    this.served.set(connection.id, connection);
    this.watch?.track(this.served.size);
  }

  detach(connection: ServedByAgent): void {
    if (this.served.get(connection.id) === connection) this.served.delete(connection.id);
    this.watch?.track(this.served.size);
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
    // Node.js calls back a handle queued behind one the agent never acknowledged only once
    // it is acknowledged: never, if the agent died first. Its exit settles the hand-over.
    return Promise.race([this.agent.sendHandle(message, socket), this.gone]);
  }

  /** Closes the agent on purpose (graceful, then forced). Idempotent. */
  retire(): Promise<void> {
    this.stopWatching?.();
    this.retiring ??= this.agent.close();
    return this.retiring;
  }

  /**
   * Probes the agent every {@link probeIntervalMs} while it holds a connection, until it
   * exits or retires or `closing` is aborted (see `liveness-watch.ts`).
   */
  private watchPeriodically(timeoutMs: number, closing: AbortSignal | undefined): void {
    const watch = new LivenessWatch(probeIntervalMs(timeoutMs), () => this.probe(timeoutMs, 'periodic'));
    // Removed with the watch: a long-lived server's signal must not keep a listener for
    // every agent it ever started.
    const stop = (): void => {
      watch.stop();
      closing?.removeEventListener('abort', stop);
      this.stopWatching = undefined;
    };
    if (closing?.aborted) return;
    closing?.addEventListener('abort', stop, { once: true });
    this.watch = watch;
    this.stopWatching = stop;
    watch.track(this.served.size);
  }

  /** `remote` whose calls, when they time out, make the agent's liveness be probed. */
  private watched(remote: Promisified<LineAgentMethods>): Promisified<LineAgentMethods> {
    const watch =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> =>
        call(...args).catch((error: unknown) => {
          if (error instanceof TimeoutError) this.probe(error.timeoutMs, 'call');
          // A call in flight when the stuck agent was stopped rejects with its bare exit
          // (before the exit is handled here): it was stopped for being unresponsive.
          if (!(error instanceof AgentExitedError) || this.unresponsiveAfterMs === undefined) throw error;
          throw this.exitErrorFor({ code: error.exitCode, signal: error.signal, error: error.cause instanceof Error ? error.cause : undefined });
        });
    return {
      [LineMethod.OPEN]: watch(remote[LineMethod.OPEN]),
      [LineMethod.DELIVER]: watch(remote[LineMethod.DELIVER]),
      [LineMethod.LOST]: watch(remote[LineMethod.LOST]),
      [LineMethod.WRITABLE]: watch(remote[LineMethod.WRITABLE]),
    };
  }

  /** A call timed out: is the agent's event loop still turning? If not, stop the agent. */
  private probe(timeoutMs: number, trigger: ProbeTrigger): void {
    if (this.probing || !this.alive) return;
    this.probing = true;
    this.agent.call(PROBE, undefined, { timeoutMs }).then(
      () => (this.probing = false),
      (error: unknown) => {
        this.probing = false;
        // Any answer (UnknownMethodError) means the agent is responsive; an exit is handled by exitedWith.
        if (!(error instanceof TimeoutError) || !this.alive) return;
        this.unresponsiveAfterMs = timeoutMs;
        this.unresponsiveFoundBy = trigger;
        this.agent.terminate();
      },
    );
  }

  /**
   * What the agent's exit is reported as — `AgentUnresponsiveError` if a probe found it
   * stuck — built once, so that a connection's call and the exit tell the same.
   */
  private exitErrorFor(exit: AgentExit): AgentExitedError {
    this.exitError ??= this.unresponsiveAfterMs === undefined ? new AgentExitedError(this.name, exit) : this.unresponsive(exit, this.unresponsiveAfterMs);
    return this.exitError;
  }

  /** The agent was stopped for not answering: the error says what found it, and whether it is replaced. */
  private unresponsive(exit: AgentExit, timeoutMs: number): AgentUnresponsiveError {
    const error = new AgentUnresponsiveError(this.name, exit, timeoutMs);
    // The class's message tells a pool agent's hang found after a call timed out; others are told as they were.
    if (this.unresponsiveFoundBy === 'call' && this.supervised) return error;
    const found = this.unresponsiveFoundBy === 'periodic' ? 'a periodic liveness probe (handOffSockets) got' : 'a call timed out and a liveness probe got';
    // Before anything reads `stack`, whose first line V8 writes from the message when first read.
    error.message = `[agent-ipc] agent '${this.name}' stopped answering: ${found} no answer within ${timeoutMs} ms; it was stopped${this.supervised ? ' and replaced' : ''}`;
    return error;
  }

  private exitedWith(exit: AgentExit): void {
    this.dead = true;
    this.stopWatching?.();
    const unexpected = this.retiring === undefined;
    const error = this.exitErrorFor(exit);
    this.rejectGone(error);
    for (const connection of [...this.served.values()]) connection.agentGone(error, unexpected);
    if (unexpected) this.onDeath(this, error);
  }
}
