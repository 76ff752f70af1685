/**
 * agent-ipc calls as OpenTelemetry spans. A "frontend" agent receives blocks; for each
 * it asks the node (blocking) whether the block is known and, if not, asks the node
 * (async) to verify it — which the node hands to a "verifier" agent. The spans come
 * out as one trace per block, across both agents:
 *
 *   node → frontend receive
 *     frontend → node has        (blocking)
 *     frontend → node verify     (async)
 *       node → verifier check
 *
 * Run: npm run example:opentelemetry (from the repository root). A real application
 * would export to a collector (OTLP) instead of printing.
 */
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { spawnAgent } from '../../src/index.ts';
import type Frontend from './agents/frontend.ts';
import type { NodeApi } from './agents/frontend.ts';
import type Verifier from './agents/verifier.ts';
import { traceAgentCalls } from './tracing.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const stopTracing = traceAgentCalls(provider.getTracer('agent-ipc-example'));

const known = new Set(['b1']);
const verifier = await spawnAgent<typeof Verifier>(new URL('./agents/verifier.ts', import.meta.url), { name: 'verifier' });
const expose: NodeApi = {
  has: (hash) => known.has(hash),
  verify: (hash) => verifier.remote.check(hash).catch(() => false),
};
const frontend = await spawnAgent<typeof Frontend, NodeApi>(new URL('./agents/frontend.ts', import.meta.url), { name: 'frontend', expose });

for (const hash of ['b1', 'b2', 'bad3']) console.log(`receive(${hash}) → ${await frontend.remote.receive(hash)}`);

await Promise.all([frontend.close(), verifier.close()]);
stopTracing();
await provider.forceFlush();

// Print each trace as a tree of spans.
const spans = exporter.getFinishedSpans();
const children = new Map<string | undefined, ReadableSpan[]>();
for (const span of spans) {
  const parent = span.parentSpanContext?.spanId;
  children.set(parent, [...(children.get(parent) ?? []), span]);
}
const print = (span: ReadableSpan, depth: number): void => {
  const a = span.attributes;
  const ms = span.duration[0] * 1e3 + span.duration[1] / 1e6;
  const status = span.status.code === 2 ? `  ERROR ${span.status.message ?? ''}` : '';
  console.log(`${'  '.repeat(depth)}${a['agent_ipc.direction'] === 'node-to-agent' ? 'node → ' : ''}${span.name}${a['agent_ipc.direction'] === 'agent-to-node' ? ' → node' : ''} [${a['agent_ipc.kind']}] ${ms.toFixed(2)} ms${status}`);
  for (const child of (children.get(span.spanContext().spanId) ?? []).sort((x, y) => x.startTime[1] - y.startTime[1] + (x.startTime[0] - y.startTime[0]) * 1e9)) print(child, depth + 1);
};
console.log(`\n${spans.length} spans:`);
for (const root of children.get(undefined) ?? []) {
  console.log(`trace ${root.spanContext().traceId.slice(0, 8)}…`);
  print(root, 1);
}
await provider.shutdown();
