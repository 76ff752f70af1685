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
import { SOCKET_MESSAGE, type SocketMessage } from '../shared/line-methods.ts';

/** One inbox per process, even if the library is loaded twice (source and built copies). */
const INBOX = Symbol.for('agent-ipc:lines:socket-inbox');

function isSocketMessage(message: unknown): message is SocketMessage {
  return message !== null && typeof message === 'object' && (message as SocketMessage).type === SOCKET_MESSAGE && typeof (message as SocketMessage).id === 'number';
}

const ignore = (): void => undefined;

/** Sockets received from the node, by connection id. */
export class SocketInbox {
  private readonly arrived = new Map<number, Socket>();
  private readonly waiting = new Map<number, (socket: Socket) => void>();

  private constructor() {
    process.on('message', (message: unknown, handle: unknown) => {
      if (!isSocketMessage(message) || !(handle instanceof Socket)) return;
      const waiter = this.waiting.get(message.id);
      if (waiter) {
        this.waiting.delete(message.id);
        waiter(handle);
        return;
      }
      // Until its connection takes it, a reset must not be an uncaught 'error': the
      // connection sees the socket closed instead.
      handle.on('error', ignore);
      this.arrived.set(message.id, handle);
    });
  }

  /** The inbox of this process, if the node opened a channel to hand it sockets. */
  static ofThisProcess(): SocketInbox | undefined {
    if (!process.channel) return undefined;
    const registry = globalThis as { [INBOX]?: SocketInbox };
    return (registry[INBOX] ??= new SocketInbox());
  }

  /** The socket of connection `id`, once it arrived. */
  take(id: number): Promise<Socket> {
    const socket = this.arrived.get(id);
    if (socket) {
      this.arrived.delete(id);
      socket.off('error', ignore);
      return Promise.resolve(socket);
    }
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
}
