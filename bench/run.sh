#!/usr/bin/env bash
# bench/run.sh: acsd's session benchmarks with the real cpesim (see bench/bench.py for
# what and how). Builds acsd and cpesim in the build directory (default build/,
# RelWithDebInfo) if needed, then runs everything on loopback; bounded in time
# (bench.py --max-minutes, 12 by default); stops by itself. Not run in CI.
#   bench/run.sh [--build DIR] [--quick] [--repeat N] [--duration S] [--devices N]
#                [--concurrency C] [--json FILE] ...    (bench/bench.py --help)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$(realpath -m "$2"); shift 2 ;;
    --build=*) BUILD=$(realpath -m "${1#--build=}"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
cd "$ROOT"
if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
  echo "bench: nginx is needed for the HTTP floor: apt-get install nginx" >&2
  exit 2
fi
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target acsd cpesim >/dev/null
# 10,000 simulated CPEs at once hold 10,000 sockets on each side
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 "$ROOT/bench/bench.py" --build "$BUILD" ${args[@]+"${args[@]}"}
