#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The simulated machine's init for scripts/demo.sh, started by luo-kernel-model at every
# boot (LUO_MODEL_ROOT, LUO_MODEL_BOOT): the system bus, luod, and a VMM-like client that
# either starts fresh or restores its guest memory after a live update. The model ends all
# of it at the kexec, as a real kernel would.
set -u
root=$LUO_MODEL_ROOT
build=$LUO_DEMO_BUILD
echo "init: boot $LUO_MODEL_BOOT of the simulated machine"

rm -f "$root/run/dbus/system_bus_socket"
dbus-daemon --config-file="$root/etc/dbus-system.conf" --nofork --nopidfile 2>/dev/null &
for _ in $(seq 200); do [[ -S $root/run/dbus/system_bus_socket ]] && break; sleep 0.05; done

"$build/daemon/luod/luod" --root "$root" --config /dev/null &
for _ in $(seq 200); do "$build/daemon/luoctl/luoctl" status >/dev/null 2>&1 && break; sleep 0.05; done

"$build/examples/vmm-client/luo-vmm-client" --name demo-vm --ram-mib 64 &
wait
