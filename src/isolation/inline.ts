/**
 * Inline isolation: the agent runs on the node's own thread — the RFC's "current
 * architecture", and the baseline of every benchmark. The API is the same; blocking
 * calls become direct calls into the agent host's blocking service (the same one a
 * thread's mailbox and a process's blocking socket use), whose handler must then be
 * synchronous (the node's thread cannot wait for its own event loop).
 */
import { threadId } from 'node:worker_threads';
import type { IncomingCall } from '../connection.ts';
import { deserializeError, serializeError } from '../error-codec.ts';
import { BlockingNotAllowedError, ConnectionClosedError, UnknownMethodError, type AgentExit } from '../errors.ts';
import { directAnswerTooLarge, refuseLargeDirectRequest } from '../blocking/mailbox-body.ts';
import { payloadBytes } from '../payload-size.ts';
import { directTransportPair } from '../transports/direct-transport.ts';
import { runAgent } from './agent-runtime.ts';
import type { AgentInit } from './control.ts';
import type { AgentLauncher, BlockingService } from './launcher.ts';
import { isPromiseLike } from '../promise-like.ts';

/** Starts an inline agent; its blocking calls are served by whoever calls `serveBlocking`. */
export function launchInline(init: AgentInit): AgentLauncher {
  const [nodeEnd, agentEnd] = directTransportPair();
  const { maxMessageBytes } = init;
  let exitListener: ((exit: AgentExit) => void) | undefined;
  let exit: AgentExit | undefined;
  const finish = (code: number): void => {
    if (exit) return;
    exit = { code, signal: null };
    // Reported on a later turn, as a real exit would be.
    setImmediate(() => exitListener?.(exit!));
  };
  // The node's way of serving a blocking call, given by the agent host once it is built
  // (before the agent's module has loaded, so before any blocking call can come).
  let service: Pick<BlockingService, 'dispatchNow'> = {
    dispatchNow() {
      throw new ConnectionClosedError(`agent '${init.name}' has no node to serve its blocking calls`);
    },
  };
  const running = runAgent(init, {
    transport: agentEnd,
    blocking: (connection) => ({
      call(command, payload) {
        // Held to maxMessageBytes at the call site, as a thread agent's encoded request is
        // (see refuseLargeDirectRequest): refused before anything is sent, served or counted.
        refuseLargeDirectRequest(command, payload, maxMessageBytes);
        // Async calls sent before this one start before it (see docs/blocking-calls.md).
        connection.flush();
        agentEnd.deliver();
        try {
          // Counted, traced and deadlock-checked by the agent host, like every isolation's.
          return service.dispatchNow(command, payload);
        } catch (error) {
          throw acrossTheBoundary(error, 'the node');
        }
      },
    }),
    exit: finish,
    load: (entry) => import(entry) as Promise<Record<string, unknown>>,
  });
  return {
    isolation: 'inline',
    pid: process.pid,
    threadId,
    transport: nodeEnd,
    serveBlocking(given) {
      service = given;
      // Nothing to wake: an inline agent is never parked (its calls are direct ones).
      return { close() {} };
    },
    callDirect(command, payload) {
      // The node's blocking call into an inline agent: its method runs right here.
      const handler = running.methods.get(command);
      if (!handler) throw new UnknownMethodError(command);
      let result: unknown;
      try {
        result = handler(payload, undefined as unknown as IncomingCall);
      } catch (error) {
        throw thrownAcross(error, `agent '${init.name}'`, maxMessageBytes);
      }
      if (isPromiseLike(result)) {
        result.then(undefined, () => undefined);
        throw new BlockingNotAllowedError(
          `agent.blocking.${command}() under inline isolation got a promise from the agent's method: an inline agent runs on ` +
            "the node's own thread, which cannot wait for its own event loop. Make the method synchronous, " +
            `use agent.remote.${command}(), or run the agent with isolation 'thread'`,
        );
      }
      // Held to maxMessageBytes as a thread agent's encoded answer is (see
      // directAnswerTooLarge): a number, a boolean or undefined costs two type checks.
      if ((typeof result === 'object' || typeof result === 'string') && payloadBytes(result) > maxMessageBytes) {
        throw directAnswerTooLarge(result, maxMessageBytes)!;
      }
      return result;
    },
    onExit(listener) {
      if (exit) setImmediate(() => listener(exit!));
      else exitListener = listener;
    },
    terminate() {
      running.connection.close();
      finish(1);
    },
  };
}

/*
 * The rare ends of an inline blocking call, out of line. The call itself is a chain of
 * small functions (the agent's stub, this launcher's `call`, the agent host's serving,
 * the observer's hooks) which V8 inlines into the agent's calling code only while their
 * bytecode stays under its inlining budget; an error message built in place would spend
 * that budget on every call (see "Hot paths" in docs/blocking-calls.md).
 */

/** A handler's error, through the error codec as an async call's would be, so a class the other side registered comes back as that class. */
function acrossTheBoundary(error: unknown, from: string): Error {
  return deserializeError(serializeError(error), from);
}

/**
 * The agent method's error, as {@link acrossTheBoundary}, or the `MessageTooLargeError`
 * a thread agent's server would answer instead if it is over `limit` once serialized.
 * (The node's errors to the agent are measured by the agent host, which reports them.)
 */
function thrownAcross(error: unknown, from: string, limit: number): Error {
  const wire = serializeError(error);
  return directAnswerTooLarge(wire, limit) ?? deserializeError(wire, from);
}
