/**
 * OpenTelemetry spans from agent-ipc's `agent-ipc:call` tracing channel: one span per
 * call, parented so that a trace follows work across the node and its agents.
 *
 * - A call an agent makes while serving a node call (`parentCallId`) is a child of that
 *   node → agent call's span (same agent).
 * - A call the node makes into an agent while it serves an agent's call — inside the
 *   handler's synchronous part, between that call's `start` and `end` events — is a
 *   child of the served call's span: that is how a trace crosses from one agent to
 *   another through the node.
 *
 * Only `@opentelemetry/api` is used here; the SDK is the application's choice (main.ts).
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { SpanKind, SpanStatusCode, context, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { CallTraceContext } from '../../src/index.ts';

type Traced = CallTraceContext & { span?: Span };

/** Starts turning agent-ipc calls into spans; returns the function that stops it. */
export function traceAgentCalls(tracer: Tracer): () => void {
  /** Spans of node → agent calls in flight, by agent and call id (the parents of nested calls). */
  const nodeCalls = new Map<string, Span>();
  /** Agent → node calls whose handler's synchronous part is running now, innermost last. */
  const serving: Span[] = [];
  const key = (agent: string, callId: number) => `${agent}#${callId}`;

  const handlers = {
    start(message: unknown) {
      const call = message as Traced;
      let parent: Span | undefined;
      if (call.direction === 'agent-to-node' && call.parentCallId !== undefined) parent = nodeCalls.get(key(call.agent, call.parentCallId));
      else if (call.direction === 'node-to-agent') parent = serving.at(-1);
      const parentContext = parent ? trace.setSpan(context.active(), parent) : context.active();
      call.span = tracer.startSpan(
        `${call.agent} ${call.method}`,
        {
          kind: call.direction === 'node-to-agent' ? SpanKind.CLIENT : SpanKind.SERVER,
          attributes: {
            'agent_ipc.agent': call.agent,
            'agent_ipc.direction': call.direction,
            'agent_ipc.kind': call.kind,
            'agent_ipc.method': call.method,
            'agent_ipc.call_id': call.callId,
          },
        },
        parentContext,
      );
      if (call.direction === 'node-to-agent') nodeCalls.set(key(call.agent, call.callId), call.span);
      else serving.push(call.span);
    },
    end(message: unknown) {
      const call = message as Traced;
      // The served call's synchronous part is over: calls made from now on are not inside it.
      if (call.direction === 'agent-to-node' && call.span) {
        const at = serving.lastIndexOf(call.span);
        if (at >= 0) serving.splice(at, 1);
      }
      // Settled already (answered synchronously): the span ends here.
      if (call.outcome !== undefined) finish(call);
    },
    asyncStart() {},
    asyncEnd(message: unknown) {
      finish(message as Traced);
    },
    error(message: unknown) {
      const call = message as Traced;
      const error = call.error;
      if (error instanceof Error) call.span?.recordException(error);
      call.span?.setStatus({ code: SpanStatusCode.ERROR, message: `${call.outcome}: ${error instanceof Error ? error.message : String(error)}` });
    },
  };

  function finish(call: Traced): void {
    call.span?.setAttribute('agent_ipc.outcome', call.outcome ?? 'unknown');
    call.span?.end();
    if (call.direction === 'node-to-agent') nodeCalls.delete(key(call.agent, call.callId));
  }

  const channel = tracingChannel('agent-ipc:call');
  channel.subscribe(handlers);
  return () => channel.unsubscribe(handlers);
}
