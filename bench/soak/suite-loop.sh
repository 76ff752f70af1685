#!/usr/bin/env bash
# Usage: bench/soak/suite-loop.sh [NODE_BIN ...]
#
# Runs the whole test suite (or the files in $FILES) again and again, in turn on each
# NODE_BIN given (default: the `node` on PATH), with core dumps on, until the file
# $STOP_FILE (default bench/results/suite-loop.stop) exists or $RUNS runs are done. The
# hunt for the SIGSEGV that CI saw once (docs/reliability.md, "The SIGSEGV"): a crash
# there is rare enough that only many runs of the real suite, under its real load, can
# catch it, and a core is what would trace it.
#
# Each run appends one line to bench/results/suite-loop.log (time, runtime, passed,
# failed, files that died by a signal) and keeps its TAP output only if something
# failed. A core from a crash is kept in bench/results/cores/ with its stacks beside it
# (scripts/report-core-dumps.sh); the expected one (resource-limits' heap-cap abort) is
# deleted. Not in CI; needs gdb for the stacks.
set -uo pipefail
cd "$(dirname "$0")/../.."

bins=("$@")
[ ${#bins[@]} -eq 0 ] && bins=(node)
runs=${RUNS:-1000000}
stop_file=${STOP_FILE:-bench/results/suite-loop.stop}
out=bench/results
log=$out/suite-loop.log
mkdir -p "$out"
ulimit -c "$(ulimit -Hc)" 2>/dev/null || echo "suite-loop: core dumps could not be turned on (ulimit -c): crashes are counted, not traced" >&2

# A loop that is stopped (Ctrl-C, kill) stops the run in progress too, rather than
# leaving an ava process and its agents running without it.
run_pid=''
tap=''
stop_run() {
  [ -n "$run_pid" ] && kill "$run_pid" 2> /dev/null && wait "$run_pid" 2> /dev/null
  [ -n "$tap" ] && rm -f "$tap"
}
trap 'stop_run; exit 130' INT TERM
trap stop_run EXIT

i=0
while [ "$i" -lt "$runs" ] && [ ! -e "$stop_file" ]; do
  bin=${bins[$((i % ${#bins[@]}))]}
  version=$("$bin" --version)
  tap=$(mktemp)
  # shellcheck disable=SC2086
  "$bin" node_modules/ava/entrypoints/cli.mjs --tap ${FILES:-} > "$tap" 2>&1 &
  run_pid=$!
  wait "$run_pid"
  run_pid=''
  passed=$(grep -cE '^ok [0-9]+' "$tap")
  failed=$(grep -cE '^not ok [0-9]+' "$tap")
  crashed=$(grep -oE '^not ok [0-9]+ - test/[^ ]+ exited due to SIG[A-Z]+' "$tap" | sed -E 's/^not ok [0-9]+ - //' | paste -sd, -)
  scripts/report-core-dumps.sh "$bin" "$out/cores" >> "$log.cores" 2>&1
  if [ "$failed" -ne 0 ]; then cp "$tap" "$out/suite-loop-run-$i.tap"; fi
  rm -f "$tap"
  tap=''
  printf '%s run %d %s passed %d failed %d crashed [%s]\n' "$(date -u +%FT%TZ)" "$i" "$version" "$passed" "$failed" "$crashed" | tee -a "$log"
  i=$((i + 1))
done
