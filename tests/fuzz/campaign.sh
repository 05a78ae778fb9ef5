#!/usr/bin/env bash
# tests/fuzz/campaign.sh: a fuzzing campaign over every libFuzzer target.
#
# Builds build-fuzz/ with clang, -DACS_FUZZ=ON -DACS_SANITIZE=ON (ASan+UBSan),
# then runs each build-fuzz/bin/fuzz_<name> for SECONDS with its dictionary
# tests/fuzz/<name>.dict, on a working copy of tests/fuzz/corpus/<name> in a
# temporary directory, one target per core. Crash inputs go to
# build-fuzz/artifacts/<name>/, logs to build-fuzz/logs/fuzz_<name>.log.
# Prints, per target, the inputs executed, the corpus size and the crashes, and
# exits nonzero if any target crashed (or failed to run).
#
# tests/run.sh uses it for its short fuzz smoke (--no-build --build-dir ...).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: tests/fuzz/campaign.sh [options] [TARGET...] [-- LIBFUZZER_FLAG...]

  -t, --time SECONDS  run each target for SECONDS (default 600)
  -j, --jobs N        targets run in parallel (default: number of cores)
  --build-dir DIR     build directory (default build-fuzz)
  --no-build          use the fuzz binaries already in DIR/bin
  --merge             afterwards, merge the inputs that add coverage into
                      tests/fuzz/corpus/<name>/ (libFuzzer -merge=1)
  --keep              keep the temporary working corpora (path printed)
  -h, --help          this help

TARGET is a target name (http or fuzz_http); default: every fuzz_* in DIR/bin.
Flags after -- go to every libFuzzer run (e.g. -- -max_len=65536).
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

SECS=600
JOBS=$(nproc 2>/dev/null || echo 2)
BUILD_DIR=build-fuzz
BUILD=1
MERGE=0
KEEP=0
TARGETS=()
EXTRA=()

die() {
  echo "campaign: $*" >&2
  exit 2
}
need_uint() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 needs a number, got '$2'"; }

while (($#)); do
  case $1 in
    -t | --time)
      (($# >= 2)) || die "$1 needs a value"
      need_uint "$1" "$2"
      SECS=$2
      shift
      ;;
    --time=*)
      need_uint --time "${1#*=}"
      SECS=${1#*=}
      ;;
    -j | --jobs)
      (($# >= 2)) || die "$1 needs a value"
      need_uint "$1" "$2"
      JOBS=$2
      shift
      ;;
    -j[0-9]*)
      need_uint -j "${1#-j}"
      JOBS=${1#-j}
      ;;
    --jobs=*)
      need_uint --jobs "${1#*=}"
      JOBS=${1#*=}
      ;;
    --build-dir)
      (($# >= 2)) || die "$1 needs a value"
      BUILD_DIR=$2
      shift
      ;;
    --build-dir=*) BUILD_DIR=${1#*=} ;;
    --no-build) BUILD=0 ;;
    --merge) MERGE=1 ;;
    --keep) KEEP=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      EXTRA=("$@")
      break
      ;;
    -*)
      usage >&2
      die "unknown option $1"
      ;;
    *) TARGETS+=("fuzz_${1#fuzz_}") ;;
  esac
  shift
done
((JOBS >= 1)) || JOBS=1
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
BIN=$BUILD_DIR/bin

# --- build
if ((BUILD)); then
  command -v clang >/dev/null 2>&1 || die "clang not found: apt-get install clang libclang-rt-14-dev"
  mapfile -t srcs < <(find "$ROOT/tests/fuzz" -maxdepth 1 -name 'fuzz_*.c' | sort)
  ((${#srcs[@]})) || die "no fuzz targets (tests/fuzz/fuzz_*.c)"
  build_targets=()
  for s in "${srcs[@]}"; do
    n=$(basename "$s" .c)
    if ((${#TARGETS[@]} == 0)) || [[ " ${TARGETS[*]} " == *" $n "* ]]; then
      build_targets+=("$n")
    fi
  done
  ((${#build_targets[@]})) || die "no such target: ${TARGETS[*]}"
  echo "campaign: building ${build_targets[*]} in $BUILD_DIR"
  # -O1 -g without NDEBUG: assertions stay on, as in OSS-Fuzz builds
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DACS_FUZZ=ON -DACS_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g"
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "${build_targets[@]}"
fi

# --- targets
if ((${#TARGETS[@]} == 0)); then
  shopt -s nullglob
  for b in "$BIN"/fuzz_*; do
    [[ -f $b && -x $b ]] && TARGETS+=("$(basename "$b")")
  done
  shopt -u nullglob
fi
if ((${#TARGETS[@]} == 0)); then
  echo "campaign: no fuzz targets in $BIN (build with clang and -DACS_FUZZ=ON)"
  exit 0
fi
for t in "${TARGETS[@]}"; do
  [[ -x $BIN/$t ]] || die "$BIN/$t not found"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/acs-fuzz.XXXXXX")
PIDS=()
cleanup() {
  local p f
  for f in "$WORK"/*.pid; do # the timeout(1) of each running target: it stops the fuzzer too
    if [[ -f $f ]]; then kill "$(<"$f")" 2>/dev/null || true; fi
  done
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  if ((KEEP)); then
    echo "campaign: working corpora kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$BUILD_DIR/logs" "$BUILD_DIR/artifacts"
touch "$WORK/stamp"

# fuzz_one NAME: runs one target; writes "status execs files bytes crashes secs" to $WORK/NAME.res
fuzz_one() {
  local name=$1 short=${1#fuzz_}
  local corpus=$WORK/corpus/$short art=$BUILD_DIR/artifacts/$short log=$BUILD_DIR/logs/$name.log
  local seeds=$ROOT/tests/fuzz/corpus/$short dict=$ROOT/tests/fuzz/$short.dict
  local t0=$SECONDS rc=0 status execs files bytes crashes
  mkdir -p "$corpus" "$art"
  if [[ -d $seeds ]]; then
    cp -R "$seeds/." "$corpus/"
  fi
  local -a args=(-max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
    -artifact_prefix="$art/")
  [[ -f $dict ]] && args+=(-dict="$dict")
  # libFuzzer stops itself after SECS; the outer timeout covers a stuck start-up
  timeout -k 30 $((SECS + 300)) "$BIN/$name" "${args[@]}" "${EXTRA[@]}" "$corpus" >"$log" 2>&1 &
  echo $! >"$WORK/$name.pid"
  wait $! || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  crashes=$(find "$art" -maxdepth 1 -type f -newer "$WORK/stamp" \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if ((rc == 0 && crashes == 0)); then
    status=ok
  elif ((crashes > 0)); then
    status=CRASH
  else
    status="FAIL($rc)"
  fi
  if ((MERGE)) && [[ $status == ok ]]; then
    mkdir -p "$seeds"
    "$BIN/$name" -merge=1 "${EXTRA[@]}" "$seeds" "$corpus" >>"$log" 2>&1 ||
      echo "campaign: merge into $seeds failed, see $log" >&2
  fi
  rm -f "$WORK/$name.pid"
  echo "$status ${execs:-?} $files $bytes $crashes $((SECONDS - t0))" >"$WORK/$name.res"
}

echo "campaign: ${#TARGETS[@]} targets x ${SECS}s, $JOBS at a time; logs in $BUILD_DIR/logs"
running=0
for t in "${TARGETS[@]}"; do
  while ((running >= JOBS)); do
    wait -n || true
    running=$((running - 1))
  done
  echo "campaign: start $t"
  fuzz_one "$t" &
  PIDS+=($!)
  running=$((running + 1))
done
wait || true
PIDS=()

# --- report
failed=0
summary=$BUILD_DIR/fuzz-summary.tsv
printf 'target\tstatus\texecs\tcorpus_files\tcorpus_bytes\tcrashes\tseconds\n' >"$summary"
echo
printf '%-22s %-8s %12s %14s %8s %6s\n' target status execs corpus crashes secs
for t in "${TARGETS[@]}"; do
  if [[ -s $WORK/$t.res ]]; then
    read -r status execs files bytes crashes secs <"$WORK/$t.res"
  else
    status=FAIL execs='?' files=0 bytes=0 crashes=0 secs=0
  fi
  if ((bytes < 10240)); then size="${bytes}B"; else size="$((bytes / 1024))K"; fi
  printf '%-22s %-8s %12s %14s %8s %6s\n' "$t" "$status" "$execs" "$files files/$size" "$crashes" \
    "$secs"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$status" "$execs" "$files" "$bytes" "$crashes" \
    "$secs" >>"$summary"
  if [[ $status != ok ]]; then
    failed=$((failed + 1))
    echo "---- $t: last lines of $BUILD_DIR/logs/$t.log"
    tail -n 40 "$BUILD_DIR/logs/$t.log" 2>/dev/null || true
    find "$BUILD_DIR/artifacts/${t#fuzz_}" -maxdepth 1 -type f -newer "$WORK/stamp" \
      -printf '  artifact: %p\n' 2>/dev/null || true
    echo "---- reproduce: $BIN/$t <artifact>"
  fi
done
echo
echo "fuzz: $((${#TARGETS[@]} - failed)) passed, $failed failed"
((failed == 0))
