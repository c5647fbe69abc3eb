#!/usr/bin/env bash
# The main job on the embedded stack: installs what is missing, starts a Temporal dev server
# (SQLite, Web UI on :8233) and a worker, and runs the pipeline on the CSV folder you name
# (or on a generated market), then trains, validates and registers models (experiments/demo.json).
# It also creates the retraining and monitoring Temporal Schedules, paused unless asked.
# Everything keeps running afterwards; state lives in .data/.
#   ./run.sh [csv-folder-or-file] [--active-schedules | --no-schedules]   (or DEMO_SCHEDULES=paused|active|off)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# npm dependencies, the mlp command (dist/cli.js) and the Temporal CLI, each only when missing or stale.
"$ROOT/scripts/install.sh"
export PATH="$PATH:/usr/local/go/bin"
exec "$ROOT/node_modules/.bin/tsx" "$ROOT/scripts/demo.ts" "$@"
