#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The systemd VM test: the LUO kernel (luo-kernel.config, the same as every VM test's) boots a
# Debian root file system (tests/distros/rootfs-cache.sh SUITE) from a virtio disk with systemd as PID 1, no
# initramfs; scenario.sh runs at every boot as a unit and does two live updates (luoctl
# update, then a plain systemctl kexec). Passes when the scenario's verdict is PASS and the
# console (where systemd-shutdown logs its last steps) shows no lost fd.
#   run.sh --work DIR --build BUILD_DIR [--suite sid] [--debs DEBS] [--timeout S] [--console]
#   run.sh --root-only [--suite sid] [--debs DEBS]   only make (or find) the cached root
# With --debs (CI: the packages of this run's build in the sid root, tests/distros), luod is
# the one of the package: luod and libluo1 are installed by dpkg in the root, whose package
# list then holds their runtime dependencies too (from the packages' Depends: a new root when
# they change); the package's units pass `systemd-analyze verify` there, and the machine runs
# the installed /usr/sbin/luod, luoctl and units. Only the test's own clients (luo-vmm-client,
# luo-vm-unit) come from BUILD_DIR. Without --debs, luod and luoctl are BUILD_DIR's (with the
# host libraries the guest lacks under /opt/luod), and the output says the package is not
# tested.
set -euo pipefail
vm_tag=systemd/run.sh
source "$(dirname "$0")/../lib.sh"

work= build= suite=sid timeout=1500 console=() root_only= debs=
while (($#)); do
    case $1 in
        --root-only) root_only=1; shift ;;
        --work) work=$2; shift 2 ;;
        --build) build=$(realpath "$2"); shift 2 ;;
        --suite) suite=$2; shift 2 ;;
        --debs) debs=$(realpath "$2"); shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --console) console=(--console); shift ;;
        *) echo "usage: $0 --work DIR --build BUILD_DIR [--suite sid] [--debs DEBS] [--timeout S] [--console]" >&2; exit 2 ;;
    esac
done
here=$vm_dir/systemd
src=$(cd "$vm_dir/../.." && pwd)

# The packages under test (--debs): luod and the libluo1 it depends on.
package_debs=()
if [[ -n $debs ]]; then
    for package in libluo1 luod; do
        found=("$debs/${package}"_*.deb)
        [[ -f ${found[0]} && ${#found[@]} -eq 1 ]] ||
            fail "not one ${package}_*.deb in $debs (the sid package build did not pass, or did not run)"
        package_debs+=("${found[0]}")
    done
fi
# Their runtime dependencies: the Depends of both, first alternatives, without versions, less
# the two themselves (each name once; apt in the root resolves what those need).
package_dependencies() {
    local deb
    for deb in "${package_debs[@]}"; do dpkg-deb -f "$deb" Depends; echo; done |
        tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g; /^$/d; /^(luod|libluo1)$/d' | LC_ALL=C sort -u
}

# The root: systemd as PID 1 and a D-Bus daemon, from the shared rootfs cache (it must not
# be changed: the test works on a copy).
root_packages=(systemd systemd-sysv dbus procps)
if ((${#package_debs[@]})); then
    mapfile -t root_packages < <(printf '%s\n' "${root_packages[@]}" $(package_dependencies) | LC_ALL=C sort -u)
fi
rootfs=$("$src/tests/distros/rootfs-cache.sh" "$suite" "${root_packages[@]}" | tail -n 1)
[[ -d $rootfs/usr/lib/systemd ]] || fail "no root file system with systemd for $suite"
systemd_version=$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f '${Version}' systemd)
if [[ -n $root_only ]]; then
    say "root file system for $suite: $rootfs (systemd $systemd_version; packages: ${root_packages[*]})"
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
systemd_major=${systemd_version%%[.~-]*}
mkdir -p "$stage/opt/luod/bin" "$stage/opt/luod/lib" "$stage/etc/systemd/system/multi-user.target.wants"

# in_stage COMMAND...: runs COMMAND in the staged root, with proc, dev and an empty run (so
# that no maintainer script takes it for a booted system) in a private mount namespace: they
# all go with it, whatever ends it.
in_stage() {
    unshare -m --propagation private bash -euo pipefail -c '
        stage=$1; shift
        mount -t proc proc "$stage/proc"
        mount --bind /dev "$stage/dev"
        mount -t tmpfs tmpfs "$stage/run"
        exec chroot "$stage" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    ' _ "$stage" "$@"
}

if ((${#package_debs[@]})); then
    # luod as packaged: dpkg installs it (its maintainer scripts enable luod.service), and
    # systemd of this root verifies each unit the package ships, before the machine boots.
    for deb in "${package_debs[@]}"; do
        say "installing $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) from $deb (sha256 $(sha256sum "$deb" | cut -c1-16))"
    done
    [[ -r $debs/BUILT ]] && say "those packages: $(paste -sd ';' "$debs/BUILT" | sed 's/;/; /g')"
    mkdir -p "$stage/tmp/luod-debs"
    cp "${package_debs[@]}" "$stage/tmp/luod-debs/"
    dpkg_output=$(in_stage sh -c 'dpkg -i /tmp/luod-debs/*.deb' 2>&1) || {
        echo "$dpkg_output" >&2
        fail "dpkg could not install the package in the $suite root (above)"
    }
    rm -rf "$stage/tmp/luod-debs"
    say "installed: $(in_stage dpkg-query -W -f '${Package} ${Version} (${Status}); ' luod libluo1)"
    [[ -x $stage/usr/sbin/luod ]] || fail "the luod package installed no /usr/sbin/luod"
    [[ -L $stage/etc/systemd/system/multi-user.target.wants/luod.service ]] ||
        fail "the luod package did not enable luod.service"
    mapfile -t package_units < <(in_stage dpkg-query -L luod | grep -E '^/usr/lib/systemd/system/[^/]+\.(service|socket|timer|path)$')
    ((${#package_units[@]})) || fail "the luod package ships no unit"
    say "systemd $systemd_version verifies the package's units: ${package_units[*]}"
    verify=$(in_stage systemd-analyze verify --man=no "${package_units[@]}" 2>&1) ||
        fail "systemd-analyze verify of the package's units failed: $verify"
    [[ -z $verify ]] || fail "systemd-analyze verify of the package's units says: $verify"
    echo /usr/sbin/luod >"$stage/opt/luod/luod-path"
    extras=$stage/usr/share/luod/systemd
    programs=(examples/vmm-client/luo-vmm-client tests/vm/luo-vm-unit)
else
    say "luod, luoctl and their units from $build and $src (not a package: no --debs; CI passes the sid build's when LUO_DISTRO_SUITES has sid)"
    install -D -m 0644 "$src/dbus/org.luod.LiveUpdate1.conf" "$stage/usr/share/dbus-1/system.d/org.luod.LiveUpdate1.conf"
    install -D -m 0644 "$src/units/luod.service" "$stage/etc/systemd/system/luod.service"
    ln -sf /etc/systemd/system/luod.service "$stage/etc/systemd/system/multi-user.target.wants/luod.service"
    install -D -m 0644 "$here/units/luod-vm.conf" "$stage/etc/systemd/system/luod.service.d/luod-vm.conf"
    # The scenario runs this luoctl, which needs the host's libraries too.
    install -D -m 0644 /dev/stdin "$stage/etc/systemd/system/luo-vm-scenario.service.d/luod-vm.conf" <<'UNIT'
[Service]
Environment=LD_LIBRARY_PATH=/opt/luod/lib
UNIT
    echo /opt/luod/bin/luod >"$stage/opt/luod/luod-path"
    mkdir -p "$stage/etc/luod"
    printf '[Update]\nStrategy=auto\n' >"$stage/etc/luod/luod.conf"
    extras=$src/units/extra
    programs=(daemon/luod/luod daemon/luoctl/luoctl examples/vmm-client/luo-vmm-client tests/vm/luo-vm-unit)
fi
for p in "${programs[@]}"; do
    path=$build/$p
    [[ -x $path ]] || fail "$p is not built in $build"
    cp "$path" "$stage/opt/luod/bin/"
    # The host's libraries that the guest lacks (its glibc, libstdc++ and libsystemd are
    # newer), and always the build tree's own (libluo: a packaged one is built against the
    # guest's sdbus-c++, these programs against the host's).
    ldd "$path" | awk '$3 ~ /^\// { print $3 }' | while read -r lib; do
        soname=${lib##*/}
        if [[ $lib != "$build"/* ]]; then
            [[ -e $stage/usr/lib/x86_64-linux-gnu/$soname || -e $stage/lib/x86_64-linux-gnu/$soname ]] && continue
        fi
        cp -L "$lib" "$stage/opt/luod/lib/$soname"
    done
done
install -m 0755 "$here/scenario.sh" "$stage/opt/luod/scenario.sh"
cp "$kernel" "$stage/boot/vmlinuz-luo"
units=(luo-vm-vmm luo-vm-scenario)
# FileDescriptorStorePreserve= is 254's, fd stores cross a kexec from 261, LUOSession= is 262's.
if ((systemd_major >= 254)); then
    install -D -m 0644 "$extras/fd-store-preserve.conf" "$stage/etc/systemd/system/luod.service.d/fd-store-preserve.conf"
fi
# Below 261 a kexec must not stop luod (the orderly strategy).
if ((systemd_major < 261)); then
    install -D -m 0644 "$extras/orderly-kexec.conf" "$stage/etc/systemd/system/luod.service.d/orderly-kexec.conf"
fi
((systemd_major >= 261)) && units+=(luo-vm-fdstore)
((systemd_major >= 262)) && units+=(luo-vm-luosession)
for unit in "${units[@]}"; do cp "$here/units/$unit.service" "$stage/etc/systemd/system/"; done
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
