#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start, main job: installs what is needed, builds, and runs a live update on the
# kernel model that you can watch. luo-kernel-model plays the kernel; at every boot its
# init (demo-machine-init.sh) starts the machine's D-Bus system bus, luod and a VMM-like
# client holding 64 MiB of guest memory. From outside, luoctl loads the next kernel,
# checks, runs the update and prints luod's report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
scripts/build.sh

root=$(mktemp -d /tmp/luo-demo.XXXXXX)
mkdir -p "$root/etc" "$root/run/dbus"
# The machine's system bus: deny by default, plus luod's own policy.
sed -e "s|@SOCKET@|$root/run/dbus/system_bus_socket|" -e "s|@POLICY@|$PWD/dbus/org.luod.LiveUpdate1.conf|" \
    dbus/private-system-bus.conf.in > "$root/etc/dbus-system.conf"
export LUO_DEMO_BUILD="$PWD/build"
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$root/run/dbus/system_bus_socket"

build/kernel/luo-kernel-model --root "$root" --init "$PWD/scripts/demo-machine-init.sh" &
model=$!
cleanup() {
    kill "$model" 2>/dev/null || true
    wait "$model" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT

luoctl() { build/daemon/luoctl/luoctl "$@"; }
step() { printf '\n==== %s\n' "$*"; }
# The VMM says where it stands in $ready (see demo-machine-init.sh). Waits until the file
# starts with WORD; stops the demo at once when the VMM failed. Up to 120 s: the demo must
# also work on a slow, busy machine.
ready=$root/run/vmm-ready
wait_for_vmm() {
    local word=$1 line
    for _ in $(seq 1200); do
        line=$(cat "$ready" 2>/dev/null || true)
        case $line in
            "$word"*) return 0 ;;
            failed*) echo "demo: the VMM failed: ${line#failed }" >&2; exit 1 ;;
        esac
        sleep 0.1
    done
    echo "demo: timed out waiting for the VMM to be $word (it says: ${line:-nothing})" >&2
    exit 1
}

wait_for_vmm ready
step "boot 1: luod holds the VMM's session"
luoctl status
luoctl session demo-vm

printf 'LUO-KERNEL-MODEL-IMAGE\nprofile=7.2\nrelease=7.2.1-luo-model\n' > "$root/vmlinuz-next"
step "load the next kernel"
luoctl load "$root/vmlinuz-next"
step "pre-flight checks"
luoctl check
step "live update: the VMM quiesces, luod reboots into the next kernel, everything starts again"
luoctl update --wait
step "boot 2: the VMM got its memory back and finished its session"
wait_for_vmm restored
echo "the VMM says: $(cat "$ready")"
for _ in $(seq 1200); do
    luoctl --json status | grep -q '"state": "idle"' && break
    sleep 0.1
done
luoctl status
luoctl report
luoctl --json report | grep -q '"result": "success"' || { echo "demo: the update did not succeed" >&2; exit 1; }
echo
echo "demo: done"
