#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One stage of an upstream selftest, as recorded by a run of tests/vm/scenarios/selftests.sh
# (in QEMU or on the model): its output, and whether it passed.
#   check-stage.sh RESULTS_DIR NAME     e.g. NAME = liveupdate, luo_kexec_simple.stage2
# liveupdate passes with status 0 and every test passed (none skipped); a stage 1 with
# status 0 and its "kexec reboot" message; a stage 2 with status 0 and "TEST PASSED".
set -euo pipefail
results=$1 name=$2
log=$results/$name.log
[[ -f $log ]] || { echo "check-stage: $name did not run (no $log): see the run's log" >&2; exit 1; }
cat "$log"
rc=$(cat "$results/$name.rc" 2>/dev/null || echo "none")
[[ $rc == 0 ]] || { echo "check-stage: $name exited with status $rc" >&2; exit 1; }
case $name in
    liveupdate)
        grep -Eq '^# Totals: pass:[1-9][0-9]* fail:0 xfail:0 xpass:0 skip:0 error:0' "$log" ||
            { echo "check-stage: not every liveupdate test passed" >&2; exit 1; } ;;
    *.stage1)
        grep -q 'You may now perform kexec reboot' "$log" || { echo "check-stage: stage 1 did not finish" >&2; exit 1; } ;;
    *.stage2)
        grep -q 'TEST PASSED' "$log" || { echo "check-stage: stage 2 did not pass" >&2; exit 1; } ;;
esac
echo "check-stage: $name passed"
