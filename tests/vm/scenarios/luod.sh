#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# luod on the real /dev/liveupdate, with a private system bus, does two live updates in a
# row for a VMM-like client holding 256 MiB (LUOD_VM_RAM_MIB) of guest RAM through D-Bus:
# luoctl load + check + update --wait, a real kexec, luod restores, the client gets its RAM
# back and checks its checksum, finishes, and preserves it again. Boot 3 ends the run.
# scripts/vm-demo.sh runs this scenario and shows it.
. "$(dirname "$0")/scenario-lib.sh"
ram=${LUOD_VM_RAM_MIB:-256}
updates=${LUOD_VM_UPDATES:-2}

step() { echo; echo "==== boot $boot: $*"; }
show() { echo "\$ $*"; "$@"; }

start_system_bus || exit 1
start_luod || exit 1
rm -f /run/vm1.ready
luo-vmm-client --name vm1 --ram-mib "$ram" --ready-file /run/vm1.ready 2>&1 | tee "$share/vmm-boot-$boot.log" &
i=0
while [ ! -e /run/vm1.ready ]; do
    i=$((i + 1))
    if [ $i -gt 1200 ]; then fail "the VMM did not become ready in boot $boot"; exit 1; fi
    sleep 0.1
done
ready=$(cat /run/vm1.ready)

if [ "$boot" -gt 1 ]; then
    step "after live update #$((boot - 1)): luod restored its sessions, the VMM its RAM"
    echo "the kernel:"
    dmesg | grep -E "KHO: |luo: " | sed 's/^/    /' 
    case $ready in
        restored*) log "the VMM restored its guest RAM, checksum verified (${ready#restored })" ;;
        *) fail "the VMM did not restore its guest in boot $boot: $ready" ;;
    esac
    grep -q "checksum .* OK" "$share/vmm-boot-$boot.log" || fail "no verified checksum in boot $boot"
    grep -q "generation $((boot - 1))" "$share/vmm-boot-$boot.log" || fail "the guest's generation is not $((boot - 1))"
    show luoctl report
    luoctl report | grep -q "Result: *success" || fail "luoctl report shows no success after update #$((boot - 1))"
    luoctl status | grep -q "Live updates: *$((boot - 1))" || fail "luod does not count $((boot - 1)) live updates"
fi
show luoctl status
show luoctl session vm1

if [ "$boot" -gt "$updates" ]; then
    pass
    log "verdict: $(cat "$share/verdict")"
    exit 0
fi

step "live update #$boot: load the next kernel, check, update"
show luoctl load "$share/bzImage" --initrd "$share/initrd.img" --reuse-cmdline || fail "luoctl load failed"
show luoctl check || fail "luoctl check failed"
sync
show luoctl update --wait --timeout 120
fail "luoctl update returned: no kexec happened (status $?)"
show luoctl report
