/**
 * A state of the connection's state machine (HELLO → PEER-ID → READY, as in sync-v2):
 * the commands it accepts, and what happens on entering and leaving it.
 */
export interface ProtocolState {
  readonly name: string;
  /** Command → handler of its payload. A command not listed here closes the connection. */
  readonly handlers: ReadonlyMap<string, (payload: string) => void>;
  enter?(): void;
  /** Runs when the state is left, including when the connection is lost in it. */
  leave?(): void;
}
