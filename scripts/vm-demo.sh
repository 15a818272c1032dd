#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo on a real kernel (README "On a real LUO kernel"): installs what is needed, builds, and shows a live update on
# a real LUO kernel in a QEMU virtual machine, on any Debian machine (no KVM, no LUO kernel
# needed). The kernel is Linux 7.2 from Debian sid's linux-source-7.2, downloaded (never
# installed) and built once into /var/cache/luod-test: the first run takes a while, later
# runs reuse it. In the machine luod holds a VMM-like client's 256 MiB of guest RAM; luoctl
# loads the next kernel, checks and updates twice in a row: real kexecs, and each time the
# client gets its RAM back with its checksum intact.
#   scripts/vm-demo.sh [--build-dir DIR] [--work DIR]
# --build-dir uses a build tree as it is (no dependency install, no build; CI's ctest does
# this); --work keeps the run's files (console log, share) in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build= work=
while (($#)); do
    case $1 in
        --build-dir) build=$(realpath "$2"); shift 2 ;;
        --work) work=$2; shift 2 ;;
        *) echo "usage: scripts/vm-demo.sh [--build-dir DIR] [--work DIR]" >&2; exit 2 ;;
    esac
done
if [[ -z $build ]]; then
    scripts/install-deps.sh test
    scripts/build.sh
    build=$PWD/build
fi
if [[ -z $work ]]; then
    work=$(mktemp -d /tmp/luo-vm-demo.XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi

echo "vm-demo: the LUO kernel (built on the first run: about 11 minutes on two idle cores)"
tests/vm/kernel.sh kernel >/dev/null
echo "vm-demo: booting it in QEMU; luod, a 256 MiB client and two live updates follow"
# "quiet": the kernel's own messages only from warnings up; the scenario shows LUO's.
tests/vm/run.sh --work "$work" --build "$build" --timeout 900 --memory 1536 --append quiet --console \
    tests/vm/scenarios/luod.sh
echo
echo "vm-demo: done: two real live updates, the client's RAM restored and verified each time"
