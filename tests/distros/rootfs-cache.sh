#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A Debian root file system made by debootstrap once and kept in a cache, for the tests that
# run something inside Debian 12, 13 or sid (tests/nspawn, tests/distros, tests/vm).
#
#   tests/distros/rootfs-cache.sh SUITE [PACKAGE...]
#
# Prints the root's path (the last line of stdout); everything else goes to stderr. The
# root is the minbase variant plus PACKAGE...; it is shared and must never be changed: work
# on an overlay of it. Its name carries a key of the suite, the package list and this
# script's recipe version, so a changed list makes a new root and never a mixed one.
#
# The cache (LUOD_TEST_CACHE, default /var/cache/luod-test) is safe against concurrent and
# interrupted runs: one builder at a time per root (flock), debootstrap and everything it
# mounts live in a private mount namespace (nothing leaks to the host, even on SIGKILL), the
# root is built under NAME.tmp and renamed into place only when complete, and any leftover
# NAME.tmp (even one with proc still mounted in it by an older version of this script) is
# unmounted and removed first.
#
# The mirror is the one this machine's apt uses for Debian (apt-cache policy), or
# LUOD_DEBIAN_MIRROR; there is no built-in host name. sid's Release files may be past their
# Valid-Until date on a snapshot mirror, so apt inside a sid root is told not to check it.
# Needs root, debootstrap, flock, unshare. LUOD_DEBOOTSTRAP names another debootstrap (the
# cache's own test uses a stand-in).
set -euo pipefail

readonly recipe=2  # bump when the way a root is made changes
me=rootfs-cache
die() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*" >&2; }

(($# >= 1)) || die "usage: $0 SUITE [PACKAGE...]"
suite=$1
shift
[[ $suite =~ ^[a-z]+$ ]] || die "not a suite name: '$suite'"
[[ $(id -u) -eq 0 ]] || die "must run as root"
debootstrap=${LUOD_DEBOOTSTRAP:-debootstrap}
for tool in "$debootstrap" flock unshare; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh test installs it)"
done
mapfile -t packages < <(printf '%s\n' "$@" | sed '/^$/d' | LC_ALL=C sort -u)

# The Debian mirror from apt's own view of its sources: the entry labelled Debian (not
# Debian-Security) for the main component.
debian_mirror() {
    if [[ -n ${LUOD_DEBIAN_MIRROR:-} ]]; then
        echo "$LUOD_DEBIAN_MIRROR"
        return
    fi
    apt-cache policy 2>/dev/null | awk '
        /^ *[0-9]+ [a-z]+:\/\// { url = $2; next }
        /^ *release / && url != "" {
            if ($0 ~ /[ ,]l=Debian(,|$)/ && $0 ~ /[ ,]c=main(,|$)/) { print url; exit }
            url = ""
        }'
}

cache=${LUOD_TEST_CACHE:-/var/cache/luod-test}
key=$( (echo "recipe $recipe"; echo "suite $suite"; printf 'package %s\n' "${packages[@]}") | sha256sum | cut -c1-12)
name=rootfs-$suite-$key
root=$cache/$name
mkdir -p "$cache"

# Unmounts everything at or below DIR in this mount namespace (deepest first), then removes it.
remove_tree() {
    local dir=$1 target
    [[ -e $dir ]] || return 0
    dir=$(realpath "$dir")
    # /proc/self/mountinfo field 5 is the mount point, octal-escaped.
    while read -r target; do
        umount -l "$target" 2>/dev/null || true
    done < <(awk -v d="$dir" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' \
             /proc/self/mountinfo | sort -r)
    rm -rf --one-file-system "$dir" 2>/dev/null || rm -rf "$dir"
}

# Leftovers of interrupted builds of any root in the cache, each under its own lock (a build
# in progress holds it and is left alone). Older versions of this mechanism used NAME.tmp and
# NAME.lock too, so their leftovers are recovered the same way.
recover_leftovers() {
    local tmp base fd
    for tmp in "$cache"/rootfs-*.tmp; do
        [[ -e $tmp ]] || continue
        base=${tmp%.tmp}
        if [[ $base == "$root" ]]; then  # ours: its lock is held already
            say "removing the leftover of an interrupted build: $tmp"
            remove_tree "$tmp"
            continue
        fi
        exec {fd}>"$base.lock"
        if flock -n "$fd"; then
            say "removing the leftover of an interrupted build: $tmp"
            remove_tree "$tmp"
            # A complete-looking root without its marker is a leftover as well.
            [[ -d $base && ! -e $base/.luod-rootfs-complete ]] && remove_tree "$base"
            flock -u "$fd"
        fi
        exec {fd}>&-
    done
}

exec {lock}>"$root.lock"
flock "$lock"
recover_leftovers
if [[ -e $root/.luod-rootfs-complete ]]; then
    say "$suite root from the cache: $root"
    echo "$root"
    exit 0
fi
remove_tree "$root"  # incomplete: cannot happen with rename, but never trust it

mirror=$(debian_mirror)
[[ -n $mirror ]] || die "no Debian mirror in this machine's apt configuration (apt-cache policy shows none labelled Debian for main); set LUOD_DEBIAN_MIRROR"
say "debootstrap $suite from $mirror into $root (${#packages[@]} extra packages)"
log=$(mktemp /tmp/luod-rootfs.XXXXXX)
trap 'rm -f "$log"' EXIT
start=$SECONDS
# Everything from here runs in a private mount namespace: the proc, sys and devpts mounts of
# debootstrap and of apt in the root die with it, whatever ends this script.
if ! unshare -m --propagation private bash -euo pipefail -c '
    suite=$1 tmp=$2 mirror=$3 packages=$4 debootstrap=$5
    "$debootstrap" --variant=minbase "$suite" "$tmp" "$mirror"
    if [[ $suite == sid || $suite == unstable ]]; then
        echo "Acquire::Check-Valid-Until \"false\";" >"$tmp/etc/apt/apt.conf.d/99luod-check-valid-until"
    fi
    # The packages by apt inside the root (debootstrap --include resolves dependencies less
    # well, and failed configuring perl modules for lintian).
    if [[ -n $packages ]]; then
        mount -t proc proc "$tmp/proc"
        mount --bind /dev "$tmp/dev"
        in_root() { chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
        in_root apt-get update -qq
        in_root apt-get install -y -qq --no-install-recommends $packages
        in_root apt-get clean
    fi
' _ "$suite" "$root.tmp" "$mirror" "${packages[*]}" "$debootstrap" >"$log" 2>&1; then
    tail -30 "$log" >&2
    remove_tree "$root.tmp"
    die "debootstrap of $suite failed (last lines above)"
fi
# The private namespace is gone, and its mounts with it; check before publishing the root.
grep -q " $(realpath "$root.tmp")/" /proc/self/mountinfo && die "something is still mounted under $root.tmp"
date -u +%FT%TZ >"$root.tmp/.luod-rootfs-complete"
mv -T "$root.tmp" "$root"
say "$suite root made in $((SECONDS - start)) s: $root"
echo "$root"
