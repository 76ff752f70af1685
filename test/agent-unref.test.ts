/**
 * `agent.unref()` and `agent.ref()`: a tool that starts an agent and never closes it must
 * still be able to exit, as with `worker.unref()`. Each case runs in a child process of
 * its own, which must end by itself: it prints what it saw and exits with code 0. One that
 * has not ended after 30 s is killed, and fails on its exit code. The children run as
 * `node --input-type=module -e …`, which their thread agents inherit (on Node.js 22 and
 * later that once stopped a worker's entry from loading: see src/isolation/thread.ts).
 */
import { spawn } from 'node:child_process';
import test from 'ava';

const echoAgent = new URL('./fixtures/echo-agent.ts', import.meta.url).href;
const library = new URL('../src/index.ts', import.meta.url).href;

/** Runs `body` (ESM, with `spawnAgent` and `spawnAgentSync` in scope) in a new node process; its output and exit. */
function runChild(body: string): Promise<{ code: number | null; out: string }> {
  const script = `import { spawnAgent, spawnAgentSync } from ${JSON.stringify(library)};\nconst entry = new URL(${JSON.stringify(echoAgent)});\n${body}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    // A child that does not end (the agent kept it alive) is killed, not left behind:
    // the test then fails on its exit code.
    const stop = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('error', (error) => {
      clearTimeout(stop);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(stop);
      resolve({ code, out });
    });
  });
}

for (const isolation of ['thread', 'process', 'inline'] as const) {
  test(`${isolation}: an unref'd agent, never closed, lets the process exit`, async (t) => {
    const { code, out } = await runChild(`
      const agent = await spawnAgent(entry, { isolation: '${isolation}' });
      console.log(await agent.remote.echo('answered'));
      console.log(agent.unref() === agent ? 'chained' : 'not chained');
    `);
    t.is(code, 0);
    t.is(out, 'answered\nchained\n');
  });
}

test("thread: an unref'd agent still answers while the process has other work", async (t) => {
  const { code, out } = await runChild(`
    const agent = (await spawnAgent(entry, { isolation: 'thread' })).unref();
    const keepAlive = setInterval(() => {}, 1000);
    console.log(await agent.remote.echo('still served'), agent.blocking.add(2, 3));
    clearInterval(keepAlive);
  `);
  t.is(code, 0);
  t.is(out, 'still served 5\n');
});

test("spawnAgentSync: an unref'd agent lets a script that never closes it end", async (t) => {
  const { code, out } = await runChild(`
    const agent = spawnAgentSync(entry).unref();
    console.log(agent.blocking.add(40, 2));
  `);
  t.is(code, 0);
  t.is(out, '42\n');
});

for (const isolation of ['thread', 'process'] as const) {
  test(`${isolation}: ref() after unref() keeps the process alive again`, async (t) => {
    // An unref'd timer fires only if something else keeps the loop alive: the agent.
    const { code, out } = await runChild(`
      const agent = await spawnAgent(entry, { isolation: '${isolation}' });
      agent.unref().ref();
      setTimeout(async () => {
        console.log('still alive', await agent.remote.echo(1));
        await agent.close();
        console.log('closed');
      }, 300).unref();
    `);
    t.is(code, 0);
    t.is(out, 'still alive 1\nclosed\n');
  });
}
