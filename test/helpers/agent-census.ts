/**
 * Agents as the public lifecycle channels (`agent-ipc:agent:spawn` and `:exit`) report
 * them, for tests that must show every agent a server launched has ended — failed starts
 * included, since those publish both events too.
 */
import type { ExecutionContext } from 'ava';
import { subscribe } from 'node:diagnostics_channel';
import { ChannelNames, type AgentExitMessage, type AgentSpawnMessage, type Isolation } from '../../src/index.ts';
import { gone } from './process-gone.ts';

/** Every agent launched and exited in this test process since the last {@link AgentCensus.clear}. */
export class AgentCensus {
  readonly spawned = new Map<string, AgentSpawnMessage>();
  readonly exited = new Map<string, AgentExitMessage>();

  /** `onExit` runs after each exit is recorded (a test waiting for one looks again). */
  constructor(onExit: () => void = () => undefined) {
    subscribe(ChannelNames.SPAWN, (message) => {
      const spawn = message as AgentSpawnMessage;
      this.spawned.set(spawn.agent, spawn);
    });
    subscribe(ChannelNames.EXIT, (message) => {
      const exit = message as AgentExitMessage;
      this.exited.set(exit.agent, exit);
      onExit();
    });
  }

  clear(): void {
    this.spawned.clear();
    this.exited.clear();
  }

  /** After `close()`: some agent was launched, every one has exited, and (process agents) its process is gone. */
  assertNoneLeft(t: ExecutionContext, isolation: Isolation): void {
    t.true(this.spawned.size > 0);
    t.deepEqual([...this.spawned.keys()].filter((agent) => !this.exited.has(agent)), [], 'every agent launched has exited');
    if (isolation === 'process') t.deepEqual([...this.spawned.values()].filter(({ pid }) => !gone(pid)).map(({ agent }) => agent), [], 'no agent process survives');
  }
}
