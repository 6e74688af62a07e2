#!/usr/bin/env bash
# The checked builds CI runs after the main test run (.ci/run, the README's
# test command), with clang 14:
#   1. build-asan/: every target with AddressSanitizer + UndefinedBehaviorSanitizer
#      and -Werror=thread-safety, plus the libFuzzer targets (tests/fuzz); runs
#      the unit, integration and corpus-replay tests (not the shell tests that
#      start external daemons: multihost/, monitoring/, k8s/);
#   2. build-tsan/: ThreadSanitizer, only pst_threaded_tests (the unit tests of
#      the threaded parts: HTTP server, heartbeats, mutex, checkpoint writer,
#      PS client, background evaluator) and the libraries, so that every
#      annotated library (common, ps, worker, scheduler) also passes
#      -Werror=thread-safety; .ci/run runs this stage;
#   3. each fuzz target for FUZZ_SECONDS (default 20) from its seed corpus; any
#      crash, leak, timeout or out-of-memory fails the stage (the input that
#      caused it is left in build-asan/fuzz/<target>/).
# Each stage prints its time; the script exits non-zero if any stage failed.
# CI (.ci/run) runs only the tsan stage: asan and fuzz do not fit its
# 45-minute budget on the 2-core CI machine (see README, Testing).
# Usage: bash deploy/ci_extra.sh [asan|tsan|fuzz ...]   (default: all three)
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang++ >/dev/null || ! [ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]; then
  echo "ci_extra: error: needs clang 14 and its sanitizer runtimes (bash deploy/bootstrap.sh installs them: clang libclang-rt-14-dev llvm-14)" >&2
  exit 1
fi
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan tsan fuzz)
failed=()
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0"
export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/tsan.supp:halt_on_error=1:second_deadlock_stack=1"

configure() {  # configure DIR SANITIZERS [extra cmake args...]
  local dir=$1 san=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DPST_SANITIZE="$san" "$@" >/dev/null
}

timed() {  # timed NAME COMMAND...: runs it, prints its time, records a failure
  local name=$1 start=$SECONDS
  shift
  echo "=== ci_extra: $name"
  if "$@"; then
    echo "=== ci_extra: $name passed in $((SECONDS - start)) s"
  else
    echo "=== ci_extra: $name FAILED in $((SECONDS - start)) s"
    failed+=("$name")
    return 1
  fi
}

asan_build() {
  configure build-asan "address;undefined" -DPST_FUZZ=ON -DPST_BUILD_BENCH=OFF &&
    cmake --build build-asan
}
asan_tests() {
  # Left out: the shell tests that run external daemons (Slurm, Prometheus,
  # network-namespace hosts; the k8s manifest validator runs none of our code).
  # Unit tests and corpus replays are CPU-bound and independent: two at a
  # time. Integration tests run one at a time, as in the main run.
  ctest --test-dir build-asan -L 'unit|fuzz' -j2 --output-on-failure &&
    ctest --test-dir build-asan -L integration -E '^(multihost|monitoring|k8s): ' \
      --output-on-failure
}

tsan_build() {
  configure build-tsan thread -DPST_BUILD_BENCH=OFF &&
    cmake --build build-tsan --target pst_threaded_tests pst_scheduler
}
tsan_tests() {
  # Only pst_threaded_tests is built (tests/CMakeLists.txt, label "tsan").
  ctest --test-dir build-tsan -L tsan --output-on-failure
}

fuzz_all() {
  local targets=(envelope_fuzzer ps_request_fuzzer sparse_request_fuzzer
                 scheduler_request_fuzzer job_toml_fuzzer idx_fuzzer safetensors_fuzzer
                 records_fuzzer data_lines_fuzzer)
  local passed=0 fails=0
  for t in "${targets[@]}"; do
    local work="build-asan/fuzz/$t"
    rm -rf "$work" && mkdir -p "$work/corpus"
    # New inputs go to the scratch copy, never into the seeds in the tree.
    cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
    if build-asan/bin/"$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
         -print_final_stats=1 -dict=tests/fuzz/pst.dict -artifact_prefix="$work/" \
         "$work/corpus" >"$work/log" 2>&1; then
      passed=$((passed + 1))
      echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$') runs)"
    else
      fails=$((fails + 1))
      echo "fuzz: $t FAILED; input and log in $work/"
      grep -m1 -A30 -E '==ERROR|SUMMARY|fuzzer: ' "$work/log" | head -40
    fi
  done
  echo "fuzz: $passed passed, $fails failed"
  [ "$fails" -eq 0 ]
}

for stage in "${stages[@]}"; do
  case "$stage" in
    asan) timed "asan+ubsan build" asan_build && timed "asan+ubsan tests" asan_tests ;;
    tsan) timed "tsan build" tsan_build && timed "tsan unit tests" tsan_tests ;;
    fuzz) timed "fuzzing (${FUZZ_SECONDS} s per target)" fuzz_all ;;
    *) echo "ci_extra: unknown stage '$stage' (asan, tsan or fuzz)" >&2; exit 2 ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "ci_extra: FAILED: ${failed[*]}"
  exit 1
fi
echo "ci_extra: all stages passed"
