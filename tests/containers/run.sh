#!/usr/bin/env bash
# tests/containers/run.sh: the container deployment, for real (docs/deployment.md,
# "Containers"). Not in the default ctest run (it builds images: minutes).
#
#   tests/containers/run.sh [--build-dir DIR] [--devices N] [--keep]
#
# 1. installs podman, podman-compose, runc, debootstrap, catatonit (the
#    pause process of kube play pods) and the CNI dnsname
#    plugin (services find each other by name) if missing; uses a
#    containers.conf of its own (CONTAINERS_CONF) with the two settings this
#    kind of VM needs: default_ulimits within the process limits, runtime runc;
# 2. makes the base image localhost/debian:bookworm with debootstrap (minbase,
#    from the mirror apt uses) unless it exists;
# 3. deploy/deploy.sh builds the images and brings deploy/compose.yml up on
#    free loopback ports (its own project name and state directory), waits for
#    /ready and prints the URLs;
# 4. cpesim (DIR/bin/cpesim, on the host) boots N devices (default 200)
#    through HAProxy's published CWMP port, then runs one periodic session
#    each; the API (admin token of deploy.sh) must list exactly those devices;
# 5. the Kubernetes manifests run with `podman kube play` (the Deployment with
#    the policies ConfigMap and a Secret pointing at the compose stack's
#    PostgreSQL, on its network): the pod's acsd must answer /health and
#    /ready and have loaded the ConfigMap's policies;
# 6. everything is brought down and its volumes deleted (--keep: left up).
# Exits 0 when every step passed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
DEVICES=200
KEEP=0

die() {
  echo "containers: FAIL: $*" >&2
  exit 1
}
step() { printf '\n== %s\n' "$*"; }

while (($#)); do
  case $1 in
    --build-dir)
      (($# >= 2)) || die "$1 needs a value"
      BUILD=$2
      shift
      ;;
    --devices)
      (($# >= 2)) && [[ $2 =~ ^[0-9]+$ ]] || die "--devices needs a number"
      DEVICES=$2
      shift
      ;;
    --keep) KEEP=1 ;;
    -h | --help)
      sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option $1" ;;
  esac
  shift
done
[[ -x $BUILD/bin/cpesim ]] || die "no $BUILD/bin/cpesim: build first"

step "packages"
missing=()
for p in podman podman-compose runc debootstrap curl catatonit golang-github-containernetworking-plugin-dnsname; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=
  ((EUID == 0)) || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "podman $(podman --version | awk '{print $3}'), podman-compose $(podman-compose --version 2>/dev/null | grep -m 1 -o 'version  *[0-9.]*$' || true)"

WORK=$(mktemp -d /tmp/acs-containers-XXXXXX)
cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF=$WORK/containers.conf

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export ACS_COMPOSE_PROJECT=acstest$$
export ACS_DEPLOY_STATE=$WORK/state
ACS_CWMP_PORT=$(free_port)
ACS_API_PORT=$(free_port)
ACS_XMPP_PORT=$(free_port)
export ACS_CWMP_PORT ACS_API_PORT ACS_XMPP_PORT
POD_YAML=$WORK/kube.yaml

cleanup() {
  local rc=$?
  if ((KEEP)); then
    echo "containers: left up (project $ACS_COMPOSE_PROJECT, state $ACS_DEPLOY_STATE)"
    return
  fi
  if [[ -f $POD_YAML ]]; then
    podman kube down "$POD_YAML" >/dev/null 2>&1 || true
    # kube down leaves the volumes of the ConfigMaps and the Secret
    podman volume ls -q | grep -E '^acsd-(policies|secrets)' | xargs -r podman volume rm >/dev/null 2>&1 || true
  fi
  podman secret rm acsd-secrets >/dev/null 2>&1 || true
  podman network rm "${ACS_COMPOSE_PROJECT}_default" >/dev/null 2>&1 || true
  if [[ -f $ACS_DEPLOY_STATE/.env ]]; then
    "$ROOT/deploy/deploy.sh" --down --purge >"$WORK/down.log" 2>&1 || cat "$WORK/down.log"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

step "base image"
BASE=localhost/debian:bookworm
if podman image exists "$BASE"; then
  echo "$BASE exists"
else
  MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $MIRROR ]] || MIRROR=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n $MIRROR ]] || MIRROR=http://deb.debian.org/debian
  echo "debootstrap --variant=minbase bookworm from $MIRROR"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    die "debootstrap failed: $(tail -n 5 "$WORK/debootstrap.log")"
  tar -C "$WORK/rootfs" -c . | podman import - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi

step "compose stack (deploy/deploy.sh)"
"$ROOT/deploy/deploy.sh" --timeout 240 2>&1 | tee "$WORK/deploy.log" | grep -v '^STEP\|^-->\|^Copying\|^Writing\|^Storing\|^Getting\|^COMMIT\|^Successfully\|^[0-9a-f]\{64\}$' || die "deploy.sh failed"
TOKEN=$(cat "$ACS_DEPLOY_STATE/admin-token")
[[ $TOKEN == acs_* ]] || die "no admin token from deploy.sh"
API=http://127.0.0.1:$ACS_API_PORT

step "cpesim: $DEVICES devices through HAProxy"
sim() {
  "$BUILD/bin/cpesim" --acs "http://127.0.0.1:$ACS_CWMP_PORT/" --count "$DEVICES" --serial-prefix CTR \
    --seed 3 --state "$WORK/fleet.state" --no-loop --sessions "$DEVICES" --concurrency 20 \
    --duration 120 --periodic-interval 86400 --quiet "$@" | tail -n 1
}
boot=$(sim)
echo "boot: $boot"
periodic=$(sim --periodic)
echo "periodic: $periodic"
for run in "$boot" "$periodic"; do
  python3 -c 'import json,sys; s=json.loads(sys.argv[1]); n=int(sys.argv[2]); sys.exit(0 if s["sessions_ok"]==n and s["sessions_failed"]==0 else 1)' \
    "$run" "$DEVICES" || die "not every session succeeded"
done
listed=$(python3 - "$API" "$TOKEN" <<'PY'
import json, sys, urllib.request
api, token, n, cursor = sys.argv[1], sys.argv[2], 0, None
while True:
    url = api + "/api/v1/devices?limit=500" + ("&cursor=" + cursor if cursor else "")
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    doc = json.load(urllib.request.urlopen(req, timeout=10))
    n += sum(1 for d in doc["items"] if "-CTR" in d["id"])
    cursor = doc.get("next_cursor")
    if not cursor:
        break
print(n)
PY
)
[[ $listed == "$DEVICES" ]] || die "the API lists $listed devices, want $DEVICES"
one=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$API/api/v1/devices/02CAFE-HG181-CTR000007")
grep -q '"CTR000007"' <<<"$one" || die "device CTR000007 not readable through the API: $one"
echo "ok: the API lists the $DEVICES devices; CTR000007 reads back"

step "Kubernetes manifests with podman kube play"
# shellcheck disable=SC1091
. "$ACS_DEPLOY_STATE/.env"
NET=$(podman network ls --format '{{.Name}}' | grep "^${ACS_COMPOSE_PROJECT}" | head -n 1)
[[ -n $NET ]] || die "no network of the compose project"
# the Secret: the compose stack's PostgreSQL and a fresh key; the ConfigMap and
# the Deployment as shipped (one replica: this is one machine)
python3 - "$ROOT/deploy/k8s" "$POD_YAML" "$ACS_DB_PASSWORD" <<'PY'
import json, os, sys, yaml
k8s, out, pw = sys.argv[1], sys.argv[2], sys.argv[3]
docs = []
for name in sorted(os.listdir(k8s)):
    if name.endswith(".yaml"):
        docs += [d for d in yaml.safe_load_all(open(os.path.join(k8s, name))) if d]
keep = []
for d in docs:
    if d["kind"] == "Secret":
        # podman 4.3 takes a Secret from its own store (podman secret create),
        # holding the Kubernetes document as JSON; it reads only data, writes
        # its values as given (not base64-decoded) and names each file by its
        # key (items' paths are ignored: the keys are the file names)
        d["stringData"]["acsd.conf"] = "pg = host=postgres port=5432 dbname=acsd user=acsd password=%s\n" % pw
        d["stringData"]["secret.key"] = os.urandom(32).hex()
        d["data"] = d.pop("stringData")
        json.dump(d, open(out + ".secret", "w"))
    if d["kind"] == "Deployment":
        d["spec"]["replicas"] = 1
    if d["kind"] in ("ConfigMap", "Deployment"):
        keep.append(d)
yaml.safe_dump_all(keep, open(out, "w"), sort_keys=False)
PY
podman secret create acsd-secrets "$POD_YAML.secret" >/dev/null || die "podman secret create failed"
podman kube play --network "$NET" "$POD_YAML" >"$WORK/kube.log" 2>&1 || die "podman kube play: $(head -n 5 "$WORK/kube.log")"
CTR=$(podman ps -a --format '{{.Names}}' | grep '^acsd-pod.*-acsd$' | head -n 1 || true)
[[ -n $CTR ]] || die "no acsd container from podman kube play: $(cat "$WORK/kube.log")"
echo "pod container $CTR"
ok=0
for _ in $(seq 1 60); do
  if podman exec "$CTR" curl -fsS http://127.0.0.1:7557/ready >/dev/null 2>&1; then
    ok=1
    break
  fi
  sleep 2
done
((ok)) || die "the pod's acsd is not ready: $(podman ps -a --format '{{.Names}} {{.Status}}' | grep acsd-pod)
$(podman logs --tail 20 "$CTR" 2>&1)"
health=$(podman exec "$CTR" curl -fsS http://127.0.0.1:7557/health)
echo "ok: /health $health, /ready 200"
podman exec "$CTR" ls /etc/acsd/policies/presets/default.lua >/dev/null ||
  die "the ConfigMap's policies are not mounted as a tree"
podman logs "$CTR" 2>&1 | grep -q 'policy' || die "the pod's acsd logged nothing about policies"
echo "ok: the Deployment runs under podman kube play with the ConfigMap's policies and the Secret"
echo
echo "containers: PASS"
