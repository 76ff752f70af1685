/**
 * The node's end of a process agent's handle channel (`handOffSockets`: the Node.js IPC
 * channel on the child's fd 6), made safe against the agent. Node.js trusts what comes
 * back on that channel: it parses it as JSON lines in the channel's `onread` (a parse
 * error is thrown into the event loop), keeps an unterminated line in memory without
 * limit, emits every message on its own tick, asserts on an acknowledgement that answers
 * no send in progress, and accepts the handles the agent sends. Any of these, done on
 * purpose or by a broken agent, would crash the node, grow its memory or leave it
 * holding the agent's handles.
 *
 * The agent's side sends nothing of its own on this channel: only Node.js's
 * acknowledgements of the sockets handed to it (NODE_HANDLE_ACK, or NODE_HANDLE_NACK when
 * a descriptor could not be received), one per send, a few dozen bytes each; and Node.js's
 * answers about the sockets of a `net.Server` it was handed (its socket list: the node's
 * `server.close()` asks to be told once they are all closed, NODE_SOCKET_ALL_CLOSED, and
 * `getConnections()` how many there are, NODE_SOCKET_COUNT), which Node.js's listeners of
 * that list take, and ignore when they asked nothing. So the guard passes on exactly
 * those (the latter up to {@link MAX_SOCKET_LIST_ANSWERS}), and anything else is a protocol break: it stops passing the
 * agent's bytes on and reports a `ProtocolError` (the launcher then kills the agent, as
 * for a break on its other sockets). The channel's end (the agent exited, or closed its
 * end while running) is reported too.
 *
 * Node.js internals relied on (lib/internal/child_process.js and
 * lib/internal/child_process/serialization.js, the same in Node.js 20, 22, 24 and 26;
 * test/handoff-channel-hostile.test.ts fails if one of them changes):
 * - the channel's Pipe handle is the child's own property keyed by `Symbol(kChannelHandle)`;
 *   its `onread(arrayBuffer)` is called with each chunk read (its `byteLength` the bytes
 *   read, no buffer at the end of the stream) and parses it; `pendingHandle` holds a
 *   descriptor received with the chunk; `buffering` is true while a line is unterminated;
 * - parsed internal messages are emitted as `internalMessage` on the child, where
 *   Node.js's own listener handles the acknowledgements; it asserts that
 *   `child._handleQueue` is an array (a send awaits its acknowledgement);
 * - other messages are emitted as `message` (queued without limit if nobody listens).
 */
import type { ChildProcess } from 'node:child_process';
import { ProtocolError } from '../errors.ts';

/**
 * Most bytes the agent may have sent at once, or in a line not yet ended. Its honest
 * traffic is one acknowledgement per socket handed over (about 30 bytes), and the node
 * sends the next socket only once the last one was acknowledged.
 */
export const MAX_HANDLE_CHANNEL_BYTES = 4096;

/** What the guard reports to the launcher. */
export interface HandleChannelEvents {
  /** The agent broke the channel's protocol (once): nothing more of it is passed on. */
  onBroken(error: ProtocolError): void;
  /** The agent's end of the channel closed: it exited, or it closed the channel while running. */
  onClosed(): void;
}

/** The Pipe handle of the channel, as far as the guard uses it. */
interface ChannelPipe {
  onread: (this: ChannelPipe, arrayBuffer?: ArrayBuffer) => unknown;
  pendingHandle: { close(): void } | null;
  buffering: boolean;
}

type InternalListener = (this: ChildProcess, message: unknown, handle: unknown) => void;

/** The acknowledgements Node.js's side of the agent sends, the one thing the node accepts on the channel. */
const ANSWERS: ReadonlySet<unknown> = new Set(['NODE_HANDLE_ACK', 'NODE_HANDLE_NACK']);

/**
 * Node.js's answers about a handed server's sockets (see above). Its own listeners of the
 * server's socket list handle them (they never reach Node.js's handle listener, which
 * ignores them): the guard only lets them through.
 */
const SOCKET_LIST_ANSWERS: ReadonlySet<unknown> = new Set(['NODE_SOCKET_ALL_CLOSED', 'NODE_SOCKET_COUNT']);

/**
 * Most socket-list answers an agent may send in its life. An honest one sends one per
 * close of a listening server whose sockets it was handed (the line server never asks for
 * a count), so a few; the bound keeps an agent from flooding the node's event loop with
 * them, as any other message would.
 */
export const MAX_SOCKET_LIST_ANSWERS = 1024;

/**
 * Guards `child`'s handle channel (spawned with an `'ipc'` stdio): call right after
 * `spawn`, before the event loop has read anything from the channel.
 */
export function guardHandleChannel(child: ChildProcess, name: string, events: HandleChannelEvents): void {
  let broken = false;
  const breakWith = (what: string, cause?: unknown): void => {
    if (broken) return;
    broken = true;
    events.onBroken(new ProtocolError(`agent '${name}' ${what} on its handle channel (it only acknowledges the sockets handed to it)`, cause === undefined ? undefined : { cause }));
  };

  const pipe = channelPipe(child);
  if (pipe) {
    const read = pipe.onread;
    // Bytes read since the last newline, at most (counted per chunk, so a little more).
    let unterminated = 0;
    pipe.onread = function (arrayBuffer) {
      // A descriptor that came with the chunk: the node takes no handle from the agent.
      // Closed before Node.js sees it, so the node never holds what the agent sent.
      const received = this.pendingHandle;
      this.pendingHandle = null;
      received?.close();
      if (!arrayBuffer) {
        // The end of the stream: Node.js closes its end and marks the child disconnected.
        read.call(this, arrayBuffer);
        events.onClosed();
        return;
      }
      // Broken already: the rest is dropped unread until the killed agent's end closes.
      if (broken) return;
      if (received) return breakWith('sent a handle');
      const size = arrayBuffer.byteLength;
      if (size > MAX_HANDLE_CHANNEL_BYTES) return breakWith(`sent ${size} bytes at once (more than ${MAX_HANDLE_CHANNEL_BYTES})`);
      try {
        read.call(this, arrayBuffer);
      } catch (error) {
        // Node.js parses each line with JSON.parse, and would throw into the event loop.
        return breakWith('sent a line that is not JSON', error);
      }
      unterminated = this.buffering ? unterminated + size : 0;
      if (unterminated > MAX_HANDLE_CHANNEL_BYTES) breakWith(`sent more than ${MAX_HANDLE_CHANNEL_BYTES} bytes without a newline`);
    };
  }

  // Node.js's own handler of internal messages runs only for an acknowledgement it
  // awaits: any other would fail its assertion, or (NODE_HANDLE) take a handle from the agent.
  const nodeListeners = child.listeners('internalMessage') as InternalListener[];
  let socketListAnswers = 0;
  child.removeAllListeners('internalMessage');
  child.on('internalMessage', (message: unknown, handle: unknown) => {
    if (broken) return;
    const command = (message as { cmd?: unknown }).cmd;
    if (SOCKET_LIST_ANSWERS.has(command) && handle === undefined) {
      if (++socketListAnswers > MAX_SOCKET_LIST_ANSWERS) breakWith(`sent more than ${MAX_SOCKET_LIST_ANSWERS} answers about its sockets`);
      return;
    }
    if (ANSWERS.has(command) && handle === undefined && Array.isArray((child as { _handleQueue?: unknown })._handleQueue)) {
      for (const listener of nodeListeners) listener.call(child, message, handle);
      return;
    }
    breakWith(ANSWERS.has(command) ? `sent ${String(command)} for no socket handed to it` : `sent the internal message ${typeof command === 'string' ? command.slice(0, 40) : '?'}`);
  });
  // A listener also keeps Node.js from queueing the agent's messages while nobody listens.
  child.on('message', () => breakWith('sent a message'));
}

/** The channel's Pipe handle, found by the symbol Node.js keys it with; undefined if this Node.js keeps it elsewhere. */
function channelPipe(child: ChildProcess): ChannelPipe | undefined {
  for (const key of Object.getOwnPropertySymbols(child)) {
    if (key.description !== 'kChannelHandle') continue;
    const pipe = (child as unknown as Record<symbol, unknown>)[key] as Partial<ChannelPipe> | null;
    if (pipe && typeof pipe.onread === 'function') return pipe as ChannelPipe;
  }
  return undefined;
}
