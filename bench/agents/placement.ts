/**
 * Agent for bench/placement.ts: `add`, and the Linux thread id of the agent's thread
 * (from /proc/thread-self), so the bench can read which CPU that thread is on.
 */
import { readlinkSync } from "node:fs";
import { defineAgent } from "../../src/agent.ts";

export default defineAgent(() => ({
  add(a: number, b: number): number {
    return a + b;
  },
  threadTid(): number {
    return Number(readlinkSync("/proc/thread-self").split("/").pop());
  },
}));
