/**
 * What the node serves to one line-protocol agent: the user's `expose` plus the line
 * server's reserved methods, bound to that agent. Binding matters: an agent can write to
 * and close only the connections it serves, never another agent's.
 */
import type { Handler, HandlerTable } from '../connection.ts';
import type { WireError } from '../error-codec.ts';
import { IpcServer, type IpcCommand } from '../rpc.ts';
import { LineMethod } from './shared/line-methods.ts';

/** The node-side connection operations an agent may trigger. */
export interface AgentConnections {
  /** Writes lines to connection `id` if this agent serves it. */
  send(id: number, lines: string[]): void;
  /** Closes connection `id` if this agent serves it. */
  lose(id: number, reason: WireError | null): void;
  /** Reports an error of handed-off connection `id` if this agent serves it. */
  failed(id: number, error: WireError): void;
  /** Handed-off connection `id`, if this agent serves it, is finished in the agent, or (SOCKET_CLOSED) its socket closed before its session ended. */
  closed(id: number, reason: WireError | null): void;
}

/** The connection id of a line method's payload; a malformed one is the agent's fault, not a caller's argument. */
function connectionId(payload: unknown, method: string): [number, unknown] {
  if (!Array.isArray(payload) || typeof payload[0] !== 'number') throw new TypeError(`[agent-ipc] ${method} expects (connection id, …)`);
  return [payload[0], payload[1]];
}

/**
 * An `IpcServer` so that `spawnAgent` takes the merged table as it is (typed methods and
 * byte-layer commands alike), with no wrapper that would change what `this` means in the
 * user's methods.
 */
class LineEndpoint extends IpcServer {
  constructor(private readonly table: HandlerTable) {
    super();
  }

  getCommandMap(): Record<string, IpcCommand> {
    return {};
  }

  override handlers(): HandlerTable {
    return this.table;
  }
}

/** The `expose` for one agent: the user's handlers, and the line methods routed to `connections`. */
export function lineEndpoint(user: HandlerTable, connections: AgentConnections): IpcServer {
  const own = new Map<string, Handler>([
    [
      LineMethod.SEND,
      (payload) => {
        const [id, lines] = connectionId(payload, LineMethod.SEND);
        if (!Array.isArray(lines)) throw new TypeError(`[agent-ipc] ${LineMethod.SEND} expects an array of lines`);
        connections.send(id, lines as string[]);
      },
    ],
    [
      LineMethod.LOSE,
      (payload) => {
        const [id, reason] = connectionId(payload, LineMethod.LOSE);
        connections.lose(id, (reason ?? null) as WireError | null);
      },
    ],
    [
      LineMethod.FAILED,
      (payload) => {
        const [id, error] = connectionId(payload, LineMethod.FAILED);
        connections.failed(id, error as WireError);
      },
    ],
    // The node closes the connection alike whether the session ended (CLOSED) or only its
    // socket did (SOCKET_CLOSED): a CLOSED after a SOCKET_CLOSED changes nothing.
    ...[LineMethod.CLOSED, LineMethod.SOCKET_CLOSED].map(
      (method): [string, (payload: unknown) => void] => [
        method,
        (payload) => {
          const [id, reason] = connectionId(payload, method);
          connections.closed(id, (reason ?? null) as WireError | null);
        },
      ],
    ),
  ]);
  return new LineEndpoint({ get: (command) => own.get(command) ?? user.get(command) });
}
