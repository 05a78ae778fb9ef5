#!/bin/sh
# Checks deploy/haproxy/haproxy.cfg with `haproxy -c` and the example
# environment beside it. Exits 77 (skipped) without haproxy.
set -eu
here=$(dirname "$0")
dir="$here/../../deploy/haproxy"
if ! command -v haproxy >/dev/null 2>&1; then
  echo "skipped: haproxy not installed (apt-get install haproxy)"
  exit 77
fi
set -a
# shellcheck source=../../deploy/haproxy/haproxy.env.example
. "$dir/haproxy.env.example"
set +a
haproxy -c -f "$dir/haproxy.cfg"
