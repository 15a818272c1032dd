#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The LUO kernel and the upstream selftests, made once into the cache (/var/cache/luod-test,
# or $LUOD_TEST_CACHE) and reused:
#   kernel.sh source      Debian sid's linux-source-7.2, unpacked, with its uAPI headers
#   kernel.sh kernel      a bzImage: tinyconfig + luo-kernel.config (+ --fragment FILE...)
#   kernel.sh selftests   tools/testing/selftests/liveupdate built (dynamically) from it
# Each prints the path of its cache entry. Entries are keyed by the source package version
# and, for the kernel, a hash of the configuration and the compiler. The package is only
# downloaded (a private apt state directory, the mirror of this machine's apt configuration,
# -o Acquire::Check-Valid-Until=false); nothing is installed and the machine's apt sources are
# not touched. The first source fetched stays in use (no network on a warm machine);
# LUOD_VM_LINUX_VERSION=V picks another version, LUOD_VM_JOBS the make jobs (default nproc).
set -euo pipefail
vm_tag=kernel.sh
source "$(dirname "$0")/lib.sh"

package=linux-source-7.2
fragments=("$vm_dir/luo-kernel.config")
what=
while (($#)); do
    case $1 in
        --fragment) fragments+=("$(realpath "$2")"); shift 2 ;;
        source|kernel|selftests) what=$1; shift ;;
        *) echo "usage: $0 [--fragment FILE]... source|kernel|selftests" >&2; exit 2 ;;
    esac
done
[[ -n $what ]] || { echo "usage: $0 [--fragment FILE]... source|kernel|selftests" >&2; exit 2; }
jobs=${LUOD_VM_JOBS:-$(nproc)}

# A private apt state for sid: only for downloading.
apt_dir=
apt_opts=()
apt_sid() {
    [[ -n $apt_dir ]] && return 0
    local mirror
    mirror=$(debian_mirror)
    mkdir -p "$vm_cache"
    apt_dir=$(mktemp -d "$vm_cache/apt-sid.XXXXXX")
    vm_cleanup_paths+=("$apt_dir")
    mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    : >"$apt_dir/empty.list"
    cat >"$apt_dir/parts/sid.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    apt_opts=(-q -o Dir::Etc::sourcelist="$apt_dir/empty.list" -o Dir::Etc::sourceparts="$apt_dir/parts"
              -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
              -o Dir::State::status=/dev/null -o Dir::Etc::preferences=/dev/null
              -o Dir::Etc::preferencesparts="$apt_dir/parts" -o Acquire::Languages=none
              -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
    say "apt-get update for sid from $mirror (private state in $apt_dir)"
    apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
        { cat "$apt_dir/update.log" >&2; fail "apt-get update for sid failed"; }
}

newest_cached_source() {
    local d
    for d in "$vm_cache/${package}_"*; do
        [[ -d $d && $d != *.tmp.* ]] && echo "${d##*/${package}_}"
    done | sort -V | tail -1
    true
}

make_source() {
    local out=$1 version=$2 deb
    apt_sid
    say "downloading $package $version"
    (cd "$apt_dir" && apt-get "${apt_opts[@]}" download "$package=$version" >"$apt_dir/download.log" 2>&1) ||
        { cat "$apt_dir/download.log" >&2; fail "cannot download $package $version from sid"; }
    deb=$(echo "$apt_dir/${package}_"*.deb)
    say "unpacking the kernel source"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$package.tar.xz" | tar -xJ -C "$out"
    rm -f "$deb"
    mv "$out/$package" "$out/linux"
    say "installing the uAPI headers"
    make -s -C "$out/linux" O="$out/headers-build" ARCH=x86_64 INSTALL_HDR_PATH="$out/headers" \
        headers_install >"$out/headers.log" 2>&1 || { cat "$out/headers.log" >&2; fail "headers_install failed"; }
    rm -rf "$out/headers-build"
    [[ -f $out/headers/include/linux/liveupdate.h ]] || fail "the source has no <linux/liveupdate.h>"
    echo "$version" >"$out/VERSION"
}

source_entry() {
    local version=${LUOD_VM_LINUX_VERSION:-}
    [[ -n $version ]] || version=$(newest_cached_source)
    if [[ -z $version ]]; then
        apt_sid
        version=$(apt-cache "${apt_opts[@]}" show --no-all-versions "$package" 2>/dev/null |
                  awk '$1 == "Version:" { print $2; exit }')
        [[ -n $version ]] || fail "sid has no $package"
    fi
    cache_entry "${package}_$version" make_source "$version"
    source_dir=$cache_path
    source_version=$version
}

# What the kernel build depends on besides the source: the fragments, the toolchain, and the
# recipe below (kernel_recipe: bump it when make_kernel changes what it produces).
kernel_recipe=2
kernel_key() {
    { cat "${fragments[@]}"; gcc --version | head -1; ld --version | head -1; echo "recipe $kernel_recipe"; } |
        sha256sum | cut -c1-12
}

# CPU seconds (user + system) of the children this script waited for (cutime + cstime).
children_cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d\n", ($14 + $15) / hz }' "/proc/$$/stat"
}

make_kernel() {
    local out=$1 build=$1/build line start
    start=$(date +%s)
    say "configuring: tinyconfig + ${fragments[*]##*/}"
    make -s -C "$source_dir/linux" O="$build" ARCH=x86_64 tinyconfig >/dev/null
    "$source_dir/linux/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "${fragments[@]}" >"$out/merge.log" 2>&1 ||
        { cat "$out/merge.log" >&2; fail "merge_config.sh failed"; }
    make -s -C "$source_dir/linux" O="$build" ARCH=x86_64 olddefconfig >/dev/null
    # olddefconfig drops silently what it cannot satisfy, and a select can turn on what the
    # fragment turns off: every fragment line must hold in the result.
    while IFS= read -r line; do
        if [[ $line =~ ^CONFIG_[A-Z0-9_]+= ]]; then
            grep -qxF "$line" "$build/.config" || fail "the kernel configuration lost '$line' (a missing dependency?)"
        elif [[ $line =~ ^#\ (CONFIG_[A-Z0-9_]+)\ is\ not\ set$ ]]; then
            ! grep -q "^${BASH_REMATCH[1]}=" "$build/.config" || fail "${BASH_REMATCH[1]} is on although the fragment turns it off"
        fi
    done < <(cat "${fragments[@]}")
    say "building the kernel with make -j$jobs (about 11 min on two idle cores, much longer under load)"
    local cpu_before cpu_after
    cpu_before=$(children_cpu_seconds)
    make -C "$source_dir/linux" O="$build" ARCH=x86_64 -j"$jobs" bzImage >"$out/build.log" 2>&1 ||
        { tail -40 "$out/build.log" >&2; fail "the kernel build failed (log: $out/build.log)"; }
    cpu_after=$(children_cpu_seconds)
    cp "$build/arch/x86/boot/bzImage" "$out/bzImage"
    cp "$build/.config" "$out/config"
    make -s -C "$source_dir/linux" O="$build" ARCH=x86_64 kernelrelease >"$out/release"
    rm -rf "$build"
    echo "$(($(date +%s) - start)) s wall on $(nproc) cores (make: $((cpu_after - cpu_before)) s of CPU), make -j$jobs," \
         "load $(cut -d' ' -f1-3 /proc/loadavg) at the end" >"$out/build-time"
    say "kernel built: $(cat "$out/build-time")"
}

# The selftests with their own Makefile, on a copy of the files it uses: it writes objects
# next to the sources, and the cached source tree is shared and must stay clean.
selftests=(liveupdate luo_kexec_simple luo_multi_session luo_stress_sessions luo_stress_files)
make_selftests() {
    local out=$1 tree=$1/tree st=tools/testing/selftests p
    mkdir -p "$tree/$st" "$out/bin"
    cp -a "$source_dir/linux/$st/"{lib.mk,kselftest.h,kselftest_harness.h,kselftest,liveupdate} "$tree/$st/"
    say "building the upstream selftests (dynamically linked: they run on the real kernel and, preloaded, on the model)"
    make -C "$tree/$st/liveupdate" OUTPUT="$out/bin" KHDR_INCLUDES="-isystem $source_dir/headers/include" \
        >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; fail "the selftests did not build"; }
    rm -rf "$tree" "$out/bin/"*.o "$out/bin/"*.d
    for p in "${selftests[@]}"; do [[ -x $out/bin/$p ]] || fail "selftest $p was not built"; done
}

source_entry
case $what in
    source) echo "$source_dir" ;;
    kernel)
        cache_entry "luo-kernel_${source_version}_$(kernel_key)" make_kernel
        echo "$cache_path" ;;
    selftests)
        cache_entry "luo-selftests_${source_version}_$({ gcc --version | head -1; echo "${selftests[*]}"; } | sha256sum | cut -c1-12)" make_selftests
        echo "$cache_path" ;;
esac
