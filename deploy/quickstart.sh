#!/usr/bin/env bash
# deploy/quickstart.sh: acsd on this machine in one command.
#
# Installs the packages of deploy/deps.txt that are missing (apt-get, as root or
# through sudo), builds build/ (RelWithDebInfo) and runs build/bin/acsd in the
# foreground with the example policies (./policies). Ctrl-C stops it.
#
#   deploy/quickstart.sh [--no-deps] [-j N] [--build-dir DIR] [-- ACSD_OPTION...]
#
# Options after -- go to acsd (see build/bin/acsd --help), e.g.
#   deploy/quickstart.sh -- --api 0.0.0.0:7557 --workers 2
# With ACS_PG_DSN set, acsd uses that PostgreSQL as its store.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/quickstart.sh [--no-deps] [-j N] [--build-dir DIR] [-- ACSD_OPTION...]

  --no-deps        do not check or install packages (also: ACS_SKIP_DEPS=1)
  -j, --jobs N     parallel build jobs (default: number of cores)
  --build-dir DIR  build directory (default: build)
  -h, --help       this help

Options after -- go to acsd, e.g. -- --cwmp 0.0.0.0:7547 --api 127.0.0.1:7557 --workers 2.
ACS_PG_DSN=DSN: use that PostgreSQL database as the store.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=lib/deps.sh
. "$ROOT/deploy/lib/deps.sh"

DEPS=1
BUILD_DIR=build
JOBS=$(nproc 2>/dev/null || echo 2)
ACSD_ARGS=()

die() {
  echo "quickstart: $*" >&2
  exit 2
}

while (($#)); do
  case $1 in
    --no-deps) DEPS=0 ;;
    -j | --jobs)
      (($# >= 2)) || die "$1 needs a value"
      JOBS=$2
      shift
      ;;
    -j[0-9]*) JOBS=${1#-j} ;;
    --build-dir)
      (($# >= 2)) || die "$1 needs a value"
      BUILD_DIR=$2
      shift
      ;;
    --build-dir=*) BUILD_DIR=${1#*=} ;;
    --jobs=*) JOBS=${1#*=} ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      ACSD_ARGS=("$@")
      break
      ;;
    *)
      usage >&2
      die "unknown option '$1' (options for acsd go after --)"
      ;;
  esac
  shift
done
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "-j needs a positive number, got '$JOBS'"

# --- dependencies and build
if ((DEPS)); then
  acs_install_deps "$ROOT/deploy/deps.txt"
fi
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
echo "quickstart: building acsd in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target acsd
ACSD=$BUILD_DIR/bin/acsd
[[ -x $ACSD ]] || die "build finished but $ACSD is missing"

# --- acsd's arguments: ours first, so that the caller's (after --) win
ARGS=()
if [[ -d $ROOT/policies ]]; then
  ARGS+=(--policies ./policies)
else
  echo "quickstart: no ./policies directory: acsd runs no provisioning" >&2
fi
if [[ -n ${ACS_PG_DSN:-} ]]; then
  ARGS+=(--pg "$ACS_PG_DSN")
  store="PostgreSQL (ACS_PG_DSN)"
else
  store="none: ACS_PG_DSN is not set, so acsd runs without a store (nothing is kept across restarts)"
fi
ARGS+=("${ACSD_ARGS[@]}")

# --- where it listens: defaults, then the environment, then the command line (as acsd reads them)
cwmp=${ACS_CWMP:-0.0.0.0:7547}
api=${ACS_API:-127.0.0.1:7557}
for ((i = 0; i < ${#ARGS[@]}; i++)); do
  case ${ARGS[i]} in
    --cwmp) cwmp=${ARGS[i + 1]:-$cwmp} ;;
    --cwmp=*) cwmp=${ARGS[i]#*=} ;;
    --api) api=${ARGS[i + 1]:-$api} ;;
    --api=*) api=${ARGS[i]#*=} ;;
  esac
done

# url ADDR PATH: http://HOST:PORT/PATH, with a reachable host for the wildcard addresses
url() {
  local addr=$1 path=$2 host port
  port=${addr##*:}
  host=${addr%:*}
  case $host in
    "" | "*" | 0.0.0.0 | "[::]")
      host=$(hostname -I 2>/dev/null | awk '{print $1}')
      [[ -n $host ]] || host=$(hostname 2>/dev/null || echo localhost)
      ;;
  esac
  printf 'http://%s:%s/%s' "$host" "$port" "$path"
}

echo
echo "acsd $("$ACSD" --version 2>/dev/null | awk '{print $2}')"
if [[ $cwmp == off ]]; then
  echo "  CWMP:    off"
else
  echo "  CWMP:    $(url "$cwmp" "")        (ACS URL for the CPEs)"
fi
if [[ $api == off ]]; then
  echo "  API:     off"
else
  echo "  API:     $(url "$api" "")"
  echo "  health:  $(url "$api" health)"
fi
echo "  store:   $store"
shown=()
for a in "${ARGS[@]}"; do # no password on the screen
  if [[ -n ${ACS_PG_DSN:-} && $a == "$ACS_PG_DSN" ]]; then
    shown+=("'\$ACS_PG_DSN'")
  else
    shown+=("$a")
  fi
done
echo "  command: ${ACSD#"$ROOT"/} ${shown[*]}"
echo "  Ctrl-C to stop"
echo
exec "$ACSD" "${ARGS[@]}"
