/** Two IpcConnections wired together in-process over a MessageChannel. */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { IpcConnection, PortTransport, type HandlerTable, type IpcConnectionOptions } from '../../src/connection-layer.ts';
import type { Batch } from '../../src/wire.ts';

export interface Pair {
  a: IpcConnection;
  b: IpcConnection;
  portA: MessagePort;
  portB: MessagePort;
  /** Batches each side posted (a spy on postMessage). */
  sentByA: Batch[];
  sentByB: Batch[];
  close(): void;
}

function spy(port: MessagePort, log: Batch[]): MessagePort {
  const post = port.postMessage.bind(port);
  port.postMessage = (value: unknown) => {
    post(value);
    log.push(value as Batch);
  };
  return port;
}

export function connectionPair(
  handlersA: HandlerTable = new Map(),
  handlersB: HandlerTable = new Map(),
  options: { a?: IpcConnectionOptions; b?: IpcConnectionOptions } = {},
): Pair {
  const { port1, port2 } = new MessageChannel();
  const sentByA: Batch[] = [];
  const sentByB: Batch[] = [];
  const a = new IpcConnection(new PortTransport(spy(port1, sentByA)), { handlers: handlersA, peerName: 'b', ...options.a });
  const b = new IpcConnection(new PortTransport(spy(port2, sentByB)), { handlers: handlersB, peerName: 'a', ...options.b });
  return {
    a,
    b,
    portA: port1,
    portB: port2,
    sentByA,
    sentByB,
    close() {
      a.close();
      b.close();
    },
  };
}

/** A handler table from plain functions that take the args array spread. */
export function table(methods: Record<string, (...args: any[]) => unknown>): HandlerTable {
  const map = new Map<string, (payload: unknown) => unknown>();
  for (const [name, fn] of Object.entries(methods)) {
    map.set(name, (payload) => (Array.isArray(payload) ? fn(...payload) : fn(payload)));
  }
  return map;
}
