#!/usr/bin/env bash
# The exports map as consumers meet it: packs the package, installs the tarball into a
# scratch project under /tmp, then for every entry point of package.json's `exports`
#   - loads it with require() and with import() (plain Node, no TypeScript loader);
#   - type-checks a consumer of it with tsc under moduleResolution node16 from ESM,
#     node16 from CommonJS (the `require` condition, the .d.cts files) and bundler,
#     with skipLibCheck off (the declaration files themselves are checked) and a
#     `@ts-expect-error` per entry, which fails if the types resolved to nothing.
# Slower than a test (pack + install, four tsc runs: ~30 s), so a script:
#   npx tsup --silent && scripts/check-package-consumers.sh
# Exits non-zero on the first failure.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tsc="$root/node_modules/typescript/bin/tsc"
scratch="$(mktemp -d /tmp/agent-ipc-consumers-XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
export NODE_OPTIONS=

entries=$(node -e 'const e = require(process.argv[1]).exports; console.log(Object.keys(e).filter((k) => k !== "./package.json").map((k) => "agent-ipc" + k.slice(1)).join(" "))' "$root/package.json")
echo "entry points: $entries"

(cd "$root" && npm pack --silent --pack-destination "$scratch" >/dev/null)
cd "$scratch"
echo '{ "name": "consumer", "private": true }' >package.json
npm install --silent --no-audit --no-fund ./agent-ipc-*.tgz

for entry in $entries; do
  node -e "const m = require('$entry'); if (Object.keys(m).length === 0) throw new Error('empty');"
  node --input-type=module -e "const m = await import('$entry'); if (Object.keys(m).length === 0) throw new Error('empty');"
  echo "ok   require() and import() of $entry"
done

# One consumer file, each entry's names used as values and as types.
consumer='import { spawnAgent, spawnAgentSync, TimeoutError, type Agent, type SpawnAgentOptions } from "agent-ipc";
import { defineAgent, type AgentContext, type MainHandle } from "agent-ipc/agent";
import { createLineServer, type LineServerOptions } from "agent-ipc/lines";
import { defineLineProtocol, type LineConnection } from "agent-ipc/lines/agent";
import { IpcServer, type CallOptions } from "agent-ipc/connection";

interface NodeApi { count(): number }
export const definition = defineAgent((main: MainHandle<NodeApi>, ctx: AgentContext) => ({ hello: (who: string) => `${who} ${ctx.name} ${main.blocking.count()}` }));
const options: SpawnAgentOptions = { isolation: "thread", timeoutMs: 10 };
export const started: Promise<Agent<typeof definition>> = spawnAgent<typeof definition>("./agent.js", options);
export const sync: () => Agent = () => spawnAgentSync("./agent.js");
export const timeout: boolean = new TimeoutError("x", 1).code === "ERR_AGENT_IPC_TIMEOUT";
const lineOptions: LineServerOptions = { agent: "./protocol.js", agents: { pool: 2 } };
export const server = createLineServer(lineOptions);
export const protocol = defineLineProtocol((_main, conn: LineConnection) => ({ lineReceived: (line: string) => conn.sendLine(line) }));
export const callOptions: CallOptions = { timeoutMs: 5 };
export class Echo extends IpcServer { getCommandMap() { return { echo: (payload: Uint8Array) => payload }; } }
// Each fails to type-check only if that entry'"'"'s types resolved (an unresolved one is `any`, or an error above).
// @ts-expect-error: an entry must be a string or a URL
void spawnAgent(42);
// @ts-expect-error: defineAgent takes a factory
defineAgent(5);
// @ts-expect-error: agent is required
createLineServer({});
// @ts-expect-error: defineLineProtocol takes a factory
defineLineProtocol("x");
// @ts-expect-error: a CallOptions timeout is a number
export const badCall: CallOptions = { timeoutMs: "5" };
'

check() { # name, module, moduleResolution, package type, file extension, declaration extension
  local dir="$scratch/$1"
  mkdir -p "$dir"
  echo "{ \"name\": \"$1\", \"private\": true, \"type\": \"$4\" }" >"$dir/package.json"
  printf '%s' "$consumer" >"$dir/consumer.$5"
  cat >"$dir/tsconfig.json" <<EOF
{ "compilerOptions": { "target": "ES2022", "module": "$2", "moduleResolution": "$3", "strict": true, "noEmit": true,
    "skipLibCheck": false, "types": ["node"], "typeRoots": ["$root/node_modules/@types"], "lib": ["ES2023"] },
  "files": ["consumer.$5"] }
EOF
  local files
  if ! files=$(cd "$dir" && node "$tsc" -p tsconfig.json --listFiles); then echo "$files" >&2; echo "FAIL tsc, $1" >&2; exit 1; fi
  # The declaration files of the condition this consumer resolves: index.d.ts for import, index.d.cts for require.
  if ! grep -q "node_modules/agent-ipc/dist/index.$6\$" <<<"$files"; then echo "FAIL tsc, $1: did not read dist/index.$6" >&2; exit 1; fi
  echo "ok   tsc, $1 (module $2, moduleResolution $3, read dist/*.$6)"
}
check node16-esm node16 node16 module mts d.ts
check node16-cjs node16 node16 commonjs cts d.cts
check bundler esnext bundler module ts d.ts
check nodenext-cjs nodenext nodenext commonjs ts d.cts
echo "all entry points load and type-check"
