#!/usr/bin/env bash
# deploy/quickstart.sh: acsd on this machine in one command.
#
# Installs the packages of deploy/deps.txt that are missing (apt-get, as root or
# through sudo), builds build/ (RelWithDebInfo) and runs build/bin/acsd in the
# foreground with the example policies (./policies). Ctrl-C stops it.
#
#   deploy/quickstart.sh [--no-deps] [-j N] [--build-dir DIR] [--acsd PATH] [-- ACSD_OPTION...]
#
# Options after -- go to acsd (see build/bin/acsd --help), e.g.
#   deploy/quickstart.sh -- --api 0.0.0.0:7557 --workers 2
# With ACS_PG_DSN set, acsd uses that PostgreSQL as its store. Without it, a
# private PostgreSQL cluster lives in ./var/pg (made on the first run, on a
# free loopback port from 55432 up, started here and stopped when acsd
# exits). As root the cluster runs as the postgres user; when that user
# cannot reach ./var/pg (a clone in /root, mode 700) the cluster lives in
# /var/lib/acsd-quickstart/NAME-HASH instead, one per clone (HASH: of the
# clone's path), and ./var/pg/location names it. On the first run an admin API token is created, kept in
# ./var/admin-token (mode 600) and printed, and the key of the stored secrets
# (device_secrets: connection-request credentials) is made in ./var/secret.key
# (mode 600) unless ACS_SECRET_KEY_FILE names one. CPE authentication is on
# (docs/security.md): a CPE's first contact uses its factory credential
# (username: its serial number; password: HMAC of the serial under
# ./var/cpe-factory.key, made on the first run, mode 600), then the example
# policies give it a password of its own.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/quickstart.sh [--no-deps] [-j N] [--build-dir DIR] [--acsd PATH] [-- ACSD_OPTION...]

  --no-deps        do not check or install packages (also: ACS_SKIP_DEPS=1)
  -j, --jobs N     parallel build jobs (default: number of cores)
  --build-dir DIR  build directory (default: build)
  --acsd PATH      run this acsd binary instead of building one
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
ACSD=

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
    --acsd)
      (($# >= 2)) || die "$1 needs a value"
      ACSD=$2
      shift
      ;;
    --acsd=*) ACSD=${1#*=} ;;
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
if [[ -n $ACSD ]]; then
  [[ -x $ACSD ]] || die "--acsd $ACSD: not an executable"
  [[ $ACSD == /* ]] || ACSD=$PWD/$ACSD
else
  [[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
  echo "quickstart: building acsd in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target acsd
  ACSD=$BUILD_DIR/bin/acsd
  [[ -x $ACSD ]] || die "build finished but $ACSD is missing"
fi

# --- acsd's arguments: ours first, so that the caller's (after --) win
ARGS=()
if [[ -d $ROOT/policies ]]; then
  ARGS+=(--policies ./policies)
else
  echo "quickstart: no ./policies directory: acsd runs no provisioning" >&2
fi
# --- the store: ACS_PG_DSN, or a private cluster in ./var/pg (or, as root,
# wherever the postgres user can reach: see pg_home)
VAR=$ROOT/var
PG_HOME=
PG_DATA=
PG_STARTED=0

pg_run() { # runs a PostgreSQL server command as its owner (initdb refuses root)
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$@") # from a directory the postgres user can enter
  else
    "$@"
  fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The cluster's directory (data, sockets, log). ./var/pg when the server's
# user can write there: always without root, and as root when every
# directory above it lets the postgres user in. Otherwise (a clone in
# /root, mode 700: initdb fails with "could not access directory ...
# Permission denied") one directory per clone under /var/lib, named after
# the clone and a hash of its path, kept in ./var/pg/location so that later
# runs find it whatever changes. A cluster made in ./var/pg stays there.
pg_home() {
  mkdir -p "$VAR/pg"
  if [[ -s $VAR/pg/location ]]; then
    cat "$VAR/pg/location"
    return
  fi
  if ((EUID != 0)) || [[ -f $VAR/pg/data/PG_VERSION ]]; then
    echo "$VAR/pg"
    return
  fi
  chown postgres: "$VAR/pg"
  if runuser -u postgres -- test -w "$VAR/pg" -a -x "$VAR/pg"; then
    echo "$VAR/pg"
    return
  fi
  local hash home
  hash=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
  home=/var/lib/acsd-quickstart/$(basename "$ROOT")-$hash
  echo "$home" >"$VAR/pg/location"
  echo "$home"
}

private_pg() {
  local bindir port
  bindir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $bindir && -x $bindir/pg_ctl ]] || die "no PostgreSQL server binaries (apt-get install postgresql), or set ACS_PG_DSN"
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "running as root and there is no user postgres (apt-get install postgresql)"
  fi
  PG_HOME=$(pg_home)
  PG_DATA=$PG_HOME/data
  if [[ $PG_HOME != "$VAR/pg" ]]; then
    mkdir -p "$(dirname "$PG_HOME")"
    chmod 755 "$(dirname "$PG_HOME")"
    if [[ ! -d $PG_HOME ]]; then
      echo "quickstart: the postgres user cannot enter $ROOT: the private cluster lives in $PG_HOME"
    fi
  fi
  mkdir -p "$PG_HOME/run"
  if ((EUID == 0)); then
    chown postgres: "$PG_HOME" "$PG_HOME/run"
    chmod 700 "$PG_HOME"
  fi
  if [[ ! -f $PG_DATA/PG_VERSION ]]; then
    echo "quickstart: creating a private PostgreSQL cluster in ${PG_DATA#"$ROOT"/}"
    pg_run "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  port=$(cat "$VAR/pg/port" 2>/dev/null || echo 55432)
  if ! pg_run "$bindir/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    local tries=0
    while :; do # a port free when looked at may be taken by the time the server binds it
      while ! port_free "$port"; do port=$((port + 1)); done
      echo "$port" >"$VAR/pg/port"
      pg_run "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_HOME/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_HOME/run" start >/dev/null && break
      tries=$((tries + 1))
      ((tries < 5)) || die "PostgreSQL did not start: see ${PG_HOME#"$ROOT"/}/server.log"
      port=$((port + 1))
    done
    PG_STARTED=1
  fi
  PG_BINDIR=$bindir
  # the application's role owns its database and is no superuser
  "$bindir/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
SELECT 'CREATE ROLE acsd LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'acsd')
\gexec
SELECT 'CREATE DATABASE acsd OWNER acsd' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'acsd')
\gexec
SQL
  PG_DSN="hostaddr=127.0.0.1 port=$port dbname=acsd user=acsd"
}

# shellcheck disable=SC2317 # called through the EXIT trap
stop_private_pg() {
  if ((PG_STARTED)); then
    pg_run "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

if [[ -n ${ACS_PG_DSN:-} ]]; then
  PG_DSN=$ACS_PG_DSN
  store="PostgreSQL (ACS_PG_DSN)"
else
  private_pg
  store="private PostgreSQL in ${PG_DATA#"$ROOT"/} ($PG_DSN)"
fi
trap stop_private_pg EXIT
ARGS+=(--pg "$PG_DSN")

# --- the first admin token
TOKEN_FILE=$VAR/admin-token
if [[ ! -s $TOKEN_FILE ]]; then
  mkdir -p "$VAR"
  (umask 077 && "$ACSD" token create --role admin --name quickstart-admin --pg "$PG_DSN" >"$TOKEN_FILE.tmp") ||
    die "could not create the admin token"
  mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
  token_note="$(cat "$TOKEN_FILE")   (new: shown once here, kept in ${TOKEN_FILE#"$ROOT"/})"
else
  token_note="in ${TOKEN_FILE#"$ROOT"/} (created on the first run)"
fi

# --- the key of the stored secrets (engine/core/acs_secret.h): 32 random bytes as hex
KEY_FILE=$VAR/secret.key
if [[ -n ${ACS_SECRET_KEY_FILE:-} ]]; then
  key_note="$ACS_SECRET_KEY_FILE (ACS_SECRET_KEY_FILE)"
else
  if [[ ! -s $KEY_FILE ]]; then
    mkdir -p "$VAR"
    (umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$KEY_FILE.tmp" &&
      echo >>"$KEY_FILE.tmp") || die "could not create the secret key"
    mv "$KEY_FILE.tmp" "$KEY_FILE"
    key_note="${KEY_FILE#"$ROOT"/} (new: back it up; without it the stored secrets cannot be read)"
  else
    key_note="${KEY_FILE#"$ROOT"/}"
  fi
  ARGS+=(--secret-key-file "$KEY_FILE")
fi
# --- CPE authentication (docs/security.md): on, with the factory credentials'
# key; the example policies (acs_credentials) then set per-device credentials
FACTORY_KEY=$VAR/cpe-factory.key
if [[ ! -s $FACTORY_KEY ]]; then
  mkdir -p "$VAR"
  (umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$FACTORY_KEY.tmp" &&
    echo >>"$FACTORY_KEY.tmp") || die "could not create the factory credentials' key"
  mv "$FACTORY_KEY.tmp" "$FACTORY_KEY"
fi
ARGS+=(--cpe-auth on --cpe-auth-factory-key-file "$FACTORY_KEY")
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
  echo "  devices: curl -H \"Authorization: Bearer \$(cat ${TOKEN_FILE#"$ROOT"/})\" $(url "$api" api/v1/devices)"
fi
echo "  token:   $token_note"
echo "  store:   $store"
echo "  secrets: $key_note"
echo "  CPE auth: on; factory credentials from ${FACTORY_KEY#"$ROOT"/} (cpesim --factory-key)"
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
# acsd runs as a child so that the private PostgreSQL stops after it; Ctrl-C
# reaches both through the terminal's process group, SIGTERM is passed on.
"$ACSD" "${ARGS[@]}" &
acsd_pid=$!
trap 'kill -TERM "$acsd_pid" 2>/dev/null' TERM INT
rc=0
wait "$acsd_pid" || rc=$?
if ((rc > 128)); then # the wait was cut by a signal: acsd's own status (127: already collected)
  rc2=0
  wait "$acsd_pid" || rc2=$?
  ((rc2 == 127)) || rc=$rc2
fi
exit "$rc"
