#!/usr/bin/env bash
# Installs the Python references the benchmarks compare against (bench/reference/*.py: pandas,
# scikit-learn, xgboost, numpy) from Debian packages, for /usr/bin/python3, when they are missing.
# Idempotent: a module that imports already is left alone. Without root it prints the command.
#   npm run bench:setup
set -euo pipefail

PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
# python module → Debian package
MODULES=(numpy pandas sklearn xgboost)
declare -A PACKAGE=([numpy]=python3-numpy [pandas]=python3-pandas [sklearn]=python3-sklearn [xgboost]=python3-xgboost)

importable() { "$PYTHON" -c "import $1" >/dev/null 2>&1; }

if [ ! -x "$PYTHON" ]; then
  echo "bench:setup: $PYTHON not found; the benchmarks' references need it (Debian: apt-get install python3)" >&2
  missing_pkgs=(python3 "${PACKAGE[@]}")
else
  missing_pkgs=()
  for m in "${MODULES[@]}"; do importable "$m" || missing_pkgs+=("${PACKAGE[$m]}"); done
fi

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench:setup: installing ${missing_pkgs[*]} (apt-get)"
    log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"; } >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      exit 1
    fi
    rm -f "$log"
  else
    echo "bench:setup: missing ${missing_pkgs[*]}; install them as root with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing_pkgs[*]}" >&2
    exit 1
  fi
fi

# Verify: every reference module imports, and say which versions the numbers will be against.
status=0
for m in "${MODULES[@]}"; do
  if version=$("$PYTHON" -c "import $m; print(getattr($m, '__version__', '?'))" 2>/dev/null); then
    echo "  $m $version"
  else
    echo "  $m: does not import with $PYTHON" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "bench:setup: the Python references are ready ($PYTHON)"
exit $status
