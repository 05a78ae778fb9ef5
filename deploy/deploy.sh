#!/usr/bin/env bash
# deploy/deploy.sh: the single-server stack (deploy/compose.yml) up, ready, and its URLs.
#
#   deploy/deploy.sh [--no-build] [--timeout S] [--down [--purge]]
#
# Needs podman and podman-compose (Debian: apt-get install podman podman-compose
# runc) and the base image localhost/debian:bookworm (or ACS_BASE_IMAGE; see
# docs/deployment.md for making it with debootstrap). On the first run it writes
# deploy/compose/.env (random database and Redis passwords, mode 600) and
# deploy/compose/secret.key (the key of the stored secrets: back it up), then
# builds the images, starts the stack, waits until acsd's /ready answers 200
# and HAProxy passes CWMP through, creates an admin API token on the first run
# (deploy/compose/admin-token, mode 600) and prints the URLs.
# --down stops the stack (the volumes, and so the data, stay; --purge deletes
# them too). Environment: ACS_BIND (127.0.0.1), ACS_CWMP_PORT (7547),
# ACS_API_PORT (7557), ACS_XMPP_PORT (5222), ACS_WORKERS (2), ACS_BASE_IMAGE,
# ACS_DEPLOY_STATE (where .env, secret.key and admin-token live; default
# deploy/compose), ACS_COMPOSE_PROJECT (podman-compose's project name).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPOSE_FILE=$HERE/compose.yml
STATE=${ACS_DEPLOY_STATE:-$HERE/compose}
ENV_FILE=$STATE/.env
KEY_FILE=$STATE/secret.key
TOKEN_FILE=$STATE/admin-token
BUILD=1
DOWN=0
PURGE=0
TIMEOUT=180

die() {
  echo "deploy: $*" >&2
  exit 2
}

while (($#)); do
  case $1 in
    --no-build) BUILD=0 ;;
    --down) DOWN=1 ;;
    --purge) PURGE=1 ;;
    --timeout)
      (($# >= 2)) || die "$1 needs a value"
      [[ $2 =~ ^[0-9]+$ ]] || die "--timeout needs seconds, got '$2'"
      TIMEOUT=$2
      shift
      ;;
    -h | --help)
      sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option $1 (--help)" ;;
  esac
  shift
done

command -v podman >/dev/null || die "podman is missing: apt-get install podman runc"
command -v podman-compose >/dev/null || die "podman-compose is missing: apt-get install podman-compose"
PROJECT=()
[[ -z ${ACS_COMPOSE_PROJECT:-} ]] || PROJECT=(-p "$ACS_COMPOSE_PROJECT")
mkdir -p "$STATE"
export ACS_SECRET_KEY=$KEY_FILE
# the credentials reach compose.yml's ${...} through the environment
compose() (
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a
  podman-compose "${PROJECT[@]}" -f "$COMPOSE_FILE" "$@"
)

if ((DOWN)); then
  [[ -f $ENV_FILE ]] || die "no $ENV_FILE: the stack was never brought up here"
  if ((PURGE)); then
    compose down -v
    podman network rm "${ACS_COMPOSE_PROJECT:-deploy}_default" >/dev/null 2>&1 || true
  else
    compose down
  fi
  exit 0
fi

BASE=${ACS_BASE_IMAGE:-localhost/debian:bookworm}
podman image exists "$BASE" ||
  die "no base image $BASE (docs/deployment.md: debootstrap | podman import, or set ACS_BASE_IMAGE)"

rand() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
if [[ ! -f $ENV_FILE ]]; then
  (
    umask 077
    {
      echo "POSTGRES_PASSWORD=$(rand)"
      echo "ACS_DB_PASSWORD=$(rand)"
      echo "REDIS_PASSWORD=$(rand)"
      echo "ACS_BASE_IMAGE=$BASE"
    } >"$ENV_FILE.tmp"
  )
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  echo "deploy: new credentials in ${ENV_FILE}"
fi
if [[ ! -f $KEY_FILE ]]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY_FILE.tmp" && echo >>"$KEY_FILE.tmp")
  # acsd runs as the user acsd inside its container and must read it
  chmod 644 "$KEY_FILE.tmp"
  mv "$KEY_FILE.tmp" "$KEY_FILE"
  echo "deploy: new secret key in $KEY_FILE: back it up (without it the stored secrets cannot be read)"
fi
# shellcheck disable=SC1090
. "$ENV_FILE"
BIND=${ACS_BIND:-127.0.0.1}
CWMP_PORT=${ACS_CWMP_PORT:-7547}
API_PORT=${ACS_API_PORT:-7557}
XMPP_PORT=${ACS_XMPP_PORT:-5222}

# podman-compose echoes each podman command, passwords included: into a log
# only the owner can read, shown when something fails
LOG=$STATE/compose.log
(umask 077 && : >"$LOG")
if ((BUILD)); then
  echo "deploy: building the images (log: $LOG)"
  compose build >>"$LOG" 2>&1 || {
    tail -n 30 "$LOG" >&2
    die "building the images failed"
  }
fi
compose up -d >>"$LOG" 2>&1 || {
  tail -n 30 "$LOG" >&2
  die "podman-compose up failed"
}

# wait for /ready (acsd: store reachable, migrations applied, policies loaded)
# and for CWMP through HAProxy (its health check on /ready has passed)
deadline=$((SECONDS + TIMEOUT))
ready=0
while ((SECONDS < deadline)); do
  if curl -fsS -o /dev/null "http://$BIND:$API_PORT/ready" &&
    curl -sS -o /dev/null -w '%{http_code}' "http://$BIND:$CWMP_PORT/health" 2>/dev/null | grep -q '^200$'; then
    ready=1
    break
  fi
  sleep 2
done
if ((!ready)); then
  compose ps || true
  compose logs --tail 30 acsd || true
  die "the stack is not ready after ${TIMEOUT}s (logs above)"
fi

if [[ ! -s $TOKEN_FILE ]]; then
  ctr=$(podman ps --format '{{.Names}}' --filter "label=com.docker.compose.project=${ACS_COMPOSE_PROJECT:-deploy}" \
    --filter label=com.docker.compose.service=acsd | head -n 1)
  [[ -n $ctr ]] || die "no running acsd container"
  token=$(podman exec "$ctr" acsd token create --role admin --name deploy-admin \
    --pg "host=postgres port=5432 dbname=acsd user=acsd password=$ACS_DB_PASSWORD") ||
    die "acsd token create failed"
  [[ $token == acs_* ]] || die "acsd token create printed no token"
  (umask 077 && printf '%s\n' "$token" >"$TOKEN_FILE.tmp")
  mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
fi

echo "deploy: ready"
echo "  CWMP (CPEs' ACS URL, through HAProxy): http://$BIND:$CWMP_PORT/"
echo "  API:    http://$BIND:$API_PORT/api/v1/  (admin token in $TOKEN_FILE)"
echo "  health: http://$BIND:$API_PORT/health   ready: http://$BIND:$API_PORT/ready"
echo "  XMPP (Prosody): $BIND:$XMPP_PORT"
echo "  stop:   deploy/deploy.sh --down"
