#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A session nobody claims after a live update is released after UnclaimedTimeoutSec, and the
# memory the kernel kept for it is freed. Boot 1: a client preserves 64 MiB through luod,
# then a real kexec. Boot 2: no client; luod releases the session after 5 s.
. "$(dirname "$0")/scenario-lib.sh"
printf '[Update]\nUnclaimedTimeoutSec=5\n' >/run/unclaimed.conf
start_system_bus || exit 1
start_luod /run/unclaimed.conf || exit 1
case $boot in
1)
    luo-vmm-client --name vm1 --ram-mib 64 --ready-file /run/vm1.ready &
    i=0
    while [ ! -e /run/vm1.ready ]; do
        i=$((i + 1)); [ $i -gt 1200 ] && { fail "the VMM did not become ready"; exit 1; }
        sleep 0.1
    done
    luoctl load "$share/bzImage" --initrd "$share/initrd.img" --reuse-cmdline || fail "luoctl load failed"
    sync
    luoctl update --wait --timeout 120
    fail "luoctl update returned: no kexec happened"
    ;;
2)
    free_before=$(awk '/^MemFree:/ { print $2 }' /proc/meminfo)
    luoctl sessions
    luoctl sessions | grep -q vm1 || fail "luod does not hold the incoming session vm1"
    i=0
    while luoctl sessions | grep -q vm1; do
        i=$((i + 1)); [ $i -gt 600 ] && { fail "the unclaimed session was not released"; exit 1; }
        sleep 0.1
    done
    free_after=$(awk '/^MemFree:/ { print $2 }' /proc/meminfo)
    log "MemFree: $free_before kB before the release, $free_after kB after"
    grep -q "not claimed in time" "$share/luod-boot-2.log" || fail "luod logged no release"
    # 64 MiB and the state page, less whatever else moved meanwhile.
    [ $((free_after - free_before)) -ge 60000 ] || fail "the release freed only $((free_after - free_before)) kB"
    pass
    ;;
esac
