/**
 * agent-ipc, agent side: declare an agent and call the node.
 *
 * @packageDocumentation
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
