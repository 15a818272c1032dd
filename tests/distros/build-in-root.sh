#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds luod's Debian packages inside a Debian root file system, in one build that is also
# the test build: warnings as errors, the luod, luoctl and model tests run in dh_auto_test
# (build profile pkg.luod.roottests, packaging/debian/rules), then lintian on the packages
# and a check that they depend on that distribution's sdbus-c++ library.
#
#   tests/distros/build-in-root.sh SUITE SOURCE_DIR [--keep WORK] [--debs DIR]
#   tests/distros/build-in-root.sh SUITE --root-only
#
# SUITE is trixie (Debian 13), sid or bookworm (Debian 12). The root comes from
# tests/distros/rootfs-cache.sh with every build, test and packaging dependency installed
# once (the list below is part of the cache key). Each run works on an overlay of it, in its
# own mount and PID namespaces (nothing it mounts or starts outlives it), with a copy of the
# source (what git tracks, plus untracked files that are not ignored) bind-mounted read-only
# at /src. ccache in the root keeps its cache in LUOD_TEST_CACHE/ccache-SUITE and the build
# always happens at the same path, so a warm run recompiles nothing that did not change.
# Prints the library versions, the test counts, lintian's findings and how long each stage
# took; --keep WORK leaves the overlay (the packages are in WORK/upper/debs). --debs DIR hands
# the packages on (the systemd 262 VM test installs sid's): DIR is emptied first, so a failed
# build leaves none, and filled only when everything passed, with a note of what was built
# (DIR/BUILT: suite, source commit, time). --root-only makes
# (or finds) the cached root and prints its path: the download is mostly waiting on the
# network, so ctest runs it as a fixture of its own, early and next to other tests.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
me=build-in-root
die() { echo "$me: $*" >&2; exit 1; }

(($# >= 2)) || die "usage: $0 SUITE SOURCE_DIR [--keep WORK] [--debs DIR] | $0 SUITE --root-only"
suite=$1
root_only=false
if [[ $2 == --root-only ]]; then
    root_only=true
else
    src=$(cd "$2" && pwd)
fi
shift 2
keep= debs_out=
while (($#)); do
    case $1 in
        --keep) keep=$2; shift ;;
        --debs) debs_out=$2; shift ;;
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
# The sdbus-c++ library the packages must depend on there (its soname's package).
case $suite in
    bookworm) packages+=(catch2); sdbus_library=libsdbus-c++1 ;;
    trixie|sid) packages+=(libcatch2-dev systemd-dev); sdbus_library=libsdbus-c++2 ;;
    *) die "unknown suite '$suite' (bookworm, trixie, sid)" ;;
esac

# The packages of an earlier run must never stand for this one's.
if [[ -n $debs_out ]]; then
    rm -rf "$debs_out" "$debs_out.tmp"
fi

t0=$SECONDS
root=$("$here/rootfs-cache.sh" "$suite" "${packages[@]}" | tail -n 1)
[[ -d $root ]] || die "no root for $suite"
t_root=$((SECONDS - t0))
if $root_only; then
    echo "$suite: root ready in $t_root s: $root"
    exit 0
fi

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
inner='
set -euo pipefail
export CCACHE_DIR=/ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
ccache --max-size=2G >/dev/null
ccache --zero-stats >/dev/null
s=$SECONDS
rc=0
DEB_BUILD_PROFILES=pkg.luod.roottests DEB_BUILD_OPTIONS="noddebs parallel=$(nproc)" \
    /src/scripts/build-packages.sh --work /build /debs || rc=$?
echo "built, tested and packaged in $((SECONDS - s)) s; ccache: $(ccache --print-stats 2>/dev/null |
    awk -F"\t" "/^direct_cache_hit|^preprocessed_cache_hit|^cache_miss/ { printf \"%s=%s \", \$1, \$2 }")"
[[ $rc -eq 0 ]] || exit $rc
for deb in /debs/luod_*.deb /debs/libluo1_*.deb; do
    depends=$(dpkg-deb -f "$deb" Depends)
    echo "$(basename "$deb"): Depends: $depends"
    [[ $depends =~ (^|[ ,])"$1"([ ,]|$) ]] || { echo "$(basename "$deb") does not depend on $1"; exit 1; }
done
'

t1=$SECONDS
rc=0
# A private mount namespace (the overlay and every mount below die with it) and a PID
# namespace (every process the build or the tests start dies with its init).
unshare -m -p -f --propagation private bash -euo pipefail -c '
    root=$1 work=$2 ccache_dir=$3 inner=$4 sdbus_library=$5
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
    exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb bash -c "$inner" _ "$sdbus_library"
' _ "$root" "$work" "$ccache_dir" "$inner" "$sdbus_library" 2>&1 | sed "s/^/$suite: /" || rc=$?
t_run=$((SECONDS - t1))
echo "$suite: root ready in $t_root s, build, tests and packages in $t_run s, total $((SECONDS - t0)) s"
if [[ $rc -eq 0 && -n $debs_out ]]; then
    mkdir -p "$debs_out.tmp"
    cp "$work"/upper/debs/*.deb "$debs_out.tmp/"
    commit=$(git -C "$src" describe --always --dirty 2>/dev/null || echo "not a git tree")
    printf 'suite %s\nsource %s (%s)\nbuilt %s\n' "$suite" "$src" "$commit" "$(date -u +%FT%TZ)" >"$debs_out.tmp/BUILT"
    mv -T "$debs_out.tmp" "$debs_out"
    echo "$suite: packages handed on in $debs_out: $(cd "$debs_out" && echo *.deb)"
fi
exit "$rc"
