# shellcheck shell=bash
# deploy/lib/deps.sh: installs the Debian packages listed in deploy/deps*.txt.
# Sourced by deploy/quickstart.sh and tests/run.sh; the package lists live in
# those files only.
#
#   acs_install_deps FILE...   install every listed package that is not installed
#   acs_missing_deps FILE...   print the listed packages that are not installed
#   acs_read_deps FILE...      print the listed packages
#
# File format: one package per line; '#' starts a comment; blank lines ignored.
# Installs with apt-get (apt-get update first, only when something is missing),
# as root or through sudo. Set ACS_SKIP_DEPS=1 to skip the whole step.

acs_read_deps() {
  local f line
  for f in "$@"; do
    if [[ ! -r $f ]]; then
      echo "deps: cannot read $f" >&2
      return 1
    fi
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line%%#*}
      line=${line//[[:space:]]/}
      [[ -n $line ]] && printf '%s\n' "$line"
    done <"$f"
  done
  return 0
}

acs_missing_deps() {
  local pkgs pkg status
  pkgs=$(acs_read_deps "$@") || return 1
  for pkg in $pkgs; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
  return 0
}

acs_install_deps() {
  local missing_out all_out
  local -a missing sudo=()
  if [[ ${ACS_SKIP_DEPS:-0} == 1 ]]; then
    echo "deps: skipped (ACS_SKIP_DEPS=1)"
    return 0
  fi
  all_out=$(acs_read_deps "$@") || return 1
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: not a Debian system (no dpkg-query/apt-get): install the equivalents of these" \
      "packages yourself: ${all_out//$'\n'/ }" >&2
    return 0
  fi
  missing_out=$(acs_missing_deps "$@") || return 1
  if [[ -z $missing_out ]]; then
    echo "deps: all $(wc -w <<<"$all_out") packages of $* are installed"
    return 0
  fi
  mapfile -t missing <<<"$missing_out"
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "deps: missing packages and not root (and no sudo): run as root:" >&2
      echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "deps: installing ${missing[*]}"
  local -a apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
    -o DPkg::Lock::Timeout=300)
  if ! "${apt[@]}" update; then
    echo "deps: apt-get update failed; trying to install from the current package lists" >&2
  fi
  if ! "${apt[@]}" install --no-install-recommends "${missing[@]}"; then
    echo "deps: apt-get install failed for: ${missing[*]}" >&2
    return 1
  fi
  missing_out=$(acs_missing_deps "$@") || return 1
  if [[ -n $missing_out ]]; then
    echo "deps: still not installed after apt-get: ${missing_out//$'\n'/ }" >&2
    return 1
  fi
  echo "deps: installed ${#missing[@]} packages"
  return 0
}
