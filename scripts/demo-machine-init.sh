#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The simulated machine's init for scripts/demo.sh, started by luo-kernel-model at every
# boot (LUO_MODEL_ROOT, LUO_MODEL_BOOT): the system bus, luod, and a VMM-like client that
# either starts fresh or restores its guest memory after a live update. The model ends all
# of it at the kexec, as a real kernel would.
#
# The VMM reports through $root/run/vmm-ready: "ready" once its new guest is preserved,
# "restored <checksum>" once a guest that came across is verified and preserved again. If
# it fails, this init writes "failed <status>" there, so that the demo stops at once.
set -u
root=$LUO_MODEL_ROOT
build=$LUO_DEMO_BUILD
echo "init: boot $LUO_MODEL_BOOT of the simulated machine"

wait_up() {  # wait_up WHAT COMMAND...: up to 120 s, however loaded the machine is
    local what=$1; shift
    for _ in $(seq 1200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "init: $what did not come up" >&2
    echo "failed $what did not come up" >"$root/run/vmm-ready"
    return 1
}

rm -f "$root/run/dbus/system_bus_socket"
dbus-daemon --config-file="$root/etc/dbus-system.conf" --nofork --nopidfile 2>/dev/null &
wait_up "the system bus" test -S "$root/run/dbus/system_bus_socket" || exit 1

"$build/daemon/luod/luod" --root "$root" --config /dev/null &
wait_up "luod" "$build/daemon/luoctl/luoctl" status || exit 1

"$build/examples/vmm-client/luo-vmm-client" --name demo-vm --ram-mib 64 --ready-file "$root/run/vmm-ready"
status=$?
# Killed by a signal (the kexec ends this machine's userspace): not a failure of the VMM.
if ((status != 0 && status < 128)); then
    echo "failed luo-vmm-client exited with status $status" >"$root/run/vmm-ready"
fi
wait
