#!/usr/bin/env bash
# tests/run.sh: the project's one test command (CI runs it through .ci/run).
#
# On a fresh Debian bookworm machine, as root or through sudo:
#   1. deps     installs what deploy/deps.txt and deploy/deps-test.txt list and is missing
#   2. lint     shellcheck on the shell scripts; luacheck on lua/ and policies/ (with .luacheckrc)
#   3. gcc      build/: RelWithDebInfo, gcc, then ctest
#   4. asan     build-asan/: gcc, -DACS_SANITIZE=ON (ASan+UBSan+LSan, assertions on), then ctest
#   5. clang    build-clang/: clang, -DACS_FUZZ=ON -DACS_SANITIZE=ON: the second compiler's
#               warnings (-Werror) and the libFuzzer targets, each fuzzed briefly
#               (tests/fuzz/campaign.sh) on a copy of its corpus
# then a summary with each stage's time. Exits nonzero if anything failed.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: tests/run.sh [options]

  --quick            deps, plain gcc build and unit tests (ctest -L unit) only
  --no-asan          skip the sanitized build
  --no-clang         skip the clang build and the fuzz smoke
  --fuzz SECONDS     fuzz each target for SECONDS (default 20; 0 = build the targets only)
  -j, --jobs N       parallel build and test jobs (default: number of cores)
  --no-deps          do not check or install packages (also: ACS_SKIP_DEPS=1)
  --build-prefix P   build directories P, P-asan, P-clang (default: build)
  -h, --help         this help
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=../deploy/lib/deps.sh
. "$ROOT/deploy/lib/deps.sh"

QUICK=0
ASAN=1
CLANG=1
DEPS=1
FUZZ_SECONDS=20
JOBS=$(nproc 2>/dev/null || echo 2)
PREFIX=build

die() {
  echo "run.sh: $*" >&2
  exit 2
}
need_uint() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 needs a number, got '$2'"; }

while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --no-asan) ASAN=0 ;;
    --no-clang | --no-fuzz) CLANG=0 ;;
    --no-deps) DEPS=0 ;;
    --fuzz)
      (($# >= 2)) || die "$1 needs a value"
      need_uint "$1" "$2"
      FUZZ_SECONDS=$2
      shift
      ;;
    --fuzz=*)
      need_uint --fuzz "${1#*=}"
      FUZZ_SECONDS=${1#*=}
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
    --build-prefix)
      (($# >= 2)) || die "$1 needs a value"
      PREFIX=$2
      shift
      ;;
    --build-prefix=*) PREFIX=${1#*=} ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      die "unknown option $1"
      ;;
  esac
  shift
done
((JOBS >= 1)) || JOBS=1
if ((QUICK)); then
  ASAN=0
  CLANG=0
fi

# Sanitizer settings for every test run (the user's own options, if any, come last and win).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export CTEST_OUTPUT_ON_FAILURE=1

# PostgreSQL's server binaries are not on PATH on Debian: tests find them here.
set_pg_bindir() {
  local d
  [[ -n ${ACS_PG_BINDIR:-} ]] && return 0
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -n $d ]]; then
    export ACS_PG_BINDIR=$d
  fi
  return 0
}

set_pg_bindir

# --- stages: each runs in a subshell with errexit, so any failing command ends it
ST_NAME=()
ST_STATUS=()
ST_TIME=()
TESTS_PASSED=0
TESTS_FAILED=0
TESTS_SKIPPED=0
FAILED=0
STAGE_RC=0
LAST_COUNTS=
T_START=$SECONDS

banner() { printf '\n==== %s ====\n' "$*"; }

# run_stage NAME FUNCTION ARGS...: records "ok" or "FAILED" and the time taken, sets STAGE_RC.
# Never call it (or a function that calls it) where errexit is ignored (if, ||, &&): bash
# would then ignore the subshell's `set -e` as well.
run_stage() {
  local name=$1 t0=$SECONDS rc
  shift
  banner "$name"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  ST_NAME+=("$name")
  ST_TIME+=($((SECONDS - t0)))
  if ((rc == 0)); then
    ST_STATUS+=(ok)
  else
    ST_STATUS+=("FAILED (exit $rc)")
    FAILED=1
    echo "run.sh: stage '$name' failed (exit $rc)" >&2
  fi
  STAGE_RC=$rc
}

skip_stage() {
  ST_NAME+=("$1")
  ST_TIME+=(0)
  ST_STATUS+=("skipped: $2")
}

stage_deps() {
  local -a files=("$ROOT/deploy/deps.txt")
  ((QUICK)) || files+=("$ROOT/deploy/deps-test.txt")
  acs_install_deps "${files[@]}"
}

stage_lint() {
  local -a scripts luafiles
  mapfile -t scripts < <(find "$ROOT" -path "$ROOT/build*" -prune -o -path "$ROOT/.git" -prune -o \
    -path "$ROOT/var" -prune -o -type f -name '*.sh' -print | sort)
  scripts+=("$ROOT/.ci/run")
  shellcheck -S warning -x "${scripts[@]}"
  echo "shellcheck: ${#scripts[@]} scripts clean"
  mapfile -t luafiles < <(find "$ROOT/lua" "$ROOT/policies" -type f -name '*.lua' 2>/dev/null | sort)
  if ((${#luafiles[@]} == 0)); then
    echo "luacheck: no Lua files"
  elif [[ ! -f $ROOT/.luacheckrc ]]; then
    echo "luacheck: skipped, no .luacheckrc (it declares the policy sandbox's globals)"
  else
    luacheck --codes "${luafiles[@]}"
  fi
}

# build DIR CMAKE_ARGS...
build() {
  local dir=$1
  shift
  cmake -S "$ROOT" -B "$dir" "$@"
  cmake --build "$dir" -j "$JOBS"
}

# run_ctest DIR CTEST_ARGS...: the log is kept in DIR/ctest.log for the counts
run_ctest() {
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" "$@" 2>&1 | tee "$dir/ctest.log"
}

# count_ctest DIR: adds the results of DIR/ctest.log to the totals
count_ctest() {
  local log=$1/ctest.log p s f
  [[ -f $log ]] || return 0
  p=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* +Passed +[0-9.]+ sec' "$log" || true)
  s=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$log" || true)
  f=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" || true)
  f=$((f - p - s))
  if grep -q 'No tests were found' "$log"; then
    echo "run.sh: warning: ctest found no tests in $1" >&2
  fi
  TESTS_PASSED=$((TESTS_PASSED + p))
  TESTS_SKIPPED=$((TESTS_SKIPPED + s))
  TESTS_FAILED=$((TESTS_FAILED + f))
  LAST_COUNTS="$p passed, $f failed, $s skipped"
}

# count_fuzz DIR: adds the fuzz smoke results (campaign.sh's DIR/fuzz-summary.tsv)
count_fuzz() {
  local sum=$1/fuzz-summary.tsv p f
  [[ -f $sum ]] || return 0
  p=$(awk -F'\t' 'NR > 1 && $2 == "ok"' "$sum" | wc -l)
  f=$(awk -F'\t' 'NR > 1 && $2 != "ok"' "$sum" | wc -l)
  TESTS_PASSED=$((TESTS_PASSED + p))
  TESTS_FAILED=$((TESTS_FAILED + f))
  LAST_COUNTS="$p passed, $f failed"
}

# test_stage NAME DIR CTEST_ARGS...
test_stage() {
  local name=$1 dir=$2
  shift 2
  rm -f "$dir/ctest.log"
  run_stage "$name" run_ctest "$dir" "$@"
  LAST_COUNTS=
  count_ctest "$dir"
  if [[ -n $LAST_COUNTS ]]; then
    ST_STATUS[-1]="${ST_STATUS[-1]}: $LAST_COUNTS"
  fi
}

# --- run
echo "run.sh: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $JOBS jobs, quick=$QUICK asan=$ASAN clang=$CLANG" \
  "fuzz=${FUZZ_SECONDS}s ACS_PG_BINDIR=${ACS_PG_BINDIR:-none}"

if ((DEPS)) && [[ ${ACS_SKIP_DEPS:-0} != 1 ]]; then
  run_stage "deps" stage_deps
  ((STAGE_RC == 0)) || die "could not install the dependencies"
else
  skip_stage "deps" "--no-deps"
fi

if ((QUICK)); then
  skip_stage "lint" "--quick"
else
  run_stage "lint" stage_lint
fi

B=$ROOT/$PREFIX
run_stage "gcc: build ($PREFIX)" build "$B" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo
if ((STAGE_RC == 0)); then
  if ((QUICK)); then
    test_stage "gcc: unit tests" "$B" -L unit
  else
    test_stage "gcc: tests" "$B"
  fi
else
  skip_stage "gcc: tests" "build failed"
fi

# Sanitized builds: -O1 -g without NDEBUG, so that assertions are checked too.
if ((ASAN)); then
  BA=$ROOT/$PREFIX-asan
  run_stage "asan: build ($PREFIX-asan)" build "$BA" -DCMAKE_C_COMPILER=gcc -DACS_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g"
  if ((STAGE_RC == 0)); then
    test_stage "asan: tests" "$BA"
  else
    skip_stage "asan: tests" "build failed"
  fi
else
  skip_stage "asan" "$( ((QUICK)) && echo --quick || echo --no-asan)"
fi

if ((CLANG)); then
  BC=$ROOT/$PREFIX-clang
  run_stage "clang: build ($PREFIX-clang)" build "$BC" -DCMAKE_C_COMPILER=clang \
    -DACS_FUZZ=ON -DACS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g"
  if ((STAGE_RC == 0)); then
    if ((FUZZ_SECONDS > 0)); then
      rm -f "$BC/fuzz-summary.tsv"
      run_stage "clang: fuzz smoke (${FUZZ_SECONDS}s/target)" \
        bash "$ROOT/tests/fuzz/campaign.sh" --no-build --build-dir "$BC" --time "$FUZZ_SECONDS" \
        -j "$JOBS"
      LAST_COUNTS=
      count_fuzz "$BC"
      if [[ -n $LAST_COUNTS ]]; then
        ST_STATUS[-1]="${ST_STATUS[-1]}: $LAST_COUNTS"
      fi
    else
      skip_stage "clang: fuzz" "--fuzz 0"
    fi
  else
    skip_stage "clang: fuzz" "build failed"
  fi
else
  skip_stage "clang" "$( ((QUICK)) && echo --quick || echo --no-clang)"
fi

# --- summary
banner "summary"
for i in "${!ST_NAME[@]}"; do
  printf '  %-36s %3d:%02d  %s\n' "${ST_NAME[$i]}" $((ST_TIME[i] / 60)) $((ST_TIME[i] % 60)) \
    "${ST_STATUS[$i]}"
done
T_ALL=$((SECONDS - T_START))
printf '  %-36s %3d:%02d\n' "total" $((T_ALL / 60)) $((T_ALL % 60))
if ((FAILED)); then
  echo "run.sh: FAILED"
else
  echo "run.sh: all stages passed"
fi
echo "tests: $TESTS_PASSED passed, $TESTS_FAILED failed, $TESTS_SKIPPED skipped"
((FAILED == 0))
