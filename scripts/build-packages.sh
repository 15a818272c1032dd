#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian packages (luod, libluo1, libluo-dev, luo-kernel-model) from a clean copy
# of the tree and checks them with lintian (any error fails).
#   scripts/build-packages.sh [--binary-only] [--work DIR] [OUTDIR]
# The copy holds what git tracks plus untracked files that are not ignored (no build trees);
# packaging/debian becomes its debian/. By default the source package is built too, from an
# orig tarball made of the same copy, so lintian sees the source package as well.
# OUTDIR (default build-packages/ at the top of the tree) receives the .debs, the .changes
# and .buildinfo and, unless --binary-only, the source package; earlier luod packages there
# are removed first, so OUTDIR/*.deb are exactly the packages of this build. The last lines
# printed are the paths of the .debs. -dbgsym packages are not built unless DEB_BUILD_OPTIONS
# is set by the caller. Run as root on Debian 12, missing build dependencies are installed.
# --work DIR builds in DIR (emptied first, kept afterwards) instead of a new temporary
# directory, so a compiler cache sees the same paths every time. With the build profile
# pkg.luod.roottests the build also runs the tests (debian/rules); their counts are printed.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
binary_only=false
out=
work=
while (($#)); do
    case $1 in
        --binary-only) binary_only=true ;;
        --work) (($# >= 2)) || { echo "build-packages: --work needs a directory" >&2; exit 2; }; work=$2; shift ;;
        -h|--help) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build-packages: unknown option $1" >&2; exit 2 ;;
        *) [[ -z $out ]] || { echo "build-packages: one OUTDIR only" >&2; exit 2; }; out=$1 ;;
    esac
    shift
done
out=${out:-$src/build-packages}
mkdir -p "$out"
out=$(cd "$out" && pwd)
say() { echo "build-packages: $*"; }

# --- tools and build dependencies ---
if ! command -v dpkg-buildpackage >/dev/null || ! command -v lintian >/dev/null; then
    [[ $(id -u) -eq 0 ]] || { echo "build-packages: needs dpkg-dev and lintian (as root this script installs them)" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends dpkg-dev lintian >/dev/null
fi

# --- the clean copy ---
if [[ -n $work ]]; then
    # The caller's directory: emptied now, left as it is at the end (for a look at a failure).
    rm -rf "$work"
    mkdir -p "$work"
    work=$(cd "$work" && pwd)
else
    work=$(mktemp -d /tmp/luod-packages.XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi
changelog=$src/packaging/debian/changelog
version=$(dpkg-parsechangelog -l "$changelog" -S Version)
upstream=${version%-*}
upstream=${upstream#*:}
tree=$work/luod-$upstream
mkdir "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and untracked-but-not-ignored files that exist (a deleted file is not copied).
    git -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && xargs -0 -r sh -c 'for f; do if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\0" "$f"; fi; done' sh) |
        tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
    tar -C "$src" --exclude='./build*' --exclude='./.git' --exclude='./.cache' -cf - . | tar -C "$tree" -xf -
fi
[[ -e $tree/debian ]] && { echo "build-packages: the tree has a top-level debian/; packaging/debian is the one" >&2; exit 1; }
$binary_only || tar -C "$work" -cJf "$work/luod_$upstream.orig.tar.xz" "luod-$upstream"
cp -a "$src/packaging/debian" "$tree/debian"

if ! (cd "$tree" && dpkg-checkbuilddeps >/dev/null 2>&1); then
    [[ $(id -u) -eq 0 ]] || { (cd "$tree" && dpkg-checkbuilddeps); exit 1; }
    say "installing build dependencies"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get build-dep -y -qq --no-install-recommends "$tree" >/dev/null
fi

# --- build ---
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-noddebs parallel=$(nproc)}
say "building $version in $tree (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
start=$(date +%s)
build_args=(-us -uc)
$binary_only && build_args+=(-b)
if ! (cd "$tree" && dpkg-buildpackage "${build_args[@]}") >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    echo "build-packages: dpkg-buildpackage failed (last 60 lines above)" >&2
    exit 1
fi
say "built in $(( $(date +%s) - start )) s"
grep -E "^[0-9]+% tests passed|^Total Test time" "$work/build.log" | sed 's/^/build-packages: tests: /' || true

changes=$(ls "$work"/luod_"${version#*:}"_*.changes)
say "lintian $(lintian --version | awk '{ print $2 }') on $(basename "$changes")"
lintian_rc=0
lintian --fail-on error --display-info "$changes" || lintian_rc=$?

# --- results ---
rm -f "$out"/luod_* "$out"/luod-* "$out"/libluo1_* "$out"/libluo-dev_* "$out"/luo-kernel-model_* \
      "$out"/*-dbgsym_*
find "$work" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.changes' -o -name '*.buildinfo' \
     -o -name '*.dsc' -o -name '*.tar.*' \) -exec cp {} "$out"/ \;
if ((lintian_rc != 0)); then
    echo "build-packages: lintian reported errors (packages left in $out)" >&2
    exit 1
fi
say "packages in $out:"
ls -1 "$out"/*.deb
