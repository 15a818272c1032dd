#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The upstream selftests (tools/testing/selftests/liveupdate of the same source) on the real
# kernel. Boot 1: liveupdate, then stage 1 of each kexec test (each leaves a child holding
# its sessions), then a kexec with all of them held. Boot 2: stage 2 of each kexec test.
# Every stage's status and output are in results/<test>.stage<N>.{rc,log} in the share.
# The same script runs on the model (run.sh --model).
. "$(dirname "$0")/scenario-lib.sh"
kexec_tests="luo_kexec_simple luo_multi_session luo_stress_sessions luo_stress_files"
case $boot in
1)
    record liveupdate "$selftests/liveupdate"
    for t in $kexec_tests; do record "$t.stage1" "$selftests/$t" --stage 1; done
    kexec_again
    ;;
2)
    for t in $kexec_tests; do record "$t.stage2" "$selftests/$t" --stage 2; done
    pass
    ;;
*)
    fail "unexpected boot $boot"
    ;;
esac
