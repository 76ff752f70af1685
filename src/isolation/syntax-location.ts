/**
 * Where the syntax error that stopped an agent's module from loading is. Node.js's
 * `import()` rejects with a bare `SyntaxError: Unexpected token ','` for an ES module,
 * on every supported major (20, 22, 24, 26): the file, line and column are kept in a
 * hidden property that only Node's own report of an uncaught error prints. A CommonJS
 * module's error does carry them, at the head of its stack. So:
 *
 * - a stack headed by Node's source arrow (`/path/agent.cjs:2`, the line, a caret) gives
 *   file, line and column at no cost;
 * - otherwise the entry is checked with `node --check` in a child process: it parses the
 *   file as Node would load it (module type from its extension and package.json) and
 *   runs none of it, and prints the same arrow. The child gets no `NODE_OPTIONS` and none
 *   of this process's flags, so no preloaded module (`--import`, `--require`) runs in
 *   it: the user's code runs once, in the agent, as before. It costs one short-lived
 *   process, on this failure path only, and is skipped where the agent may not start
 *   processes (a sandboxed agent: the message then names the entry without a line);
 * - a `SyntaxError` thrown while the module ran (`JSON.parse`, `eval`) has the module's
 *   own frames in its stack, which say where: it is left as it is.
 *
 * What the caller gets is still a `SyntaxError` (code that tests the class keeps
 * working), with a message that starts with `[agent-ipc]`, names the file with
 * `:line:column` (the form editors and terminals open), and ends with Node's message,
 * whose text is kept whole; Node's error is its `cause`.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Longest wait for `node --check`: past it the error names the entry without a line. */
const CHECK_TIMEOUT_MS = 10_000;

/** A place in a source file (line and column from 1). */
interface Location {
  file: string;
  line: number;
  column: number;
}

/**
 * Node's source arrow at the start of `text`: `<file or file: URL>:<line>`, the source
 * line, then a line with the caret under the error's first character (tabs kept as tabs,
 * so the caret's index is the column).
 */
function arrowAt(text: string): Location | undefined {
  const match = /^(.+):(\d+)\r?\n[^\n]*\n([ \t]*)\^/.exec(text);
  if (!match) return undefined;
  let file = match[1]!;
  if (file.startsWith('file:')) {
    try {
      file = fileURLToPath(file);
    } catch {
      return undefined;
    }
  }
  return { file, line: Number(match[2]), column: match[3]!.length + 1 };
}

/** Whether the first frame of `stack` is in Node.js itself: the error is the compiler's, not the module's running code. */
function thrownByCompiler(stack: string): boolean {
  const frame = /^\s+at .*$/m.exec(stack);
  // No frames at all (Error.stackTraceLimit = 0): the check below decides.
  return !frame || frame[0].includes('node:internal/');
}

/**
 * Parses `path` with `node --check`: 'parses', where its syntax error is, or `undefined`
 * if that could not be learnt (no child process allowed, a file type Node cannot check).
 */
function checkSyntax(path: string): Promise<Location | 'parses' | undefined> {
  return new Promise((resolve) => {
    try {
      execFile(
        process.execPath,
        ['--check', path],
        // No NODE_OPTIONS: a preload given there must not run a second time.
        { env: { ...process.env, NODE_OPTIONS: undefined }, timeout: CHECK_TIMEOUT_MS, windowsHide: true, encoding: 'utf8' },
        (error, _stdout, stderr) => {
          if (!error) resolve('parses');
          else resolve(typeof stderr === 'string' ? arrowAt(stderr) : undefined);
        },
      );
    } catch {
      // Refused at once (the permission model without --allow-child-process).
      resolve(undefined);
    }
  });
}

/**
 * The error an agent's failed `import()` of `entryUrl` should reject with: for a syntax
 * error found while compiling, a `SyntaxError` that names where (see above), its `cause`
 * Node's error; anything else, `error` itself.
 */
export async function locateSyntaxError(error: unknown, entryUrl: string, agentName: string): Promise<unknown> {
  if (!(error instanceof SyntaxError)) return error;
  let entry: string;
  try {
    entry = fileURLToPath(entryUrl);
  } catch {
    return error;
  }
  const stack = typeof error.stack === 'string' ? error.stack : '';
  let where: Location | 'parses' | undefined = arrowAt(stack);
  if (!where) {
    if (!thrownByCompiler(stack)) return error;
    where = await checkSyntax(entry);
  }
  const module = `agent '${agentName}' could not load its module ${entry}`;
  let message: string;
  if (where === undefined) message = `${module}: syntax error in it or in a module it imports`;
  else if (where === 'parses') message = `${module}: syntax error in a module it imports (the file itself parses)`;
  else if (where.file === entry) message = `${module}: syntax error at ${where.file}:${where.line}:${where.column}`;
  else message = `${module}: syntax error at ${where.file}:${where.line}:${where.column}, a module it imports`;
  // The same prefix as every agent-ipc error (see errors.ts); the class stays the built-in one.
  return new SyntaxError(`[agent-ipc] ${message}: ${error.message}`, { cause: error });
}
