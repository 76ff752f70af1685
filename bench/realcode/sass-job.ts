/**
 * The real-code workload: compiling a stylesheet with Sass (the `sass` package, the
 * reference implementation compiled to JavaScript) whose synchronous plugin hooks are
 * served by a host. Sass's JS API calls back into its embedder for every custom
 * function call and every import during a compilation, synchronously; a build tool
 * that keeps its design tokens and its virtual file system on the node's thread while
 * Sass runs in an agent makes exactly the thousands of small blocking calls, mixed with
 * the package's own work, that the issue asks for.
 *
 * - `token($name)`: a custom function; each call asks the host for a design token
 *   (2,000 calls per compilation, a short string each).
 * - `theme:<name>` modules: an importer; the host answers the module's source (three
 *   modules of ~16 KB each: the "answers of tens of KB" case).
 *
 * Every runner compiles the same input with the same host data; the CSS's SHA-256 must
 * match the reference compiled on the bench's main thread, so no runner can be fast by
 * answering something else.
 */
import { createHash } from 'node:crypto';
import type * as SassModule from 'sass';

type Sass = typeof SassModule;

/** What the compilation asks its embedder for. */
export interface SassHost {
  token(name: string): string;
  load(url: string): string;
}

export interface SassRun {
  /** Wall time of the whole compilation on the compiling thread. */
  ns: number;
  /** Time spent inside the host calls (the callbacks' bodies), summed. */
  callNs: number;
  /** Host calls made: token lookups plus module loads. */
  calls: number;
  /** SHA-256 of the CSS, hex. */
  hash: string;
}

export const RULES = 1000;
const TOKENS = 600;
const SPACES = 40;
const MODULES = ['base', 'forms', 'grid'];

function tokenValue(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return name.startsWith('space-') ? `${(h >>> 0) % 64}px` : `#${((h >>> 0) % 0xffffff).toString(16).padStart(6, '0')}`;
}

/** A module of ~16 KB: documented mixins and placeholder rules, as a theme's partials are. */
function moduleSource(name: string): string {
  const parts: string[] = [`// Theme module "${name}": mixins and placeholders generated for the benchmark.`];
  for (let i = 0; i < 60; i++) {
    parts.push(
      `/// Mixin ${i} of ${name}: sets a border, a radius and a transition.`,
      `@mixin ${name}-m${i}($w: ${i % 5}px) { border: $w solid #${(i * 4099 + name.length).toString(16).padStart(6, '0').slice(0, 6)}; border-radius: ${i % 9}px; transition: opacity ${i * 10}ms ease-in; }`,
      `%${name}-p${i} { margin: ${i}px ${i % 7}px; line-height: ${1 + (i % 4) / 10}; }`,
    );
  }
  return parts.join('\n');
}

/** The host's data, served directly or through IPC. */
export const hostData = {
  tokens: new Map<string, string>([
    ...Array.from({ length: TOKENS }, (_, i): [string, string] => [`color-${i}`, tokenValue(`color-${i}`)]),
    ...Array.from({ length: SPACES }, (_, i): [string, string] => [`space-${i}`, tokenValue(`space-${i}`)]),
  ]),
  modules: new Map(MODULES.map((m) => [m, moduleSource(m)])),
};

export const directHost: SassHost = {
  token(name) {
    const value = hostData.tokens.get(name);
    if (value === undefined) throw new Error(`unknown token ${name}`);
    return value;
  },
  load(url) {
    const source = hostData.modules.get(url.replace(/^theme:/, ''));
    if (source === undefined) throw new Error(`unknown module ${url}`);
    return source;
  },
};

const ENTRY = [
  ...MODULES.map((m) => `@use "theme:${m}";`),
  `@for $i from 1 through ${RULES} {`,
  `  .c-#{$i} {`,
  `    color: token("color-#{$i % ${TOKENS}}");`,
  `    padding: token("space-#{$i % ${SPACES}}");`,
  ...MODULES.map((m, k) => `    @if $i % 50 == ${k} { @include ${m}.${m}-m${k * 7}; @extend %${m}-p${k * 11}; }`),
  `  }`,
  `}`,
].join('\n');

/** Compile the workload with `host` answering the hooks; times the whole and the calls. */
export function runSassJob(sass: Sass, host: SassHost): SassRun {
  let callNs = 0n;
  let calls = 0;
  const timed = <T>(f: () => T): T => {
    const t0 = process.hrtime.bigint();
    try {
      return f();
    } finally {
      callNs += process.hrtime.bigint() - t0;
      calls++;
    }
  };
  const start = process.hrtime.bigint();
  const result = sass.compileString(ENTRY, {
    functions: {
      'token($name)': (args) => {
        const name = args[0].assertString('name').text;
        return new sass.SassString(
          timed(() => host.token(name)),
          { quotes: false },
        );
      },
    },
    importers: [
      {
        canonicalize: (url) => (url.startsWith('theme:') ? new URL(url) : null),
        load: (url) => ({ contents: timed(() => host.load(url.href)), syntax: 'scss' }),
      },
    ],
  });
  const ns = Number(process.hrtime.bigint() - start);
  return { ns, callNs: Number(callNs), calls, hash: createHash('sha256').update(result.css).digest('hex') };
}
