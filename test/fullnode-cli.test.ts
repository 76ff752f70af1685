/**
 * The reference full node's command line: flag parsing and its messages, and a real run
 * that mines, goes online, answers HTTP and stops cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import test from 'ava';
import { parseCliArgs, UsageError } from '../examples/fullnode/cli/cli-options.ts';

const MAIN = new URL('../examples/fullnode/main.ts', import.meta.url).pathname;

test('flags parse into options; defaults need no setup', (t) => {
  t.like(parseCliArgs([]), { dataDir: null, generateBlocks: 0, port: 40403, httpPort: 8080, p2p: 'inline', bootstrap: [] });
  t.like(parseCliArgs(['--data-dir', '/tmp/x', '--generate-blocks=2000', '--port', '0', '--http-port=0']), {
    dataDir: '/tmp/x',
    generateBlocks: 2000,
    port: 0,
    httpPort: 0,
  });
  t.is(parseCliArgs(['--p2p-multiprocess']).p2p, 'thread');
  t.is(parseCliArgs(['--p2p-multiprocess=process']).p2p, 'process');
  t.is(parseCliArgs(['--p2p-multiprocess=thread']).p2p, 'thread');
  t.is(parseCliArgs(['--p2p-multiprocess']).agents, 'per-connection');
  t.deepEqual(parseCliArgs(['--p2p-multiprocess', '--p2p-agents', '2']).agents, { pool: 2 });
  t.is(parseCliArgs(['--p2p-multiprocess']).agentPriority, undefined);
  t.is(parseCliArgs(['--p2p-multiprocess', '--p2p-agent-priority', '0']).agentPriority, 0);
  t.is(parseCliArgs(['--p2p-multiprocess', '--p2p-agent-priority=19']).agentPriority, 19);
  t.deepEqual(parseCliArgs(['--bootstrap', '127.0.0.1:40403', '[::1]:40404', '--bootstrap=example.org:1']).bootstrap, [
    { host: '127.0.0.1', port: 40403 },
    { host: '::1', port: 40404 },
    { host: 'example.org', port: 1 },
  ]);
});

test('bad flags get a message naming the flag and what it wants', (t) => {
  const bad: Array<[string[], RegExp]> = [
    [['--port', 'abc'], /--port wants a port number/],
    [['--port', '70000'], /--port wants a port number/],
    [['--http-port'], /--http-port needs a value/],
    [['--generate-blocks', '-3'], /--generate-blocks wants a whole number of blocks, got '-3'/],
    [['--generate-blocks', '2.5'], /--generate-blocks wants a whole number/],
    [['--bootstrap', 'localhost'], /--bootstrap wants HOST:PORT/],
    [['--p2p-multiprocess', '--p2p-agent-priority', '20'], /--p2p-agent-priority wants a nice value from 0 to 19, got '20'/],
    [['--p2p-multiprocess', '--p2p-agent-priority', '-1'], /--p2p-agent-priority needs a value|--p2p-agent-priority wants a nice value/],
    [['--p2p-agent-priority', '5'], /--p2p-agent-priority needs --p2p-multiprocess/],
    [['--bootstrap', 'localhost:0'], /port from 1 to 65535/],
    [['--p2p-multiprocess=fork'], /takes 'thread' or 'process'/],
    [['--p2p-multiprocess', '--p2p-agents', '0'], /--p2p-agents wants a number of agents/],
    [['--p2p-agents', '2'], /--p2p-agents needs --p2p-multiprocess/],
    [['--log-level', 'loud'], /--log-level wants one of/],
    [['--frobnicate'], /unknown flag --frobnicate/],
    [['stray'], /unexpected argument 'stray'/],
  ];
  for (const [argv, message] of bad) t.throws(() => parseCliArgs(argv), { instanceOf: UsageError, message }, argv.join(' '));
});

test('the CLI refuses a bad flag with exit code 2', async (t) => {
  const child = spawn(process.execPath, ['--import=tsx', MAIN, '--port', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [code] = await once(child, 'exit');
  t.is(code, 2);
  t.regex(stderr, /--port wants a port number/);
});

test('the CLI mines, goes online, serves HTTP and stops cleanly on SIGTERM, removing its temporary data', async (t) => {
  const child = spawn(process.execPath, ['--import=tsx', MAIN, '--generate-blocks', '3', '--port', '0', '--http-port', '0', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.setEncoding('utf8');
  const online = new Promise<string>((resolve) =>
    child.stdout.on('data', (text: string) => {
      stdout += text;
      const line = stdout.split('\n').find((l) => l.startsWith('online:'));
      if (line) resolve(line);
    }),
  );
  const line = await online;
  const dataDir = /data dir: (\S+) \(temporary\)/.exec(stdout)?.[1];
  t.truthy(dataDir);
  t.true(existsSync(dataDir!));
  const httpPort = Number(/http http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
  const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as { height: number; p2p: string };
  t.like(status, { height: 3, p2p: 'inline' });

  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  t.is(code, 0);
  t.false(existsSync(dataDir!), 'the temporary data directory is removed');
});
