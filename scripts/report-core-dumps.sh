#!/usr/bin/env bash
# Usage: scripts/report-core-dumps.sh NODE_BIN [KEEP_DIR]
#
# Prints what every core dump left in the repository by a test run says, then deletes it.
# .ci/run turns core dumps on for the test suite and calls this after each runtime's run,
# so that a crash (the SIGSEGV of docs/reliability.md, "The SIGSEGV", seen once in CI and
# never reproduced since) comes with the native stack of the thread that crashed, not only
# with "exited due to SIGSEGV".
#
# One core is expected: test/resource-limits.test.ts runs a process agent into its heap
# cap, and V8 aborts such a process (SIGABRT from its out-of-memory handler). It gets one
# line. Every other core is a bug until proven otherwise: its signal and backtraces of
# all its threads (gdb, if installed) are printed. This script never fails the run:
# whether a crash fails it is `.ci/run`'s rule (a test file that crashes twice).
#
# KEEP_DIR (bench/soak/suite-loop.sh gives one): an unexpected core is moved there, with
# its report beside it as CORE.txt, instead of being deleted.
#
# Where cores land: the kernel's core_pattern on these machines is `core` (relative: the
# crashing process's working directory, which for ava's workers and the agents they
# start is the repository root; a few tests start processes in a subdirectory).
set -uo pipefail
node_bin=${1:?usage: report-core-dumps.sh NODE_BIN [KEEP_DIR]}
keep_dir=${2:-}
cd "$(dirname "$0")/.."

mapfile -t cores < <(find . -maxdepth 4 -type f \( -name core -o -name 'core.[0-9]*' \) -not -path './node_modules/*' -not -path './.git/*' 2>/dev/null)
[ ${#cores[@]} -eq 0 ] && exit 0

for core in "${cores[@]}"; do
  if ! command -v gdb > /dev/null; then
    echo "core dump ${core} ($(du -h "$core" | cut -f1)): gdb is not installed, so its stack cannot be printed here"
    rm -f "$core"
    continue
  fi
  # The crashing thread's stack first, then every thread's (a crash in a worker thread
  # is often explained by what the main thread was doing: terminating it, for example).
  report=$(timeout 120 gdb -batch -q -ex 'bt 40' -ex 'info threads' -ex 'thread apply all bt 25' "$node_bin" "$core" 2>&1 | grep -v '^warning: ')
  if grep -q 'signal SIGABRT' <<< "$report" && grep -qE 'OOMErrorHandler|OutOfMemory|OnFatalError' <<< "$report"; then
    rm -f "$core"
    echo "core dump ${core}: the expected out-of-memory abort of a process agent (test/resource-limits.test.ts)"
  else
    # Moved or deleted before anything is printed: a reader that stops reading must not
    # leave hundreds of MB in the repository.
    kept="$keep_dir/$(date +%Y%m%dT%H%M%S)-$(basename "$core")"
    if [ -n "$keep_dir" ] && mkdir -p "$keep_dir" && mv "$core" "$kept"; then
      printf '%s\n' "$report" > "$kept.txt"
      echo "core dump ${core}: kept as ${kept} (report: ${kept}.txt)"
    else
      rm -f "$core"
    fi
    printf '\n== core dump %s: NOT EXPECTED, a crash of a test process or of an agent it started\n' "$core"
    # Bounded: enough for every thread of a node process, not a wall of text.
    head -n 400 <<< "$report"
    printf '== end of core dump %s\n' "$core"
  fi
done
exit 0
