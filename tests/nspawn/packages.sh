#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian packages under a real systemd: in a booted Debian 12 container (see lib.sh),
#   1. dpkg -i of luod, libluo1, libluo-dev and luo-kernel-model: luod and the model are
#      enabled and active, luod runs on the model, the metrics timer stays opt-in;
#   2. installing again (an upgrade) restarts luod without stopping it first: a session
#      survives through the fd store, and the model keeps running;
#   3. stop and start;
#   4. purge leaves no file, no unit link and no deb-systemd-helper state behind.
# Usage: tests/nspawn/packages.sh [--build] DEB_DIR [SOURCE_DIR]
# DEB_DIR holds the .debs of scripts/build-packages.sh; with --build that script makes them
# there first (binary packages only, checked by lintian).
set -euo pipefail
build_debs=false
if [[ ${1:-} == --build ]]; then build_debs=true; shift; fi
debs=${1:?usage: packages.sh [--build] DEB_DIR [SOURCE_DIR]}
src=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
test_name=packages-test
source "$src/tests/nspawn/lib.sh"
if $build_debs; then
    say "building the packages into $debs"
    "$src/scripts/build-packages.sh" --binary-only "$debs" >"$work/build-packages.log" 2>&1 ||
        { tail -n 60 "$work/build-packages.log" >&2; fail "scripts/build-packages.sh failed"; }
    say "$(grep 'built in' "$work/build-packages.log" | sed 's/^build-packages: //')"
fi
debs=$(cd "$debs" && pwd)

packages=(luod libluo1 libluo-dev luo-kernel-model)
files=()
for p in "${packages[@]}"; do
    f=$(ls "$debs/${p}_"*.deb 2>/dev/null | head -1)
    [[ -n $f ]] || fail "no ${p}_*.deb in $debs"
    files+=("$f")
done
prepare_rootfs
mkdir -p "$rootfs/var/cache/luod-debs"
cp "${files[@]}" "$rootfs/var/cache/luod-debs/"
make_cgroups
boot_container
say "container booted: systemd $(in_container systemctl --version | awk 'NR == 1 { print $2 }')"
wait_for "the container to finish booting" bash -c \
    "[[ \$(nsenter -t $leader -a systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]"
before=$(in_container find / -xdev \( -path /proc -o -path /sys -o -path /run -o -path /var/cache/luod-debs \
    -o -path /var/log -o -path /tmp -o -path /var/tmp \) -prune -o -print | sort)

# --- 1. install ---
in_container sh -c 'dpkg -i /var/cache/luod-debs/*.deb' >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "dpkg -i failed"; }
for unit in luod.service luo-kernel-model.service; do
    [[ $(in_container systemctl is-enabled "$unit") == enabled ]] || fail "$unit is not enabled"
    wait_for "$unit to be active" in_container systemctl is-active --quiet "$unit"
done
[[ $(in_container systemctl is-enabled luod-metrics.timer || true) == disabled ]] ||
    fail "luod-metrics.timer is not left disabled"
in_container systemctl is-active --quiet luod-metrics.timer && fail "luod-metrics.timer was started"
status=$(in_container luoctl status --json)
[[ $status == *'"backend": "model"'* ]] || fail "luod is not on the model: $status"
say "1. installed: luod.service and luo-kernel-model.service enabled and active, luod on the model," \
    "the metrics timer left disabled"

# --- 2. install again: an upgrade restarts luod and keeps its sessions ---
in_container busctl --system call org.luod.LiveUpdate1 /org/luod/LiveUpdate1 org.luod.LiveUpdate1.Manager \
    CreateSession sa{sv} upgrade-check 0 >/dev/null || fail "CreateSession failed"
luod_pid=$(in_container systemctl show -p MainPID --value luod.service)
model_pid=$(in_container systemctl show -p MainPID --value luo-kernel-model.service)
in_container sh -c 'dpkg -i /var/cache/luod-debs/*.deb' >"$work/upgrade.log" 2>&1 ||
    { cat "$work/upgrade.log" >&2; fail "the second dpkg -i failed"; }
wait_for "luod to be active after the upgrade" in_container systemctl is-active --quiet luod.service
new_pid=$(in_container systemctl show -p MainPID --value luod.service)
[[ $new_pid != "$luod_pid" ]] || fail "the upgrade did not restart luod"
[[ $(in_container systemctl show -p MainPID --value luo-kernel-model.service) == "$model_pid" ]] ||
    fail "the upgrade restarted the model (it holds the sessions like a kernel)"
in_container luoctl session upgrade-check >/dev/null || fail "the session did not survive the upgrade"
say "2. installed again: luod restarted (pid $luod_pid -> $new_pid) and kept the session, the model kept running"

# --- 3. stop and start ---
in_container systemctl stop luod.service
in_container systemctl is-active --quiet luod.service && fail "luod is still active after stop"
in_container systemctl start luod.service
wait_for "luod to be active after start" in_container systemctl is-active --quiet luod.service
in_container luoctl status >/dev/null || fail "luoctl status failed after start"
say "3. stop and start"

# --- 4. purge ---
in_container dpkg --purge "${packages[@]}" >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
in_container systemctl is-active --quiet luod.service && fail "luod still runs after the purge"
in_container systemctl is-active --quiet luo-kernel-model.service && fail "the model still runs after the purge"
in_container systemctl daemon-reload
after=$(in_container find / -xdev \( -path /proc -o -path /sys -o -path /run -o -path /var/cache/luod-debs \
    -o -path /var/log -o -path /tmp -o -path /var/tmp \) -prune -o -print | sort)
left=$(comm -13 <(echo "$before") <(echo "$after") |
    grep -v -e '^/var/lib/dpkg/' -e '^/var/cache/debconf/' -e '^/var/lib/systemd/' -e '^/etc/ld.so.cache$' || true)
# (/.luod-rootfs-complete is the rootfs cache's own marker, there before the install.)
stray=$(echo "$after" | grep -v -x -F /.luod-rootfs-complete |
    grep -i -e 'luod' -e 'luo-kernel-model' -e 'libluo' -e 'LiveUpdate1' || true)
[[ -z $left && -z $stray ]] || fail "the purge left behind:
$left
$stray"
say "4. purged: no file, unit link or deb-systemd-helper state left"

poweroff_container
say "passed"
