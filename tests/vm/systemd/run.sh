#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The systemd VM test: the LUO kernel (luo-kernel.config, the same as every VM test's) boots a
# Debian root file system (tests/distros/rootfs-cache.sh SUITE) from a virtio disk with systemd as PID 1, no
# initramfs; scenario.sh runs at every boot as a unit and does two live updates (luoctl
# update, then a plain systemctl kexec). Passes when the scenario's verdict is PASS and the
# console (where systemd-shutdown logs its last steps) shows no lost fd.
#   run.sh --work DIR --build BUILD_DIR [--suite sid] [--timeout S] [--console]
#   run.sh --root-only [--suite sid]    only make (or find) the cached root file system
set -euo pipefail
vm_tag=systemd/run.sh
source "$(dirname "$0")/../lib.sh"

work= build= suite=sid timeout=1500 console=() root_only=
while (($#)); do
    case $1 in
        --root-only) root_only=1; shift ;;
        --work) work=$2; shift 2 ;;
        --build) build=$(realpath "$2"); shift 2 ;;
        --suite) suite=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --console) console=(--console); shift ;;
        *) echo "usage: $0 --work DIR --build BUILD_DIR [--suite sid] [--timeout S] [--console]" >&2; exit 2 ;;
    esac
done
here=$vm_dir/systemd
src=$(cd "$vm_dir/../.." && pwd)

# The root: systemd as PID 1 and a D-Bus daemon, from the shared rootfs cache (it must not
# be changed: the test works on a copy).
root_packages=(systemd systemd-sysv dbus procps)
rootfs=$("$src/tests/distros/rootfs-cache.sh" "$suite" "${root_packages[@]}" | tail -n 1)
[[ -d $rootfs/usr/lib/systemd ]] || fail "no root file system with systemd for $suite"
systemd_version=$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f '${Version}' systemd)
if [[ -n $root_only ]]; then
    say "root file system for $suite: $rootfs (systemd $systemd_version)"
    exit 0
fi
[[ -n $work && -n $build ]] || { echo "usage: $0 --work DIR --build BUILD_DIR" >&2; exit 2; }
kernel=$("$vm_dir/kernel.sh" kernel)/bzImage
rm -rf "$work"
mkdir -p "$work/share"
work=$(realpath "$work")
stage=$work/root
vm_cleanup_paths+=("$stage")

say "staging the root file system (systemd $systemd_version)"
cp -a "$rootfs" "$stage"
programs=(daemon/luod/luod daemon/luoctl/luoctl examples/vmm-client/luo-vmm-client tests/vm/luo-vm-unit)
mkdir -p "$stage/opt/luod/bin" "$stage/opt/luod/lib"
for p in "${programs[@]}"; do
    path=$build/$p
    [[ -x $path ]] || fail "$p is not built in $build"
    cp "$path" "$stage/opt/luod/bin/"
    # The host's libraries that the guest lacks (its glibc, libstdc++ and libsystemd are newer).
    ldd "$path" | awk '$3 ~ /^\// { print $3 }' | while read -r lib; do
        soname=${lib##*/}
        [[ -e $stage/usr/lib/x86_64-linux-gnu/$soname || -e $stage/lib/x86_64-linux-gnu/$soname ]] && continue
        cp -L "$lib" "$stage/opt/luod/lib/$soname"
    done
done
install -m 0755 "$here/scenario.sh" "$stage/opt/luod/scenario.sh"
cp "$kernel" "$stage/boot/vmlinuz-luo"
install -D -m 0644 "$src/dbus/org.luod.LiveUpdate1.conf" "$stage/usr/share/dbus-1/system.d/org.luod.LiveUpdate1.conf"
install -D -m 0644 "$src/units/luod.service" "$stage/etc/systemd/system/luod.service"
systemd_major=${systemd_version%%[.~-]*}
units=(luod luo-vm-vmm luo-vm-scenario)
# FileDescriptorStorePreserve= is 254's, fd stores cross a kexec from 261, LUOSession= is 262's.
if ((systemd_major >= 254)); then
    install -D -m 0644 "$src/units/extra/fd-store-preserve.conf" "$stage/etc/systemd/system/luod.service.d/fd-store-preserve.conf"
fi
# Below 261 a kexec must not stop luod (the orderly strategy).
if ((systemd_major < 261)); then
    install -D -m 0644 "$src/units/extra/orderly-kexec.conf" "$stage/etc/systemd/system/luod.service.d/orderly-kexec.conf"
fi
((systemd_major >= 261)) && units+=(luo-vm-fdstore)
((systemd_major >= 262)) && units+=(luo-vm-luosession)
for unit in "${units[@]:1}"; do cp "$here/units/$unit.service" "$stage/etc/systemd/system/"; done
install -D -m 0644 "$here/units/luod-vm.conf" "$stage/etc/systemd/system/luod.service.d/luod-vm.conf"
mkdir -p "$stage/etc/luod"
printf '[Update]\nStrategy=auto\n' >"$stage/etc/luod/luod.conf"
mkdir -p "$stage/etc/systemd/system/multi-user.target.wants"
for unit in "${units[@]}"; do
    ln -sf "/etc/systemd/system/$unit.service" "$stage/etc/systemd/system/multi-user.target.wants/$unit.service"
done
ln -sf /dev/null "$stage/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$stage/etc/systemd/system/getty@tty1.service"
echo luo-vm >"$stage/etc/hostname"
: >"$stage/etc/machine-id"

say "making the disk image"
truncate -s 2G "$work/disk.img"
mkfs.ext4 -q -F -L root -d "$stage" "$work/disk.img"
rm -rf "$stage"

say "booting (a console log with the host's seconds is in $work/console.log)"
started=$(date +%s)
set +e
"$vm_dir/boot.sh" --kernel "$kernel" --disk "$work/disk.img" --share "$work/share" --memory 1536 \
    --timeout "$timeout" --log "$work/console.log" "${console[@]}" \
    --append "root=/dev/vda rw init=/lib/systemd/systemd systemd.show_status=0 systemd.log_target=console"
rc=$?
set -e
say "QEMU ended with status $rc after $(( $(date +%s) - started )) s; boots: $(cat "$work/share/boot-count" 2>/dev/null || echo 0)"
grep -E "reboot: |kexec_core: Starting new kernel|KHO: |luo: |will be lost|LUO" "$work/console.log" | head -60 >&2 || true
# systemd-shutdown logs on the console, after the journal has stopped: any fd it could not
# preserve is a loss. (luod's manifest is not offered twice: it leaves luod's fd store for the
# kexec, docs/systemd.md.)
# One exception, reported but not a loss: a unit with LUOSession= that PID 1 starts while
# luod holds the device for a call gets EBUSY (systemd 262 does not try again) and fails to
# start; Restart= starts it again, and the scenario checks that it gets its session.
unit_busy='\.service: Failed to open /dev/liveupdate: Device or resource busy'
if grep -E "$unit_busy" "$work/console.log" >&2; then
    say "a LUOSession= unit's start met the device busy (see above); it was restarted"
fi
lost=$(grep -E "will be lost across kexec|Failed to (open|preserve|hand out|create|retrieve).*(LUO|liveupdate)" "$work/console.log" |
    grep -vE "$unit_busy" || true)
if [[ -n $lost ]]; then
    echo "$lost" >&2
    fail "the console says a preserved fd was lost"
fi
verdict=$(cat "$work/share/verdict" 2>/dev/null || echo "no verdict")
[[ $verdict == PASS ]] || fail "$verdict (see $work/share/boot-*.log and $work/console.log)"
say "PASS"
