#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The differential conformance scenario (tests/conformance): luo-conformance stage 1, which
# ends with a kexec while it holds its sessions, then stage 2 in the next boot. The outputs
# are results/conformance.stage<N>.log in the share. The same script runs on the model.
. "$(dirname "$0")/scenario-lib.sh"
case $boot in
1)
    if [ -n "${LUO_NEXT_KERNEL:-}" ]; then
        record conformance.stage1 luo-conformance stage1 --kexec "$LUO_NEXT_KERNEL" - "$LUO_NEXT_CMDLINE"
    else
        record conformance.stage1 luo-conformance stage1 --kexec "$share/bzImage" "$share/initrd.img" "$(cat /proc/cmdline)"
    fi
    fail "stage 1 returned: the kexec did not happen"
    ;;
2)
    record conformance.stage2 luo-conformance stage2
    pass
    ;;
*)
    fail "unexpected boot $boot"
    ;;
esac
