/**
 * `close()` while the agent's own calls to the node are in flight. A thread agent lets
 * the node's handlers finish, then goes, and whatever its calls would have settled with
 * goes with it. An inline agent runs on the node's thread, where those calls must settle
 * and where a rejection nobody handles ends the node's process: a graceful close lets
 * the node answer them first, and the rejections of a forced close (or of calls the
 * agent makes once it has ended) are marked handled. Each case runs in a child process
 * of its own, so an unhandled rejection shows as its exit code; it prints what it saw.
 * The node's handlers wait for a gate the script opens, never for a timer.
 */
import { spawn } from 'node:child_process';
import test from 'ava';

const agentEntry = new URL('./fixtures/inline-close-agent.ts', import.meta.url).href;
const library = new URL('../src/index.ts', import.meta.url).href;

// In scope of every script: `entry`, `started` (resolves once the node's handler has
// been called `n` times), `open()` (lets the handlers answer), `handled()` (how many
// answered) and `expose`, the node's methods for the agent.
const prelude = `
import { spawnAgent } from ${JSON.stringify(library)};
const entry = new URL(${JSON.stringify(agentEntry)});
let calls = 0, answered = 0, opened, gate = new Promise((resolve) => (opened = resolve));
const waiters = [];
const started = (n) => new Promise((resolve) => (calls >= n ? resolve() : waiters.push([n, resolve])));
const open = () => opened();
const handled = () => answered;
const expose = {
  slow: async (i) => {
    calls++;
    for (const [n, resolve] of waiters) if (calls >= n) resolve();
    await gate;
    answered++;
    return i;
  },
};
const outcomes = () => (globalThis.inlineCloseOutcomes ?? []).join(', ') || '(none)';
`;

/** Runs `body` (ESM, after the prelude) in a new node process; its output and exit. */
function runChild(body: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', prelude + body], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const stop = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('error', (error) => {
      clearTimeout(stop);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(stop);
      resolve({ code, out, err });
    });
  });
}

for (const isolation of ['thread', 'inline'] as const) {
  test(`${isolation}: close() lets the node's handlers serving the agent's un-awaited calls finish, and the node lives`, async (t) => {
    const { code, out, err } = await runChild(`
      const agent = await spawnAgent(entry, { isolation: '${isolation}', expose });
      console.log(await agent.remote.startUnhandled(3));
      await started(3);
      const closed = agent.close();
      open();
      await closed;
      console.log('handled', handled(), 'exit', (await agent.exited).code);
    `);
    t.is(code, 0, err);
    // A thread agent does not wait for its calls' answers: the handlers may finish after it is gone.
    if (isolation === 'inline') t.is(out, 'started\nhandled 3 exit 0\n');
    else t.regex(out, /^started\nhandled [0-3] exit 0\n$/);
  });
}

test("inline: a graceful close() lets the agent's calls in flight get the node's answers before the agent ends", async (t) => {
  const { code, out, err } = await runChild(`
    const agent = await spawnAgent(entry, { isolation: 'inline', expose });
    console.log(await agent.remote.startReporting(3));
    await started(3);
    const closed = agent.close();
    open();
    await closed;
    console.log('handled', handled(), 'exit', (await agent.exited).code);
    console.log(outcomes());
  `);
  t.is(code, 0, err);
  t.is(out, 'started\nhandled 3 exit 0\n0 resolved 0, 1 resolved 1, 2 resolved 2\n');
});

test("inline: a close() forced after its grace period rejects the agent's calls still waiting, and the node lives", async (t) => {
  const { code, out, err } = await runChild(`
    const agent = await spawnAgent(entry, { isolation: 'inline', expose });
    console.log(await agent.remote.startUnhandled(3));
    await started(3);
    // The handlers answer only once the close is over: it must be forced.
    await agent.close({ timeoutMs: 1 });
    console.log('exit', (await agent.exited).code);
    open();
    await new Promise((resolve) => setImmediate(resolve));
    console.log('handled', handled());
  `);
  t.is(code, 0, err);
  t.is(out, 'started\nexit 1\nhandled 3\n');
});

test('inline: the calls a forced close() rejects still reject for an agent that handles them', async (t) => {
  const { code, out, err } = await runChild(`
    const agent = await spawnAgent(entry, { isolation: 'inline', expose });
    console.log(await agent.remote.startReporting(3));
    await started(3);
    await agent.close({ timeoutMs: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    console.log(outcomes());
    open();
  `);
  t.is(code, 0, err);
  t.is(out, 'started\n0 rejected ConnectionClosedError, 1 rejected ConnectionClosedError, 2 rejected ConnectionClosedError\n');
});

test('inline: a call the agent makes once it has ended rejects without ending the node', async (t) => {
  const { code, out, err } = await runChild(`
    const agent = await spawnAgent(entry, { isolation: 'inline', expose });
    console.log(await agent.remote.arm());
    await agent.close();
    globalThis.inlineCloseCallLater();
    await new Promise((resolve) => setImmediate(resolve));
    console.log('exit', (await agent.exited).code, 'called', handled());
  `);
  t.is(code, 0, err);
  t.is(out, 'armed\nexit 0 called 0\n');
});
