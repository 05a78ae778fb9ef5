#!/usr/bin/env bash
# tests/ha/run.sh: the failure lab (docs/deployment.md, "The failure lab").
#
#   tests/ha/run.sh [--build-dir DIR] [--no-deps] [LAB OPTION...]
#
# Installs what is missing of etcd-server, patroni, pgbouncer, redis-server,
# redis-sentinel, haproxy and postgresql (apt-get, as root or through sudo),
# then runs tests/ha/lab.py with build/bin's acsd and cpesim: etcd, two Patroni
# PostgreSQL nodes, HAProxy, PgBouncer, Redis master + replica + 3 Sentinels,
# 3 acsd and cpesim (10,000 devices by default), all on loopback, and one fault
# after the other under load; it prints a table per fault and exits 0 when no
# acknowledged Inform was lost, no session doubled and no task ran twice.
# Bounded: under 15 minutes; everything it started is stopped at the end.
# Lab options (python3 tests/ha/lab.py --help): --devices N, --window S,
# --freeze S, --rate R, --concurrency C, --faults a,b,..., --keep.
# acsd is given Redis (--redis-sentinels, --redis-master, --redis-lock-ms) and
# --proxy-protocol only when its --help lists them; otherwise it runs without
# them and the lab says so.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
DEPS=1
LAB_ARGS=()

die() {
  echo "ha lab: $*" >&2
  exit 2
}

while (($#)); do
  case $1 in
    --build-dir)
      (($# >= 2)) || die "$1 needs a value"
      BUILD=$2
      shift
      ;;
    --no-deps) DEPS=0 ;;
    -h | --help)
      sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) LAB_ARGS+=("$1") ;;
  esac
  shift
done

PKGS=(etcd-server patroni pgbouncer redis-server redis-sentinel haproxy postgresql)
if ((DEPS)); then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "ha lab: installing ${missing[*]}"
    SUDO=
    ((EUID == 0)) || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi
# Debian starts the packaged services: the lab runs its own and does not need them
for prog in etcd patroni pgbouncer redis-server redis-sentinel haproxy patronictl; do
  command -v "$prog" >/dev/null || [[ -x /usr/sbin/$prog ]] || die "$prog is missing (apt-get install ${PKGS[*]})"
done
PATH=$PATH:/usr/sbin

for b in acsd cpesim; do
  [[ -x $BUILD/bin/$b ]] || die "no $BUILD/bin/$b: build first (cmake -S . -B build && cmake --build build -j2)"
done
PG_BINDIR=${ACS_PG_BINDIR:-$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin | sort -V | tail -n 1)}
[[ -x $PG_BINDIR/postgres ]] || die "no PostgreSQL server binaries (set ACS_PG_BINDIR)"

EXTRA=()
HELP=$("$BUILD/bin/acsd" --help 2>&1 || true)
if grep -q -- 'redis-sentinels' <<<"$HELP"; then
  EXTRA+=(--redis-support)
else
  echo "ha lab: this acsd has no --redis-sentinels: it runs without Redis (no cluster-wide session lock)"
fi
if grep -q -- 'proxy-protocol' <<<"$HELP"; then
  EXTRA+=(--proxy-support)
else
  echo "ha lab: this acsd has no --proxy-protocol: HAProxy sends no PROXY header"
fi

exec timeout --signal=TERM --kill-after=30 900 python3 "$ROOT/tests/ha/lab.py" \
  --acsd "$BUILD/bin/acsd" --cpesim "$BUILD/bin/cpesim" --pg-bindir "$PG_BINDIR" \
  "${EXTRA[@]}" "${LAB_ARGS[@]}"
