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
import { payloadBytes, wireErrorTooLarge } from '../payload-size.ts';
import { directTransportPair } from '../transports/direct-transport.ts';
import { runAgent, type CallKeeper } from './agent-runtime.ts';
import type { IpcConnection } from '../connection.ts';
import { ServingAnnouncer } from '../observability/serving-announcer.ts';
import type { AgentInit } from './control.ts';
import type { AgentLauncher, BlockingService } from './launcher.ts';
import { isPromiseLike } from '../promise-like.ts';

/** Starts an inline agent; its blocking calls are served by whoever calls `serveBlocking`. */
export function launchInline(init: AgentInit): AgentLauncher {
  const [nodeEnd, agentEnd] = directTransportPair();
  const { maxMessageBytes } = init;
  let exitListener: ((exit: AgentExit) => void) | undefined;
  let exit: AgentExit | undefined;
  let calls: KeptCalls | undefined;
  const finish = (code: number): void => {
    // Whatever the agent's calls still waiting reject with now, and every call it makes
    // from here on, cannot crash the node (see KeptCalls).
    calls?.end();
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
    keepCalls: (send) => (calls = new KeptCalls(send)),
    beforeClose: (connection) => calls!.answered(connection),
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
      // The close's grace period is over (or the agent broke the protocol): its calls
      // still waiting for the node's answers reject, marked handled first (finish).
      finish(1);
      // The agent's end closes after the exit is reported (finish's turn comes first): the
      // node's calls in flight then reject with AgentExitedError, as a thread's or a
      // process's do. Closed at once, its end would close the node's first, and they got
      // a bare ConnectionClosedError.
      setImmediate(() => running.connection.close());
    },
  };
}

/**
 * The observer of an inline agent's connection (the agent's {@link ServingAnnouncer}),
 * which also keeps the agent's calls to the node while they wait for an answer.
 *
 * A thread or process agent that is closed or terminated takes its calls' promises
 * with it: code that made a call and never awaited it is gone too. An inline agent's
 * code lives on in the node's thread, where its calls must settle, so they reject once
 * the agent ends (its connection closes) — and a rejection nobody handles would be an
 * unhandled rejection of the node's process, which ends it. So when the agent ends
 * (`end`), the rejections of the calls still waiting are marked handled (whoever
 * awaits one still sees its error), and so are those of the calls it makes afterwards.
 * A graceful close waits for the answers first (`answered`), so only a forced close
 * (after the grace period) rejects calls in flight.
 */
class KeptCalls extends ServingAnnouncer implements CallKeeper {
  /** The calls waiting for an answer, by request id. */
  private readonly waiting = new Map<number, Promise<unknown>>();
  /** The id of the call the connection has just started, until `made` takes its promise. */
  private started = 0;
  private ended = false;
  /** Called when a call settles, while a closing agent waits for its calls' answers. */
  private onSettled: (() => void) | undefined;

  // (The announcer's own are no-ops, declared without the connection's arguments.)
  override outgoingStarted(id = 0): unknown {
    this.started = id;
    return id;
  }

  override outgoingSettled(token?: unknown): void {
    if (token === this.started) this.started = 0;
    this.waiting.delete(token as number);
    this.onSettled?.();
  }

  made<T>(call: Promise<T>): Promise<T> {
    if (this.ended) call.then(undefined, ignore);
    else if (this.started !== 0) this.waiting.set(this.started, call);
    this.started = 0;
    return call;
  }

  /** Resolves once none of the agent's calls waits for an answer any more (or its connection closed). */
  answered(connection: IpcConnection): Promise<void> {
    const done = (): boolean => connection.inFlight === 0 || connection.closed;
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      // Called before the settled call's promise is resolved or rejected; it still is
      // before the agent's connection closes (a later microtask).
      this.onSettled = () => {
        if (!done()) return;
        this.onSettled = undefined;
        resolve();
      };
    });
  }

  /** The agent ended: its calls' rejections cannot crash the node from now on. */
  end(): void {
    this.ended = true;
    for (const call of this.waiting.values()) call.then(undefined, ignore);
    this.waiting.clear();
  }
}

function ignore(): void {}

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
  return wireErrorTooLarge(wire, limit, 'blocking call answer') ?? deserializeError(wire, from);
}
