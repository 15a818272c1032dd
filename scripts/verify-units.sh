#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The unit gates: every unit luod installs passes `systemd-analyze verify` with nothing on
# stderr (verify exits 0 even on unknown keys), and luod.service's offline security exposure
# stays at or below 3.0. Units are checked as installed: the build tree is installed into a
# scratch root next to the host's systemd units, so ExecStart= paths and dependencies resolve.
# Usage: scripts/verify-units.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
threshold=3.0
root=$(mktemp -d /tmp/luod-units.XXXXXX)
trap 'rm -rf "$root"' EXIT

DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
mkdir -p "$root$unitdir"
cp -n -a "$unitdir/." "$root$unitdir/"

mapfile -t units < <(cd "$root$unitdir" && ls luod*.service luod*.timer luo-kernel-model*.service 2>/dev/null)
if ((${#units[@]} == 0)); then
    echo "verify-units: no luod units were installed" >&2
    exit 1
fi
status=0
for unit in "${units[@]}"; do
    out=$(systemd-analyze verify --man=no --root="$root" "$unit" 2>&1) || true
    if [[ -n $out ]]; then
        echo "verify-units: $unit:" >&2
        echo "$out" >&2
        status=1
    else
        echo "verify-units: $unit: clean"
    fi
done
exposure=$(systemd-analyze security --offline=yes --root="$root" luod.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for luod.service: \([0-9.]*\).*/\1/p')
echo "verify-units: luod.service exposure $exposure (threshold $threshold)"
if [[ -z $exposure ]] || ! awk -v e="$exposure" -v t="$threshold" 'BEGIN { exit !(e <= t) }'; then
    echo "verify-units: luod.service exposure ${exposure:-unknown} is above $threshold" >&2
    status=1
fi
exit $status
