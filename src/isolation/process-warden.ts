/**
 * Entry point of the warden: one process per node that has agents sandboxed without
 * worker threads, which ends them if the node dies while one of them is too busy to
 * notice. It does for them what a process agent's watchdog thread
 * (`process-watchdog.ts`) does for the others: such an agent may not start a thread,
 * and the permission model cannot grant agent-ipc one while denying one to the agent's
 * code, so the watch is kept from outside.
 *
 * An idle agent sees its stream to the node end and exits by itself; one parked in a
 * blocking call sees its blocking socket end. One running a long synchronous loop sees
 * nothing: the warden SIGKILLs it. The node registers each agent it starts on the
 * warden's stdin and unregisters it when it sees it exit (`warden-protocol.ts`). The
 * end of that pipe is the node's death, however it dies (the kernel closes a dead
 * process's pipes); as a backstop the warden also checks that its parent is still the
 * node. It then gives the agents {@link GRACE_MS} to exit by themselves, kills those
 * still there — only if their start time is still the one registered, so that a pid
 * reused by another process is left alone — and exits.
 *
 * Started as `node process-warden.js <node pid>` (see `warden-client.ts`): the pid to
 * compare the parent with is the one the node passes, since the node may already be
 * gone by the time this process runs.
 */
import { processStartTime } from './process-start-time.ts';
import { lineSplitter, NO_START_TIME, parseWardenLine } from './warden-protocol.ts';

/** How often the parent pid is checked (as the watchdog thread does). */
const PARENT_CHECK_MS = 500;

/** How long the agents may take to exit by themselves once the node is gone, before SIGKILL (as the watchdog's). */
const GRACE_MS = 500;

const given = Number(process.argv[2]);
const nodePid = Number.isInteger(given) && given > 0 ? given : process.ppid;
process.title = 'agent-ipc:warden';
// Ctrl-C in a terminal signals the whole process group: the node may die of it, and
// the warden must outlive it by GRACE_MS to end the agents (which ignore SIGINT too).
process.on('SIGINT', () => undefined);
// SIGUSR1 makes a Node.js outside the permission model open its inspector, where whoever
// reaches 127.0.0.1:9229 runs code: a sandboxed agent can send it (signals are not a
// permission) and has the network. A listener keeps the inspector shut; the built warden
// also runs under the permission model, which shuts it from the very start.
process.on('SIGUSR1', () => undefined);

/** The agents to end: pid → start time as registered. */
const agents = new Map<number, string>();
let gone = false;

const nodeGone = (): void => {
  if (gone) return;
  gone = true;
  clearInterval(check);
  // Even with nobody registered: a node that died before this process ran leaves its
  // registrations in the pipe, and they are read meanwhile.
  setTimeout(endAgents, GRACE_MS);
};

function endAgents(): void {
  for (const [pid, start] of agents) {
    // Gone by itself, or its pid now belongs to another process: not ours to end.
    if (start !== NO_START_TIME && processStartTime(pid) !== start) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  process.exit(0);
}

const check = setInterval(() => {
  if (process.ppid !== nodePid) nodeGone();
}, PARENT_CHECK_MS);
if (process.ppid !== nodePid) nodeGone();

process.stdin.setEncoding('latin1');
process.stdin.on(
  'data',
  lineSplitter((line) => {
    const command = parseWardenLine(line);
    if (command === undefined || command.pid === process.pid) return;
    if (command.op === 'register') agents.set(command.pid, command.start);
    else agents.delete(command.pid);
  }),
);
process.stdin.on('end', nodeGone);
process.stdin.on('close', nodeGone);
process.stdin.on('error', nodeGone);
