/**
 * The brand on agent-ipc's error classes, kept apart from `errors.ts` (whose every export
 * is public) so that the error codec can tell the library's classes from an
 * application's without making that test part of the API.
 *
 * Each class's prototype carries the brand, holding its name. The built package has more
 * than one copy of the library in a process (the bootstraps of thread and process agents
 * bundle their own, beside the `agent-ipc/agent` the agent module imports), so
 * `instanceof` compares brands along the prototype chain, not class identity; hence a
 * `Symbol.for` key, the same in every copy.
 */
export const ERROR_BRAND: symbol = Symbol.for('agent-ipc.error-class');

/** True for agent-ipc's own error classes, from any copy of the library. */
export function isLibraryErrorClass(cls: { prototype: unknown }): boolean {
  const proto = cls.prototype;
  return proto !== null && typeof proto === 'object' && Object.prototype.hasOwnProperty.call(proto, ERROR_BRAND);
}
