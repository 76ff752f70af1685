/**
 * How a sandboxed agent is started, without starting one: the Node.js options it gets
 * (and those of the node it does not), what it may read (its package, dependencies
 * found the way Node finds them, hoisted or symlinked), and the permission options of
 * this Node.js.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { childExecArgv } from '../src/isolation/child-exec-argv.ts';
import { sandboxLaunch } from '../src/isolation/sandbox-launch.ts';
import { sandboxBootstrap, startsWatchdogThread } from '../src/isolation/sandbox-library-needs.ts';
import { resolveSandbox } from '../src/isolation/sandbox-options.ts';
import { permissionFlags } from '../src/isolation/sandbox-permission-flags.ts';
import { coveringPaths, dependencyDirs, packageRoot } from '../src/isolation/sandbox-read-paths.ts';

const scratch = realpathSync(mkdtempSync(path.join(tmpdir(), 'agent-ipc-sandbox-launch-')));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

const NODE_ARGV = [
  '--import=tsx',
  '-r',
  'dotenv/config',
  '--require=./instrument.cjs',
  '--loader',
  './loader.mjs',
  '--experimental-loader=./other.mjs',
  '--env-file=.env',
  '--env-file',
  '.env.local',
  '--expose-internals',
  '--permission',
  '--allow-fs-read=/',
  '--allow-fs-write',
  '/var',
  '--allow-child-process',
  '--conditions',
  'development',
  '--enable-source-maps',
  '--inspect=9229',
  '--max-old-space-size=100',
];

test("a sandboxed agent gets the node's options without its preloads, env files, internals or permissions, then its own", (t) => {
  const sandbox = ['--permission', '--allow-fs-read=/srv/agent'];
  t.deepEqual(childExecArgv(NODE_ARGV, 64, sandbox), [
    '--conditions',
    'development',
    '--enable-source-maps',
    '--max-old-space-size=100',
    '--max-old-space-size=64',
    '--permission',
    '--allow-fs-read=/srv/agent',
  ]);
});

test('an agent without a sandbox gets the node options as before', (t) => {
  const argv = childExecArgv(NODE_ARGV, undefined);
  for (const kept of ['--import=tsx', 'dotenv/config', '--require=./instrument.cjs', '--permission', '--allow-fs-read=/', '/var', '--conditions']) t.true(argv.includes(kept), kept);
  t.false(argv.includes('--inspect=9229'));
});

test('coveringPaths keeps the fewest paths: nothing beneath a kept directory, no duplicates', (t) => {
  const kept = coveringPaths(['/a/b', '/a-b/c', '/a', '/a-b', '/c/d', '/c/d', '/c/de', '/a/b/c/d']);
  t.deepEqual([...kept].sort(), ['/a', '/a-b', '/c/d', '/c/de']);
});

test('dependencies are found the way Node finds them: own node_modules, hoisted, symlinked, transitively', (t) => {
  const repo = path.join(scratch, 'workspace');
  const app = path.join(repo, 'packages', 'app');
  write(path.join(app, 'package.json'), JSON.stringify({ name: 'app', dependencies: { hoisted: '1', missing: '1' }, peerDependencies: { linked: '1' } }));
  write(path.join(app, 'src', 'agents', 'agent.js'), '');
  write(path.join(repo, 'node_modules', 'hoisted', 'package.json'), JSON.stringify({ name: 'hoisted', optionalDependencies: { deep: '1' } }));
  write(path.join(repo, 'node_modules', 'deep', 'package.json'), JSON.stringify({ name: 'deep' }));
  write(path.join(repo, 'node_modules', 'unrelated', 'package.json'), JSON.stringify({ name: 'unrelated' }));
  write(path.join(repo, 'store', 'linked@1', 'package.json'), JSON.stringify({ name: 'linked' }));
  mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  symlinkSync(path.join(repo, 'store', 'linked@1'), path.join(app, 'node_modules', 'linked'), 'dir');

  t.is(packageRoot(path.join(app, 'src', 'agents')), app);
  const dirs = dependencyDirs(app);
  t.deepEqual(
    [...new Set(dirs)].sort(),
    [
      path.join(app, 'node_modules', 'linked'),
      path.join(repo, 'node_modules', 'deep'),
      path.join(repo, 'node_modules', 'hoisted'),
      path.join(repo, 'store', 'linked@1'),
    ].sort(),
  );

  // The launch: the app's package (with its node_modules), the hoisted packages, the
  // link and its target; not the workspace, not the unrelated package.
  const entry = pathToFileURL(path.join(app, 'src', 'agents', 'agent.js')).href;
  const launch = sandboxLaunch(entry, resolveSandbox(true, 'process')!, pathToFileURL(path.join(scratch, 'lib', 'dist', 'process-bootstrap.js')));
  const read = launch.flags.filter((flag) => flag.startsWith('--allow-fs-read=')).map((flag) => flag.slice('--allow-fs-read='.length));
  for (const dir of [app, path.join(repo, 'node_modules', 'hoisted'), path.join(repo, 'node_modules', 'deep'), path.join(repo, 'store', 'linked@1'), path.join(scratch, 'lib', 'dist')]) {
    t.true(read.includes(dir), dir);
  }
  t.false(read.includes(repo));
  t.false(read.includes(path.join(repo, 'node_modules', 'unrelated')));
  t.deepEqual(launch.env, {});
});

test('an agent module with no package.json above it may read its own directory only', (t) => {
  // tmpdir has no package.json above it on this machine; the module's directory is the limit.
  const loose = path.join(scratch, 'loose');
  write(path.join(loose, 'agent.js'), '');
  t.is(packageRoot(loose), undefined);
  const launch = sandboxLaunch(pathToFileURL(path.join(loose, 'agent.js')).href, resolveSandbox({ allowWrite: [path.join(scratch, 'out')] }, 'process')!, pathToFileURL(path.join(scratch, 'lib', 'dist', 'process-bootstrap.js')));
  t.true(launch.flags.includes(`--allow-fs-read=${loose}`));
  t.false(launch.flags.includes(`--allow-fs-read=${scratch}`));
  t.true(launch.flags.includes(`--allow-fs-write=${path.join(scratch, 'out')}`));
});

test('permission options are spelled as this Node.js spells them, one path per option', (t) => {
  const experimental = !process.allowedNodeEnvironmentFlags.has('--permission');
  const flags = permissionFlags({ read: ['/a,b', '/c'], write: ['/w'], childProcess: false, worker: false, addons: false, net: true });
  const netPermission = process.allowedNodeEnvironmentFlags.has('--allow-net');
  t.deepEqual(flags, [
    experimental ? '--experimental-permission' : '--permission',
    '--allow-fs-read=/a,b',
    '--allow-fs-read=/c',
    '--allow-fs-write=/w',
    // The network is restricted (and granted) only where Node.js has --allow-net.
    ...(netPermission ? ['--allow-net'] : []),
    // The experimental flag's warning is not shown.
    ...(experimental || netPermission ? ['--disable-warning=ExperimentalWarning'] : []),
  ]);
  // What the node grants on purpose keeps its warning.
  const granted = permissionFlags({ read: [], write: [], childProcess: true, worker: true, addons: true, net: false });
  t.true(granted.includes('--allow-child-process'));
  t.true(granted.includes('--allow-addons'));
  t.true(granted.includes('--allow-worker'));
  t.false(granted.includes('--disable-warning=SecurityWarning'));
});

test('from its TypeScript sources, agent-ipc starts a sandboxed agent from its built bootstrap', (t) => {
  const source = new URL('../src/isolation/process-bootstrap.ts', import.meta.url);
  t.is(sandboxBootstrap(source).href, new URL('../dist/process-bootstrap.js', import.meta.url).href);
  const built = new URL('file:///opt/app/node_modules/agent-ipc/dist/process-bootstrap.js');
  t.is(sandboxBootstrap(built), built);
  t.throws(() => sandboxBootstrap(new URL('file:///nowhere/src/isolation/process-bootstrap.ts')), { instanceOf: TypeError, message: /option 'sandbox' must be unset while agent-ipc runs from its sources without a build/ });
});

test('a watchdog thread, and the worker grant, only where the agent may start threads anyway', (t) => {
  const entry = new URL('./fixtures/sandbox/escape-agent.js', import.meta.url).href;
  const bootstrap = pathToFileURL(path.join(scratch, 'lib', 'dist', 'process-bootstrap.js'));
  // Unsandboxed: the watchdog thread, as always.
  t.true(startsWatchdogThread(undefined));
  // Sandboxed: no thread and no grant (the node's warden stands in), unless the node grants threads.
  const denied = resolveSandbox(true, 'process')!;
  t.false(startsWatchdogThread(denied));
  t.false(sandboxLaunch(entry, denied, bootstrap).flags.includes('--allow-worker'));
  const allowed = resolveSandbox({ allowWorker: true }, 'process')!;
  t.true(startsWatchdogThread(allowed));
  t.true(sandboxLaunch(entry, allowed, bootstrap).flags.includes('--allow-worker'));
});
