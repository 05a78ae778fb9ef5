#!/usr/bin/env bash
# bench/run.sh: acsd's session benchmarks (see bench/bench.py for what and how).
# Builds build/ if needed (acsd and cpesim), then runs them all on loopback.
#   bench/run.sh [--quick] [--repeat N] [--duration S] [--devices N] [--storm N] [--json FILE]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
  echo "bench: nginx is needed for the HTTP floor: apt-get install nginx" >&2
  exit 2
fi
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$ROOT/build" -j "$(nproc 2>/dev/null || echo 2)" --target acsd cpesim >/dev/null
# many simulated CPEs hold many sockets
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 "$ROOT/bench/bench.py" "$@"
