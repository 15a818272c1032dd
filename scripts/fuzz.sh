#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (tests/fuzz, with clang) and runs them, each for a bounded
# time on a fresh copy of its seed corpus (the committed corpus never grows). Prints the
# executions of each target and exits non-zero on any crash, leak, timeout or OOM, keeping
# the input that caused it under <build dir>/runs/<target>/artifacts/.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--build-dir DIR] [TARGET...]
#   scripts/fuzz.sh --replay [TARGET...]     run the seeds and regression inputs once
#   scripts/fuzz.sh --build-only             configure and build, nothing else
#
# Exit status: 0 all good, 1 a target failed, 2 usage, 77 no clang (ctest counts it a failure).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/fuzz.sh [options] [TARGET...]
  --seconds N      fuzz each target for N seconds (default 60)
  --jobs J         fuzz up to J targets at the same time (default 1)
  --build-dir DIR  where to build and run (default build-fuzz/ in the source tree)
  --replay         no fuzzing: run every seed and regression input once
  --build-only     configure and build only
  --no-build       use the existing build as it is
  TARGET...        targets to run (default: all), e.g. handover manifest
Environment: LUO_FUZZ_CXX (clang++ to use), LUO_FUZZ_ARGS (extra libFuzzer flags).
EOF
}

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
jobs=1
build_dir="$root/build-fuzz"
mode=fuzz
build=1
targets=()

need_value() { [[ $# -ge 2 && -n $2 ]] || { echo "fuzz.sh: $1 needs a value" >&2; exit 2; }; }
while (($#)); do
  case $1 in
    --seconds) need_value "$@"; seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --jobs) need_value "$@"; jobs=$2; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    --build-dir) need_value "$@"; build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --replay) mode=replay; shift ;;
    --build-only) mode=build; shift ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds must be a positive integer" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --jobs must be a positive integer" >&2; exit 2; }
mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)

# --- build -------------------------------------------------------------------------------

find_cxx() {
  local c
  for c in ${LUO_FUZZ_CXX:-} clang++ clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

if ((build)); then
  if ! cxx=$(find_cxx); then
    echo "fuzz.sh: clang++ not found; install the test dependencies (scripts/install-deps.sh test)" >&2
    exit 77
  fi
  # One build at a time per build directory (ctest may start several runs at once).
  exec 9>"$build_dir/.lock"
  flock 9
  log="$build_dir/build.log"
  if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    if ! cmake -S "$root/tests/fuzz" -B "$build_dir" -DCMAKE_CXX_COMPILER="$cxx" >"$log" 2>&1; then
      cat "$log" >&2
      echo "fuzz.sh: configuring the fuzz tree failed" >&2
      exit 1
    fi
  fi
  start=$SECONDS
  if ! cmake --build "$build_dir" -j"$(nproc)" >"$log" 2>&1; then
    grep -E -A8 'error|Error' "$log" | head -80 >&2 || tail -40 "$log" >&2
    echo "fuzz.sh: building the fuzz targets failed (full log: $log)" >&2
    exit 1
  fi
  echo "fuzz.sh: fuzz targets built in $build_dir ($((SECONDS - start))s)"
  exec 9>&-  # releases the lock
fi
[[ $mode == build ]] && exit 0

list="$build_dir/fuzz-targets.txt"
[[ -f $list ]] || { echo "fuzz.sh: $build_dir is not a built fuzz tree" >&2; exit 1; }
declare -A max_len=()
known=()
while read -r name len; do
  [[ -n $name ]] || continue
  max_len[$name]=$len
  known+=("$name")
done <"$list"
((${#targets[@]})) || targets=("${known[@]}")
for t in "${targets[@]}"; do
  [[ -n ${max_len[$t]:-} ]] || { echo "fuzz.sh: unknown target '$t' (known: ${known[*]})" >&2; exit 2; }
done

# Sanitizer reports: full stacks, abort on the first error (UBSan included).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Per-input time limit: far above the slowest legitimate input, low enough to catch a hang.
per_input_timeout=25
read -r -a extra_args <<<"${LUO_FUZZ_ARGS:-}"

# Shows the interesting part of a failed run's log: from the first report line on.
show_failure() {
  local log=$1 line
  line=$(grep -n -m1 -E '==[0-9]+==ERROR|runtime error:|FUZZ CHECK FAILED|ALARM: working on the last Unit|out-of-memory|deadly signal' "$log" | cut -d: -f1) || true
  if [[ -n $line ]]; then
    sed -n "${line},$((line + 30))p" "$log" | cut -c1-300 >&2
  else
    tail -30 "$log" | cut -c1-300 >&2
  fi
}

# --- replay ------------------------------------------------------------------------------

if [[ $mode == replay ]]; then
  failed=0
  for t in "${targets[@]}"; do
    bin="$build_dir/fuzz_$t"
    inputs=()
    for dir in "$root/tests/fuzz/corpus/$t" "$root/tests/fuzz/regressions/$t"; do
      [[ -d $dir ]] || continue
      while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$dir" -type f ! -name '*.md' -print0 | sort -z)
    done
    bad=0
    mkdir -p "$build_dir/replay"
    for f in "${inputs[@]}"; do
      log="$build_dir/replay/$t-$(basename "$f").log"
      if "$bin" -timeout="$per_input_timeout" -rss_limit_mb=2048 "$f" >"$log" 2>&1; then
        rm -f "$log"
      else
        echo "FAIL  $t: ${f#"$root"/} (log: $log)" >&2
        show_failure "$log"
        echo "reproduce: $bin $f" >&2
        bad=$((bad + 1))
      fi
    done
    printf '%-16s %4d inputs replayed, %d failed\n' "$t" "${#inputs[@]}" "$bad"
    ((bad == 0)) || failed=1
  done
  exit "$failed"
fi

# --- fuzz --------------------------------------------------------------------------------

# Runs one target; leaves "<execs> <exec/s> <status>" in runs/<target>/summary.
fuzz_target() {
  local t=$1 work="$build_dir/runs/$1" bin="$build_dir/fuzz_$1"
  rm -rf "$work/corpus"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [[ -d $root/tests/fuzz/corpus/$t ]]; then
    cp -R "$root/tests/fuzz/corpus/$t/." "$work/corpus/"
  fi
  touch "$work/started"
  local log="$work/fuzz.log" rc=0
  "$bin" -max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb=2048 \
    -max_len="${max_len[$t]}" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "${extra_args[@]}" "$work/corpus" >"$log" 2>&1 || rc=$?
  local execs rate
  # "#123456  DONE  cov: ... exec/s: 1234 rss: ..." on a clean run; the final stats otherwise.
  execs=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -1)
  rate=$(sed -n 's/^#[0-9]*[[:space:]]*DONE.*exec\/s: \([0-9]*\).*/\1/p' "$log" | tail -1)
  [[ -n $execs ]] || execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -1)
  [[ -n $rate ]] || rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\)/\1/p' "$log" | tail -1)
  local status=ok
  ((rc == 0)) || status="FAILED(rc=$rc)"
  echo "${execs:-?} ${rate:-?} $status" >"$work/summary"
}

echo "fuzz.sh: ${#targets[@]} target(s), ${seconds}s each, $jobs at a time; runs in $build_dir/runs/"
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_target "$t" &
  running=$((running + 1))
done
wait || true

failed=0
printf '\n%-16s %12s %10s  %s\n' target execs exec/s result
for t in "${targets[@]}"; do
  work="$build_dir/runs/$t"
  read -r execs rate status <"$work/summary" || { execs='?' rate='?' status=FAILED; }
  printf '%-16s %12s %10s  %s\n' "$t" "$execs" "$rate" "$status"
done
for t in "${targets[@]}"; do
  work="$build_dir/runs/$t"
  read -r _ _ status <"$work/summary" || status=FAILED
  [[ $status == ok ]] && continue
  failed=1
  echo >&2
  echo "=== $t failed; log: $work/fuzz.log" >&2
  show_failure "$work/fuzz.log"
  while IFS= read -r -d '' a; do
    echo "kept input: $a" >&2
    echo "reproduce:  $build_dir/fuzz_$t $a" >&2
  done < <(find "$work/artifacts" -type f -newer "$work/started" -print0)
  echo "A product bug: add the input to tests/fuzz/regressions/$t/ with the fix." >&2
done
exit "$failed"
