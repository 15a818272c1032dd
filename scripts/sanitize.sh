#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Memory and undefined-behaviour checks of the end-to-end tests, each clean or failing:
#   asan      builds build-asan/ with AddressSanitizer+UBSan (LUO_SANITIZE=ON) and runs the
#             luod, luoctl and kernel-model test suites there: luod, the model, luoctl, the examples
#             and the tests themselves all instrumented.
#   valgrind  runs the update tests (create, preserve, load, update, kexec, restore,
#             retrieve) of the normal build in build/ with luod under valgrind memcheck, but
#             those tagged [scale]: hundreds of sessions each, they measure sizes, and under
#             memcheck a single call of theirs can outlast D-Bus's 25 s timeout.
# Every report of every process goes to a log directory; any report, leaks included (minus
# tests/sanitizers/*.supp, each entry explained), is a failure. Prints what ran and found.
#   scripts/sanitize.sh [asan|valgrind|all] [--jobs N]      (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=all
jobs=$(( $(nproc) * 2 ))
while (($#)); do
    case $1 in
        asan | valgrind | all) mode=$1; shift ;;
        --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
        -h | --help) sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "sanitize.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
say() { echo "sanitize: $*"; }

# Reports every log in $1 with a finding: sanitizers and valgrind --quiet write only findings,
# except valgrind's own notes ("--pid-- ", e.g. that it does not know openat2, which luod
# then replaces by open), which are not reports about the program.
findings() {
    local logs=$1 found=0 f
    for f in "$logs"/*; do
        grep -qv '^--[0-9]*-- ' "$f" 2>/dev/null || continue
        found=$((found + 1))
        echo "--- $f" >&2
        grep -v '^--[0-9]*-- ' "$f" | head -n 40 >&2
    done
    return "$found"
}

run_asan() {
    local build=${LUO_ASAN_BUILD_DIR:-$root/build-asan}
    local logs
    logs=$(mktemp -d /tmp/luod-asan-logs.XXXXXX)
    say "asan: building $build (AddressSanitizer + UndefinedBehaviorSanitizer)"
    # -O1 -g1: instrumented code at -O2 with full debug info takes several times as long to
    # compile, and -O1 keeps the reports' stacks exact. Warnings are not errors here: GCC's
    # flow warnings see through the instrumentation wrongly (-Wmaybe-uninitialized in
    # libstdc++'s <regex>); the normal build keeps -Werror.
    # (Each step checks its own status: set -e does not apply in a function called with ||.)
    cmake -S "$root" -B "$build" -DLUO_SANITIZE=ON -DLUO_WERROR=OFF -DLUO_BUILD_BENCH=OFF \
        -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" >/dev/null || return 1
    cmake --build "$build" -j"$(nproc)" --target test-luod test-luod-adversary test-luod-dbus-fuzz test-kernel-model test-luoctl-output luod luoctl luo-kernel-model luo-model-preload \
        luo-cache-service luo-vmm-client luo-kexec-demo >"$logs.build" 2>&1 ||
        { grep -E 'error|Error' "$logs.build" | head -20 >&2; say "asan: the build failed (log: $logs.build)"; return 1; }
    say "asan: running the luod and kernel-model suites"
    local status=0
    # Reports go to files (one per process), so a report from a daemon killed by a test or
    # from a child that exits quietly is still seen. UBSan stops at the first finding.
    ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1" \
    UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1" \
    LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0" \
        ctest --test-dir "$build" -L '^(luod|model|luoctl)$' -j"$jobs" --timeout 900 \
            --output-on-failure >"$logs.ctest" 2>&1 || status=$?
    local ran
    ran=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$logs.ctest" | grep -Eo '[0-9]+$' || echo "?")
    if ((status != 0)); then
        grep -E 'tests? failed|\*\*\*Failed|Not Run' "$logs.ctest" >&2 || tail -40 "$logs.ctest" >&2
        say "asan: the test run failed (log: $logs.ctest)"
        return 1
    fi
    local n=0
    findings "$logs" || n=$?
    say "asan: $ran tests passed; $n processes reported findings"
    ((n == 0)) || return 1
    rm -rf "$logs" "$logs.ctest" "$logs.build"
}

run_valgrind() {
    local build=${LUO_BUILD_DIR:-$root/build}
    command -v valgrind >/dev/null || { echo "sanitize: valgrind is missing (scripts/install-deps.sh test)" >&2; return 1; }
    [[ -x $build/tests/test-luod ]] || { echo "sanitize: no $build/tests/test-luod: run scripts/build.sh" >&2; return 1; }
    local logs
    logs=$(mktemp -d /tmp/luod-valgrind-logs.XXXXXX)
    say "valgrind: the update tests with luod under memcheck"
    local status=0
    LUO_TEST_LUOD_WRAPPER="$(command -v valgrind) --quiet --tool=memcheck --error-limit=no --leak-check=full \
--show-leak-kinds=definite --errors-for-leak-kinds=definite --track-origins=yes \
--suppressions=$root/tests/sanitizers/valgrind.supp --log-file=$logs/luod.%p" \
        "$build/tests/test-luod" "[update]~[scale]" >"$logs.out" 2>&1 || status=$?
    local summary
    summary=$(grep -E '^(All tests passed|test cases:)' "$logs.out" | tail -1)
    if ((status != 0)); then
        grep -B2 -A12 -E 'FAILED|failed' "$logs.out" | head -80 >&2
        say "valgrind: the test run failed (log: $logs.out)"
        return 1
    fi
    local started n=0
    started=$(find "$logs" -name 'luod.*' | wc -l)
    findings "$logs" || n=$?
    say "valgrind: $summary; luod ran $started times under memcheck; $n reported errors or definite leaks"
    ((n == 0)) || return 1
    rm -rf "$logs" "$logs.out"
}

rc=0
case $mode in
    asan) run_asan || rc=1 ;;
    valgrind) run_valgrind || rc=1 ;;
    all) run_asan || rc=1; run_valgrind || rc=1 ;;
esac
exit $rc
