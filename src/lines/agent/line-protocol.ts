/**
 * `defineLineProtocol`: the agent side of the line server. A line-protocol agent is an
 * ordinary agent (built with `defineAgent`) whose methods, called by the node's line
 * server, open and close per-connection sessions and deliver their lines. One agent
 * serves one connection or, in a pool, many; the protocol code is the same either way
 * and in every isolation.
 */
import { defineAgent } from '../../definition.ts';
import { deserializeError, type WireError } from '../../error-codec.ts';
import { invalidArgument } from '../../invalid-option.ts';
import type { AgentContext, MainHandle } from '../../types.ts';
import { LineBudget } from '../shared/line-budget.ts';
import { LineMethod, type LineAgentMethods, type OpenRequest } from '../shared/line-methods.ts';
import { NodeLink } from './node-link.ts';
import { ProtocolSession } from './protocol-session.ts';
import { SocketInbox } from './socket-inbox.ts';
import { SocketSession } from './socket-session.ts';
import type { LineProtocolDefinition, LineProtocolFactory } from './protocol-types.ts';

/**
 * Declares a line protocol: `factory` runs once per connection, with the node's exposed
 * methods (`main`), the connection (`conn`) and the agent's context, and returns the
 * connection's protocol. Export the result as the module's default export and pass the
 * module to `createLineServer({ agent })`:
 *
 * ```ts
 * export default defineLineProtocol<NodeApi>((main, conn, ctx) => ({
 *   connectionMade() { conn.sendLine('HELLO') },
 *   lineReceived(line) { conn.sendLine(String(main.blocking.getBlockHash(Number(line)))) },
 *   connectionLost(reason) { ctx.logger.info({ reason }, 'peer gone') },
 * }));
 * ```
 */
export function defineLineProtocol<Main = unknown>(factory: LineProtocolFactory<Main>): LineProtocolDefinition<Main> {
  if (typeof factory !== 'function') throw invalidArgument('defineLineProtocol expects a factory function');
  return defineAgent((main: MainHandle<Main>, ctx: AgentContext) => serveLineProtocol(factory, main, ctx));
}

/**
 * The agent methods behind a line protocol: a session per connection — relayed (the
 * node frames the socket and calls DELIVER) or, with `handOffSockets`, on a socket this
 * process agent received and reads itself.
 */
function serveLineProtocol<Main>(factory: LineProtocolFactory<Main>, main: MainHandle<Main>, ctx: AgentContext): LineAgentMethods {
  const sessions = new Map<number, ProtocolSession>();
  const handedOff = new Map<number, Promise<SocketSession>>();
  const link = new NodeLink(main as MainHandle<unknown>);
  const protocolMain = link.orderedMain(main);
  // Listening before the agent reports ready, so no socket arrives unheard.
  const inbox = ctx.isolation === 'process' ? SocketInbox.ofThisProcess() : undefined;
  // The node asks an agent to close once its connections are over, and the agent then
  // waits for the calls in progress: a line still waiting in `whenWritable` (one whose
  // LOST never came) would hold the agent until it is killed. Nothing will be written
  // any more, so such waits end now.
  ctx.signal.addEventListener(
    'abort',
    () => {
      const reason = ctx.signal.reason instanceof Error ? ctx.signal.reason : undefined;
      for (const session of sessions.values()) session.endWrites(reason);
      // A hand-off whose socket never came has no session: nothing to end.
      const endWrites = (session: SocketSession): void => session.endWrites(reason);
      for (const opening of handedOff.values()) opening.then(endWrites, () => undefined);
    },
    { once: true },
  );

  const openHandedOff = async (request: OpenRequest): Promise<void> => {
    // These two refuse the node's request (the line server's), not a caller's argument.
    if (!inbox) throw new TypeError(`[agent-ipc] agent '${ctx.name}' cannot receive sockets (handOffSockets needs isolation 'process')`);
    const opening = inbox.take(request.id).then((socket) => new SocketSession(socket, request, link));
    handedOff.set(request.id, opening);
    let session: SocketSession;
    try {
      session = await opening;
    } catch (error) {
      // The socket never came (the node closed it first): there is no session to end.
      handedOff.delete(request.id);
      throw error;
    }
    void session.finished.then(() => handedOff.delete(request.id));
    await session.open(factory, protocolMain, ctx);
  };

  return {
    [LineMethod.OPEN](request: OpenRequest): Promise<void> {
      if (sessions.has(request.id) || handedOff.has(request.id)) return Promise.reject(new TypeError(`[agent-ipc] connection ${request.id} is already open in this agent`));
      if (request.handOff) return openHandedOff(request);
      const session = new ProtocolSession(request, link, link.relay, LineBudget.of(ctx.isolation, request.maxMessageBytes ?? Infinity));
      sessions.set(request.id, session);
      return session.open(factory, protocolMain, ctx);
    },
    [LineMethod.DELIVER](id: number, lines: string[]): Promise<void> | void {
      return sessions.get(id)?.deliver(lines);
    },
    [LineMethod.LOST](id: number, reason: WireError | null): Promise<void> | void {
      const why = reason === null ? undefined : deserializeError(reason, 'the line server');
      const socketSession = handedOff.get(id);
      if (socketSession) return socketSession.then((session) => session.lost(why));
      const session = sessions.get(id);
      if (!session) return;
      return session.lost(why).finally(() => sessions.delete(id));
    },
    [LineMethod.WRITABLE](id: number, writable: boolean): void {
      sessions.get(id)?.setWritable(writable);
    },
  };
}
