#!/usr/bin/env bash
# The checked builds (CI, .ci/run = the README's test command, runs the plain
# suite, then `bash deploy/ci.sh tsan fuzz`). It installs what is missing
# (deploy/bootstrap.sh --no-build), then runs three stages, each in a build
# directory of its own:
#   asan: build-asan/, the whole project with g++ and AddressSanitizer +
#         UndefinedBehaviorSanitizer (any undefined behaviour aborts;
#         LeakSanitizer runs at every exit); runs every ctest test: unit
#         tests two at a time, then the integration tests one at a time. Any
#         sanitizer report from any process (tests and the servers they
#         start) fails the stage, even one the test itself did not notice;
#         the reports are printed from build-asan/sanitizer-reports/;
#   tsan: build-tsan/, clang with ThreadSanitizer: the libraries and
#         pst_threaded_tests (the unit tests of the threaded parts: HTTP
#         server, heartbeats, mutex, checkpoint writer, PS client, background
#         evaluator); the libraries common, ps, worker and scheduler also
#         compile with -Werror=thread-safety there;
#   fuzz: build-fuzz/, clang with ASan + UBSan + libFuzzer: only the fuzz
#         targets of tests/fuzz and the libraries they need; runs each for
#         FUZZ_SECONDS (default 30) from its seed corpus (every seed runs
#         first), two targets at a time; a crash, leak, 10 s timeout or 2 GB of
#         memory fails it, and the input that caused it is left in
#         build-fuzz/runs/<target>/.
# Each stage prints its wall and CPU time; the script exits non-zero if any
# stage failed. The plain build of deploy/bootstrap.sh (build/) is not used.
# Usage: bash deploy/ci.sh [asan|tsan|fuzz ...]   (default: all three)
set -uo pipefail
cd "$(dirname "$0")/.."

bash deploy/bootstrap.sh --no-build || exit 1
if ! command -v clang++ >/dev/null || ! [ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]; then
  echo "ci: error: needs clang 14 and its sanitizer runtimes (deploy/bootstrap.sh installs clang libclang-rt-14-dev llvm-14)" >&2
  exit 1
fi
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan tsan fuzz)
failed=()
# Reports name source lines (llvm-symbolizer reads g++'s DWARF too).
export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
asan_options="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=0"
export ASAN_OPTIONS="$asan_options"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/tsan.supp:halt_on_error=1:second_deadlock_stack=1"

configure() {  # configure DIR C_COMPILER CXX_COMPILER OPT_FLAGS SANITIZERS [extra cmake args...]
  local dir=$1 cc=$2 cxx=$3 opt=$4 san=$5
  shift 5
  cmake -S . -B "$dir" -G Ninja -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="$opt" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt" \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DPST_SANITIZE="$san" "$@" >/dev/null
}

timed() {  # timed NAME COMMAND...: runs it, prints its wall and CPU time, records a failure
  local name=$1 start=$SECONDS cpu0 cpu1
  shift
  echo "=== ci: $name"
  cpu0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  "$@"
  local rc=$?
  cpu1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  local how="$((SECONDS - start)) s wall, $(( (cpu1 - cpu0) / $(getconf CLK_TCK) )) s CPU, load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $rc -eq 0 ]; then
    echo "=== ci: $name passed in $how"
  else
    echo "=== ci: $name FAILED in $how"
    failed+=("$name")
  fi
  return $rc
}

asan_build() {
  # -O1 -g1: line tables for the reports, and about half the compile time of -O2 -g.
  configure build-asan gcc g++ "-O1 -g1" "address;undefined" && cmake --build build-asan
}
asan_tests() {
  local reports=$PWD/build-asan/sanitizer-reports rc=0
  rm -rf "$reports" && mkdir -p "$reports"
  # Every process writes its reports to a file, so one in a server a test
  # started (whose output the test may not show) is found too.
  ASAN_OPTIONS="$asan_options:log_path=$reports/asan" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$reports/ubsan" \
    bash -c 'ctest --test-dir build-asan -L unit -j2 --output-on-failure &&
             ctest --test-dir build-asan -LE unit --output-on-failure' || rc=1
  if compgen -G "$reports/*" >/dev/null; then
    echo "ci: sanitizer reports (from $reports):"
    for f in "$reports"/*; do echo "--- $f"; head -60 "$f"; done
    rc=1
  fi
  return $rc
}

tsan_build() {
  configure build-tsan clang clang++ "-O1 -gline-tables-only" thread -DPST_BUILD_BENCH=OFF &&
    cmake --build build-tsan --target pst_threaded_tests pst_scheduler
}
tsan_tests() {
  # Only pst_threaded_tests is built (tests/CMakeLists.txt, label "tsan").
  ctest --test-dir build-tsan -L tsan --output-on-failure
}

fuzz_targets() { for f in tests/fuzz/*_fuzzer.cc; do basename "$f" .cc; done; }
fuzz_build() {
  configure build-fuzz clang clang++ "-O1 -gline-tables-only" "address;undefined" \
    -DPST_FUZZ=ON -DPST_BUILD_BENCH=OFF && cmake --build build-fuzz --target $(fuzz_targets)
}
fuzz_one() {  # fuzz_one TARGET: fuzzes it; prints one line (and the report if it failed)
  local t=$1 work="build-fuzz/runs/$1"
  rm -rf "$work" && mkdir -p "$work/corpus"
  # New inputs go to the scratch copy, never into the seeds in the tree.
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  if build-fuzz/bin/"$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -dict=tests/fuzz/pst.dict -artifact_prefix="$work/" \
       "$work/corpus" >"$work/log" 2>&1; then
    echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$') runs)"
  else
    echo "fuzz: $t FAILED; input and log in $work/"
    grep -m1 -A30 -E '==ERROR|SUMMARY|fuzzer: ' "$work/log" | head -40
    return 1
  fi
}
fuzz_all() {
  # Two targets at a time (one per core); each result is printed whole, in order.
  local targets=($(fuzz_targets)) fails=0
  mkdir -p build-fuzz/runs
  for ((i = 0; i < ${#targets[@]}; i += 2)); do
    local pair=("${targets[@]:i:2}")
    for t in "${pair[@]}"; do fuzz_one "$t" >"build-fuzz/runs/$t.result" 2>&1 & done
    for t in "${pair[@]}"; do wait -n || fails=$((fails + 1)); done
    for t in "${pair[@]}"; do cat "build-fuzz/runs/$t.result"; done
  done
  echo "fuzz: $((${#targets[@]} - fails)) passed, $fails failed"
  [ "$fails" -eq 0 ]
}

for stage in "${stages[@]}"; do
  case "$stage" in
    asan) timed "asan+ubsan build (g++)" asan_build && timed "asan+ubsan tests" asan_tests ;;
    tsan) timed "tsan build (clang)" tsan_build && timed "tsan unit tests" tsan_tests ;;
    fuzz) timed "fuzz build (clang)" fuzz_build && timed "fuzzing (${FUZZ_SECONDS} s per target)" fuzz_all ;;
    *) echo "ci: unknown stage '$stage' (asan, tsan or fuzz)" >&2; exit 2 ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "ci: FAILED: ${failed[*]}"
  exit 1
fi
echo "ci: all stages passed"
