/**
 * agent-ipc, agent side: declare an agent and call the node. `import { … } from 'agent-ipc/agent'`.
 * Line protocols are declared with `agent-ipc/lines/agent`.
 *
 * @packageDocumentation
 * @module agent-ipc/agent
 */
export { defineAgent } from './definition.ts';
export * from './errors.ts';
export { registerError } from './error-codec.ts';
export type { ErrorClass } from './error-codec.ts';
export type { CallOptions } from './connection.ts';
export type {
  AgentContext,
  AgentDefinition,
  AnyFunction,
  Blocking,
  BlockingCallOptions,
  Isolation,
  MainHandle,
  MethodKeys,
  Promisified,
} from './types.ts';
