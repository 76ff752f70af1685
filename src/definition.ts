/**
 * `defineAgent`: how an agent module declares itself, and how the runtime finds that
 * declaration in the module it loaded.
 */
import { AGENT_DEFINITION, type AgentContext, type AgentDefinition, type MainHandle } from './types.ts';
import { invalidArgument } from './invalid-option.ts';

/**
 * Declares an agent. `factory` runs once in each agent, with the node's exposed
 * methods as `main` (`main.async.x()` / `main.blocking.x()`) and the agent's context;
 * it returns the methods the node may call. Export the result as the module's
 * default export:
 *
 * ```ts
 * export default defineAgent((main: MainHandle<NodeApi>, ctx: AgentContext) => ({
 *   recvMessage(line: string) { return main.blocking.getBlock(line) },
 * }));
 * ```
 *
 * Annotate `main` (rather than writing `defineAgent<NodeApi>(...)`) so that TypeScript
 * infers the methods type too, and `spawnAgent<typeof TheAgent>` sees the agent's
 * methods: TypeScript cannot infer one type argument when another is given.
 */
export function defineAgent<Main = unknown, Methods extends object = object>(
  factory: (main: MainHandle<Main>, ctx: AgentContext) => Methods | Promise<Methods>,
): AgentDefinition<Methods, Main> {
  if (typeof factory !== 'function') throw invalidArgument('defineAgent expects a factory function');
  return Object.freeze({ [AGENT_DEFINITION]: true as const, factory });
}

/** True if `value` is what {@link defineAgent} returned (from any copy of the library). */
export function isAgentDefinition(value: unknown): value is AgentDefinition {
  return value !== null && typeof value === 'object' && (value as Record<symbol, unknown>)[AGENT_DEFINITION] === true;
}

/**
 * Finds the agent definition among a module's exports: the default export, the
 * default of a CommonJS `module.exports` object, or else the only named export that is
 * a definition.
 */
export function findDefinition(moduleNamespace: Record<string, unknown>, entry: string): AgentDefinition {
  const candidates = [moduleNamespace.default, (moduleNamespace.default as Record<string, unknown> | undefined)?.default];
  for (const candidate of candidates) if (isAgentDefinition(candidate)) return candidate;
  const named = Object.values(moduleNamespace).filter(isAgentDefinition);
  if (named.length === 1) return named[0]!;
  throw invalidArgument(
    named.length > 1
      ? `agent module ${entry} exports ${named.length} agent definitions; export exactly one (as default)`
      : `agent module ${entry} does not export an agent: add \`export default defineAgent(...)\``,
  );
}
