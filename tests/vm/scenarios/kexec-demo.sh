#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# examples/kexec-demo: boot 1 preserves a message and kexecs, boot 2 retrieves it and
# finishes. In the machine it is given the next kernel and initramfs; on the model it makes
# a model image itself. It must never write to /boot.
. "$(dirname "$0")/scenario-lib.sh"
root=${LUO_MODEL_ROOT:-/}
case $boot in
1)
    if [ -n "${LUO_NEXT_KERNEL:-}" ]; then
        record kexec-demo.stage1 luo-kexec-demo
    else
        record kexec-demo.stage1 luo-kexec-demo --kernel "$share/bzImage" --initrd "$share/initrd.img"
    fi
    fail "luo-kexec-demo returned in boot 1: no kexec happened"
    ;;
2)
    record kexec-demo.stage2 luo-kexec-demo || fail "luo-kexec-demo failed in boot 2"
    grep -q 'the memfd holds "hello from the previous kernel' "$results/kexec-demo.stage2.log" ||
        fail "the message did not come across"
    [ -s "$root/run/luo-kexec-demo.done" ] || fail "no $root/run/luo-kexec-demo.done"
    [ -e "$root/boot/vmlinuz-next" ] && fail "luo-kexec-demo wrote $root/boot/vmlinuz-next"
    pass
    ;;
esac
