#!/usr/bin/env bash
# The one install step of ./run.sh and .ci/run; cheap when nothing changed:
#   1. npm ci, only when node_modules is missing or package-lock.json changed since the last install
#      (its hash is kept in node_modules/.install-lock-hash; the older .ci-lock-hash is accepted too);
#   2. npm run build (dist/cli.js, the `mlp` command), only when dist is missing or older than its sources;
#   3. the Temporal CLI, found (TEMPORAL_CLI_PATH, PATH, the per-user cache, ~/go/bin) or else built
#      once per user into ${MLP_TOOLS_DIR:-${XDG_CACHE_HOME:-~/.cache}/temporal-ml-pipeline/bin}.
# Progress goes to stderr; stdout stays empty.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/go/bin"

marker=node_modules/.install-lock-hash
legacy_marker=node_modules/.ci-lock-hash
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
installed_hash=""
if [ -f "$marker" ]; then
  installed_hash=$(cat "$marker")
elif [ -f "$legacy_marker" ]; then
  installed_hash=$(cat "$legacy_marker")
fi
if [ ! -d node_modules ] || [ ! -x node_modules/.bin/tsx ] || [ "$installed_hash" != "$lock_hash" ]; then
  echo "install: npm ci (node_modules missing or package-lock.json changed)" >&2
  npm ci --no-audit --no-fund >&2
  echo "$lock_hash" > "$marker"
elif [ ! -f "$marker" ]; then
  echo "$lock_hash" > "$marker" # carried over from .ci-lock-hash
fi

# dist is stale when any source it may bundle, the build script or the lock file is newer.
if [ ! -f dist/cli.js ] || [ ! -f dist/temporal-server.js ] || [ -n "$(find client lib workflows platform models scripts/build.ts scripts/temporal-server.ts package-lock.json tsconfig.json -newer dist/cli.js -print -quit 2>/dev/null)" ]; then
  echo "install: building the mlp command (npm run build)" >&2
  npm run --silent build >&2
fi

node dist/temporal-server.js install >/dev/null
