#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the test machine's initramfs: static busybox, /init (init.sh), the project's
# programs from a build tree with every library they load, dbus-daemon with a system bus
# configured like the project's private one, and optionally the upstream selftests.
#   initramfs.sh OUTPUT --build BUILD_DIR [--selftests DIR|cache] [--bin HOST_PROGRAM]...
#                [--file SOURCE:DEST]...
# --selftests cache takes them from kernel.sh selftests; --bin adds a host program with its
# libraries (e.g. strace); --file copies one file.
set -euo pipefail
vm_tag=initramfs.sh
source "$(dirname "$0")/lib.sh"
source_dir=$(cd "$vm_dir/../.." && pwd)

out= build= selftests=
extra_bins=() extra_files=()
while (($#)); do
    case $1 in
        --build) build=$(realpath "$2"); shift 2 ;;
        --selftests) selftests=$2; shift 2 ;;
        --bin) extra_bins+=("$2"); shift 2 ;;
        --file) extra_files+=("$2"); shift 2 ;;
        -*) echo "initramfs.sh: unknown option '$1'" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
[[ -n $out && -n $build ]] || { echo "usage: initramfs.sh OUTPUT --build BUILD_DIR [options]" >&2; exit 2; }
[[ $selftests == cache ]] && selftests=$("$vm_dir/kernel.sh" selftests)/bin
for tool in busybox cpio gzip ldd strip; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh test installs it)"
done
busybox=$(command -v busybox)
ldd "$busybox" >/dev/null 2>&1 && fail "$busybox is not static (install busybox-static)"

root=$(mktemp -d "${TMPDIR:-/tmp}/luo-vm-initramfs.XXXXXX")
vm_cleanup_paths+=("$root")
libdir=lib/x86_64-linux-gnu
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/libexec,etc,proc,sys,dev,run,tmp,var,root,share,$libdir,lib64}
ln -s ../run "$root/var/run"

# Every library a program loads (ldd), under the multiarch directory the loader searches.
add_libraries() {
    local lib name
    while read -r lib; do
        name=${lib##*/}
        [[ -e $root/$libdir/$name ]] && continue
        cp -L "$lib" "$root/$libdir/$name"
        strip --strip-debug "$root/$libdir/$name" 2>/dev/null || true
    done < <(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}
add_program() {  # add_program HOST_PATH GUEST_DIR
    local dest=$root/$2/${1##*/}
    cp -L "$1" "$dest"
    strip --strip-debug "$dest" 2>/dev/null || true
    add_libraries "$1"
}

cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
done
cp "$vm_dir/init.sh" "$root/init"
chmod 0755 "$root/init"

# The project's programs, wherever the build tree has them (the ASan tree is not ours).
found=()
for name in luod luoctl luo-vmm-client luo-kexec-demo luo-cache-service luo-do-kexec luo-conformance; do
    path=$(find "$build" -path "$build/asan" -prune -o -type f -name "$name" -perm -u+x -print -quit)
    [[ -n $path ]] || continue
    add_program "$path" usr/bin
    found+=("$name")
done
[[ " ${found[*]} " == *" luod "* && " ${found[*]} " == *" luoctl "* ]] ||
    fail "no luod/luoctl under $build: build the project first (scripts/build.sh)"
if [[ -n $selftests ]]; then
    mkdir -p "$root/usr/libexec/luo-selftests"
    for p in "$selftests"/*; do add_program "$p" usr/libexec/luo-selftests; done
fi
for p in "${extra_bins[@]}"; do add_program "$(command -v "$p")" usr/bin; done
for f in "${extra_files[@]}"; do mkdir -p "$(dirname "$root/${f#*:}")"; cp "${f%%:*}" "$root/${f#*:}"; done

# The loader at its ABI path.
loader=$(ldd "$root/usr/bin/luod" | awk '$1 ~ /^\/lib64\// { print $1 }')
[[ -n $loader && -e $root/$libdir/${loader##*/} ]] || fail "cannot find the dynamic loader of luod"
ln -s "../$libdir/${loader##*/}" "$root$loader"

# D-Bus: the system bus at its usual socket, with the project's policy.
add_program /usr/bin/dbus-daemon usr/bin
mkdir -p "$root/usr/share/dbus-1/system.d" "$root/etc/luod" "$root/run/dbus"
cp "$source_dir/dbus/org.luod.LiveUpdate1.conf" "$root/usr/share/dbus-1/system.d/"
sed -e 's|@SOCKET@|/run/dbus/system_bus_socket|' -e 's|@POLICY@|/usr/share/dbus-1/system.d/org.luod.LiveUpdate1.conf|' \
    "$source_dir/dbus/private-system-bus.conf.in" >"$root/etc/luo-vm-system-bus.conf"
cp "$source_dir/daemon/luod.conf" "$root/etc/luod/luod.conf"
cat >"$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/bin/sh
messagebus:x:100:101::/nonexistent:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<GROUP
root:x:0:
messagebus:x:101:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nshadow: files\n' >"$root/etc/nsswitch.conf"
echo 5a1e0b0bde1a4c6f9b7e0a4b1c2d3e4f >"$root/etc/machine-id"
mkdir -p "$root/var/lib/dbus"
ln -s /etc/machine-id "$root/var/lib/dbus/machine-id"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 >"$out.tmp"
mv "$out.tmp" "$out"
say "initramfs $out: $(du -k "$out" | cut -f1) KiB with ${found[*]}${selftests:+ and the selftests}"
