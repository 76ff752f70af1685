/**
 * Agent side of `handOffSockets`: the sockets the node hands to this process agent,
 * kept by connection id until the connection's OPEN claims them. A socket and its OPEN
 * travel on different channels (the Node.js IPC channel and the agent stream), so either
 * may arrive first.
 *
 * The inbox listens from the moment the line protocol starts (before the agent reports
 * ready, hence before any socket is sent): Node.js emits a received handle once, and a
 * socket nobody took would stay open.
 */
import { Socket } from 'node:net';
import { ConnectionClosedError } from '../../errors.ts';
import { SOCKET_MESSAGE, type SocketMessage } from '../shared/line-methods.ts';

/** One inbox per process, even if the library is loaded twice (source and built copies). */
const INBOX = Symbol.for('agent-ipc:lines:socket-inbox');

function isSocketMessage(message: unknown): message is SocketMessage {
  return message !== null && typeof message === 'object' && (message as SocketMessage).type === SOCKET_MESSAGE && typeof (message as SocketMessage).id === 'number';
}

const ignore = (): void => undefined;

/** What a connection's message brought: its socket, or `undefined` if it came without one. */
type Delivery = Socket | undefined;

/** Sockets received from the node, by connection id. */
export class SocketInbox {
  private readonly arrived = new Map<number, Delivery>();
  private readonly waiting = new Map<number, (delivery: Delivery) => void>();

  private constructor() {
    process.on('message', (message: unknown, handle: unknown) => {
      if (!isSocketMessage(message)) return;
      // A socket destroyed while its message waited in Node.js's queue (behind one this agent
      // had not acknowledged yet; the node's server closed meanwhile) is not sent: the message
      // comes alone. Its connection's OPEN must then fail at once, not wait for a socket that
      // never comes (it would hold up the server's close until this agent is killed).
      const socket = handle instanceof Socket ? handle : undefined;
      // Node.js rebuilds a received socket without half-open support: a peer's FIN before
      // the connection's OPEN came would end and destroy it, losing what `connectionMade`
      // sends. (While held it reads at most its stream's high-water mark, then waits.)
      if (socket) socket.allowHalfOpen = true;
      const waiter = this.waiting.get(message.id);
      if (waiter) {
        this.waiting.delete(message.id);
        waiter(socket);
        return;
      }
      // Until its connection takes it, a reset must not be an uncaught 'error': the socket
      // keeps it (`errored`), and the connection fails with it once it takes the socket.
      socket?.on('error', ignore);
      this.arrived.set(message.id, socket);
    });
  }

  /** The inbox of this process, if the node opened a channel to hand it sockets. */
  static ofThisProcess(): SocketInbox | undefined {
    if (!process.channel) return undefined;
    const registry = globalThis as { [INBOX]?: SocketInbox };
    return (registry[INBOX] ??= new SocketInbox());
  }

  /**
   * The socket of connection `id`, once it arrived; rejects with `ConnectionClosedError`
   * if its message came without it (the node closed it before it could be sent).
   */
  async take(id: number): Promise<Socket> {
    let delivery: Delivery;
    if (this.arrived.has(id)) {
      delivery = this.arrived.get(id);
      this.arrived.delete(id);
    } else {
      delivery = await new Promise<Delivery>((resolve) => this.waiting.set(id, resolve));
    }
    if (!delivery) throw new ConnectionClosedError(`the socket of connection ${id} was closed before it reached the agent`);
    delivery.off('error', ignore);
    return delivery;
  }
}
