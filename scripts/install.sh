#!/usr/bin/env bash
# The one install step of ./run.sh and .ci/run; cheap when nothing changed:
#   1. npm ci, only when node_modules is missing or package-lock.json changed since the last install
#      (its hash is kept in node_modules/.install-lock-hash; the older .ci-lock-hash is accepted too);
#   2. npm run build (dist/cli.js, the `mlp` command), only when dist is missing or older than its sources;
#   3. the Temporal CLI, found (TEMPORAL_CLI_PATH, PATH, the per-user cache, ~/go/bin) or else built
#      once per user into ${MLP_TOOLS_DIR:-${XDG_CACHE_HOME:-~/.cache}/temporal-ml-pipeline/bin};
#   4. with --with-object-store only (.ci/run: the tests serve artifacts from it), the S3-compatible
#      object store versitygw, found (VERSITYGW_PATH, the per-user cache, PATH) or else built once per
#      user into the same cache (platform/object-store.ts, a few minutes). ./run.sh does not pass it:
#      with nothing configured the artifacts stay in the local directory.
# Progress goes to stderr; stdout stays empty.
#   scripts/install.sh [--with-object-store]
set -euo pipefail
with_object_store=false
for arg in "$@"; do
  case "$arg" in
    --with-object-store) with_object_store=true ;;
    *) echo "install: unknown option $arg (usage: scripts/install.sh [--with-object-store])" >&2; exit 2 ;;
  esac
done
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

if $with_object_store; then
  # The cheap check in shell (a no-op install stays about 1 s); node only when something must be built.
  # The same lookup as findVersitygw() in platform/object-store.ts, whose pinned version it reads.
  version=$(sed -n "s/^export const VERSITYGW_VERSION = '\([^']*\)';.*/\1/p" platform/object-store.ts)
  cache_home=${XDG_CACHE_HOME:-}
  case "$cache_home" in /*) ;; *) cache_home="$HOME/.cache" ;; esac # a relative XDG_CACHE_HOME is ignored
  tools_dir=${MLP_TOOLS_DIR:-$cache_home/temporal-ml-pipeline/bin}
  if [ -n "${VERSITYGW_PATH:-}" ] && [ -f "$VERSITYGW_PATH" ] && [ -x "$VERSITYGW_PATH" ]; then
    :
  elif [ -z "${VERSITYGW_PATH:-}" ] && { { [ -n "$version" ] && [ -x "$tools_dir/versitygw-$version" ]; } || command -v versitygw >/dev/null; }; then
    :
  elif ! node_modules/.bin/tsx scripts/object-store.ts install >/dev/null; then
    # Not fatal: the rest can still run, and the tests that need the object store try again and say why.
    echo "install: could not install the object store (versitygw; see above): the tests that use it will fail" >&2
  fi
fi
