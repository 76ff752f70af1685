// A thread agent as a user ships it: plain JavaScript importing the built package by
// its own name (package self-reference resolves `agent-ipc/agent` to dist/agent.js).
import { defineAgent } from 'agent-ipc/agent';

export default defineAgent(() => ({
  add(a, b) {
    return a + b;
  },
}));
