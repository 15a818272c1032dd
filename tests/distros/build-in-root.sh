#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds luod inside a Debian root file system with warnings as errors and runs its unit and
# D-Bus tests there (ctest labels luod, luoctl and model), or builds its Debian packages there
# and checks them with lintian.
#
#   tests/distros/build-in-root.sh SUITE SOURCE_DIR [--packages] [--keep WORK]
#
# SUITE is trixie (Debian 13), sid or bookworm (Debian 12). The root comes from
# tests/distros/rootfs-cache.sh with every build, test and packaging dependency installed
# once (the list below is part of the cache key). Each run works on an overlay of it, in its
# own mount and PID namespaces (nothing it mounts or starts outlives it), with a copy of the
# source (what git tracks, plus untracked files that are not ignored) bind-mounted read-only
# at /src. ccache in the root keeps its cache in LUOD_TEST_CACHE/ccache-SUITE, so a warm run
# recompiles nothing that did not change. Prints the test counts and how long each stage took.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
me=build-in-root
die() { echo "$me: $*" >&2; exit 1; }

(($# >= 2)) || die "usage: $0 SUITE SOURCE_DIR [--packages] [--keep WORK]"
suite=$1
src=$(cd "$2" && pwd)
shift 2
mode=tests
keep=
while (($#)); do
    case $1 in
        --packages) mode=packages ;;
        --keep) keep=$2; shift ;;
        *) die "unknown argument $1" ;;
    esac
    shift
done
[[ $(id -u) -eq 0 ]] || die "must run as root"

# The build dependencies (scripts/install-deps.sh's list and packaging/debian/control's), what
# the tests run (dbus-daemon, setpriv, ps), ccache, and the packaging tools. Catch2 3 is
# libcatch2-dev; Debian 12 has Catch2 2 as catch2. systemd.pc is in systemd-dev from 13 on.
packages=(cmake g++ make pkg-config python3 ccache
          libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
          libinih-dev dbus util-linux procps
          debhelper dpkg-dev fakeroot lintian systemd)
case $suite in
    bookworm) packages+=(catch2) ;;
    trixie|sid) packages+=(libcatch2-dev systemd-dev) ;;
    *) die "unknown suite '$suite' (bookworm, trixie, sid)" ;;
esac

t0=$SECONDS
root=$("$here/rootfs-cache.sh" "$suite" "${packages[@]}" | tail -n 1)
[[ -d $root ]] || die "no root for $suite"
t_root=$((SECONDS - t0))

work=${keep:-$(mktemp -d /var/tmp/luod-distros-$suite.XXXXXX)}
mkdir -p "$work"
[[ -n $keep ]] || trap 'rm -rf "$work"' EXIT
# The source copy: what git tracks plus untracked files that are not ignored (no build trees).
mkdir -p "$work/src"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && xargs -0 -r sh -c 'for f; do if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\0" "$f"; fi; done' sh) |
        tar -C "$src" --null -T - -cf - | tar -C "$work/src" -xf -
else
    tar -C "$src" --exclude='./build*' --exclude='./.git' -cf - . | tar -C "$work/src" -xf -
fi
ccache_dir=${LUOD_TEST_CACHE:-/var/cache/luod-test}/ccache-$suite
mkdir -p "$ccache_dir" "$work/upper" "$work/overlay-work" "$work/root"

# What runs inside the root (as root; the tests switch to nobody where they need another uid).
inner_tests='
set -euo pipefail
export CCACHE_DIR=/ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
ccache --max-size=2G >/dev/null
ccache --zero-stats >/dev/null
s=$SECONDS
cmake -S /src -B /build -DLUO_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLUO_BUILD_BENCH=OFF >/build.log 2>&1 ||
    { tail -40 /build.log; echo "configure failed"; exit 1; }
grep -E "^-- (sdbus-c\+\+|Catch2) " /build.log
cmake --build /build -j"$(nproc)" --target test-luod test-kernel-model test-luoctl-output test-update-records -- -k >>/build.log 2>&1 ||
    { grep -E "error|Error" /build.log | head -40; tail -20 /build.log; echo "build failed"; exit 1; }
echo "built in $((SECONDS - s)) s; ccache: $(ccache --print-stats 2>/dev/null | awk -F"\t" "/^direct_cache_hit|^preprocessed_cache_hit|^cache_miss/ { printf \"%s=%s \", \$1, \$2 }")"
s=$SECONDS
rc=0
(cd /build && ctest -L "^(luod|luoctl|model)\$" -j2 --timeout 300 --output-on-failure >/ctest.log 2>&1) || rc=$?
grep -E "tests passed|tests failed|Total Test time" /ctest.log
[[ $rc -eq 0 ]] || { grep -E "\*\*\*Failed|\*\*\*Timeout|Not Run|\*\*\*Exception" /ctest.log | head -30; tail -60 /ctest.log; }
echo "tests ran in $((SECONDS - s)) s"
exit $rc
'
inner_packages='
set -euo pipefail
cp -a /src /pkgsrc
s=$SECONDS
rc=0
DEB_BUILD_OPTIONS="noddebs parallel=$(nproc)" /pkgsrc/scripts/build-packages.sh /debs || rc=$?
echo "packages built and checked in $((SECONDS - s)) s"
exit $rc
'
[[ $mode == tests ]] && inner=$inner_tests || inner=$inner_packages

t1=$SECONDS
rc=0
# A private mount namespace (the overlay and every mount below die with it) and a PID
# namespace (every process the build or the tests start dies with its init).
unshare -m -p -f --propagation private bash -euo pipefail -c '
    root=$1 work=$2 ccache_dir=$3 inner=$4
    r=$work/root
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/overlay-work" "$r"
    mkdir -p "$r/src" "$r/ccache"
    mount --bind "$work/src" "$r/src"
    mount -o remount,bind,ro "$r/src"
    mount --bind "$ccache_dir" "$r/ccache"
    mount -t proc proc "$r/proc"
    mount -t sysfs -o ro sysfs "$r/sys"
    # The tests make cgroups of their own under the host'"'"'s cgroup2 hierarchy, as they do natively.
    unified=$(awk '"'"'$3 == "cgroup2" { print $2; exit }'"'"' /proc/self/mounts)
    if [[ -n $unified ]]; then
        mount -t tmpfs -o mode=755 tmpfs "$r/sys/fs/cgroup"
        mkdir "$r/sys/fs/cgroup/unified"
        mount --bind "$unified" "$r/sys/fs/cgroup/unified"
    fi
    mount --rbind /dev "$r/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
    mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
    mount -t tmpfs -o mode=755 tmpfs "$r/run"
    exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb bash -c "$inner"
' _ "$root" "$work" "$ccache_dir" "$inner" 2>&1 | sed "s/^/$suite: /" || rc=$?
t_run=$((SECONDS - t1))
echo "$suite: root ready in $t_root s, $mode in $t_run s, total $((SECONDS - t0)) s"
if [[ $mode == packages && $rc -eq 0 ]]; then
    ls "$work/upper/debs/"*.deb 2>/dev/null | sed "s|^|$suite: |"
fi
exit "$rc"
