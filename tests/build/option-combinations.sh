#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Usage: option-combinations.sh SOURCE_DIR WORK_DIR VERSION [BUILD_TYPE]
# The option combinations a packager uses configure and build: tests and benchmarks off (as
# debian/rules and the RPM spec do), then tests off alone (the benchmarks need only the
# harness in tests/support). In WORK_DIR, kept between runs so that a rerun only relinks;
# with ccache when there is one. The tests-off luod has no fault points, and luod and luoctl
# report project(VERSION).
set -eu
source_dir=$1 work_dir=$2 version=$3 build_type=${4:-RelWithDebInfo}
jobs=${LUO_BUILD_JOBS:-2}
launcher=""
if command -v ccache >/dev/null; then
    launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
    # Objects whose flags name no path of the build tree are shared with the main build.
    export CCACHE_NOHASHDIR=true
fi

configure_and_build() {
    echo "== $*"
    # --fresh: configure as from nothing (the cache of the previous combination is dropped),
    # while the objects stay for the build.
    cmake --fresh -S "$source_dir" -B "$work_dir" -DCMAKE_BUILD_TYPE="$build_type" -DLUO_WERROR=ON \
        $launcher "$@" >"$work_dir.configure.log" 2>&1 || { cat "$work_dir.configure.log"; exit 1; }
    cmake --build "$work_dir" -j "$jobs" >"$work_dir.build.log" 2>&1 || { tail -50 "$work_dir.build.log"; exit 1; }
}

fail() { echo "FAILED: $*" >&2; exit 1; }

mkdir -p "$work_dir"
# The programs a combination must not build: a rerun would find the previous run's.
rm -f "$work_dir"/bench/bench-* "$work_dir"/tests/test-*
configure_and_build -DLUO_BUILD_TESTS=OFF -DLUO_BUILD_BENCH=OFF
[ ! -e "$work_dir/bench/bench-luod" ] || fail "benchmarks built with LUO_BUILD_BENCH=OFF"

configure_and_build -DLUO_BUILD_TESTS=OFF
for program in bench/bench-model bench/bench-luod bench/bench-blackout daemon/luod/luod daemon/luoctl/luoctl \
               kernel/luo-kernel-model; do
    [ -x "$work_dir/$program" ] || fail "$program was not built with LUO_BUILD_TESTS=OFF"
done
[ ! -e "$work_dir/tests/test-luod" ] || fail "tests built with LUO_BUILD_TESTS=OFF"
if grep -q "fault point" "$work_dir/daemon/luod/luod"; then
    fail "luod of a build without tests has fault points"
fi

for program in daemon/luod/luod daemon/luoctl/luoctl; do
    reported=$("$work_dir/$program" --version)
    case $reported in
        *"$version"*) echo "ok: $program --version: $reported" ;;
        *) fail "$program --version says '$reported', project(VERSION) is $version" ;;
    esac
done
echo "ok: tests and benchmarks off, tests off alone"
