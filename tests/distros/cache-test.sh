#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The rootfs cache (rootfs-cache.sh) against interruption, leftovers, concurrency and a
# missing mirror, with a stand-in debootstrap (no network): it mounts proc in the root it
# makes, as the real one does, and can be made to hang so the build can be killed mid-way.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name="rootfs cache"
fail() { echo "$name: FAIL: $*" >&2; exit 1; }
say() { echo "$name: $*"; }
[[ $(id -u) -eq 0 ]] || fail "must run as root"

top=$(mktemp -d /var/tmp/luod-cache-test.XXXXXX)
top=$(realpath "$top")
cleanup() {
    [[ -n ${builder:-} ]] && kill -9 -- "-$builder" 2>/dev/null
    awk -v d="$top" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m"; done
    rm -rf "$top"
}
trap cleanup EXIT

export LUOD_TEST_CACHE=$top/cache LUOD_DEBOOTSTRAP=$top/fake-debootstrap LUOD_DEBIAN_MIRROR=http://mirror.invalid/debian
# The stand-in's root: a static busybox for a shell, and an apt-get that records its calls.
cat >"$LUOD_DEBOOTSTRAP" <<EOF
#!/bin/bash
set -e
dir=\${@: -2:1}
echo "\$*" >>"$top/calls"
mkdir -p "\$dir/proc" "\$dir/dev" "\$dir/bin" "\$dir/usr/bin" "\$dir/etc/apt/apt.conf.d"
cp /bin/busybox "\$dir/bin/busybox"
ln -s busybox "\$dir/bin/sh"
ln -s ../../bin/busybox "\$dir/usr/bin/env"
printf '#!/bin/sh\necho "\$*" >>/apt-calls\n' >"\$dir/usr/bin/apt-get"
chmod +x "\$dir/usr/bin/apt-get"
mount -t proc proc "\$dir/proc"
if [[ -e $top/hang ]]; then
    touch "$top/started"
    sleep 600
fi
sleep 0.5
EOF
chmod +x "$LUOD_DEBOOTSTRAP"
mounts_below() { awk -v d="$top" 'index($5, d "/") == 1' /proc/self/mountinfo; }
calls() { [[ -e $top/calls ]] && wc -l <"$top/calls" || echo 0; }

# 1. A build killed during its debootstrap leaves its .tmp, but no mount on the host.
touch "$top/hang"
setsid "$here/rootfs-cache.sh" bookworm dbus procps >"$top/killed.out" 2>&1 &
builder=$!
for _ in $(seq 600); do [[ -e $top/started ]] && break; sleep 0.1; done
[[ -e $top/started ]] || fail "the stand-in debootstrap never started: $(cat "$top/killed.out")"
kill -9 -- "-$builder"
wait "$builder" 2>/dev/null || true
builder=
rm "$top/hang"
leftover=$(ls -d "$LUOD_TEST_CACHE"/rootfs-bookworm-*.tmp)
[[ -d $leftover/proc ]] || fail "the interrupted build left no .tmp to recover from"
[[ -z $(mounts_below) ]] || fail "the killed build leaked mounts to the host: $(mounts_below)"
say "a build killed during debootstrap left $(basename "$leftover") and no mount"

# 2. An older mechanism's leftover: proc still mounted in the host's namespace under a .tmp.
mkdir -p "$LUOD_TEST_CACHE/rootfs-bookworm.tmp/proc"
mount -t proc proc "$LUOD_TEST_CACHE/rootfs-bookworm.tmp/proc"

# 3. The next run recovers both and publishes a complete root.
root=$("$here/rootfs-cache.sh" bookworm procps dbus | tail -n 1)
[[ -e $root/.luod-rootfs-complete ]] || fail "no complete root at '$root'"
[[ ! -e $leftover && ! -e $LUOD_TEST_CACHE/rootfs-bookworm.tmp ]] || fail "leftovers remain: $(ls "$LUOD_TEST_CACHE")"
[[ -z $(mounts_below) ]] || fail "mounts remain: $(mounts_below)"
grep -q -- "--variant=minbase bookworm $leftover http://mirror.invalid/debian" "$top/calls" ||
    fail "debootstrap was not called as expected: $(tail -1 "$top/calls")"
grep -q "^install -y -qq --no-install-recommends dbus procps$" "$root/apt-calls" ||
    fail "apt-get in the root was not asked for the packages: $(cat "$root/apt-calls")"
say "the next run removed both leftovers (one with proc mounted) and made $(basename "$root")"

# 4. From the cache: no second debootstrap, same root; another package list is another root.
before=$(calls)
again=$("$here/rootfs-cache.sh" bookworm dbus procps | tail -n 1)
[[ $again == "$root" && $(calls) == "$before" ]] || fail "the cached root was not reused ($again, $(calls) calls)"
other=$("$here/rootfs-cache.sh" bookworm dbus | tail -n 1)
[[ $other != "$root" && -e $other/.luod-rootfs-complete ]] || fail "another package list gave '$other'"
say "a second call reuses the root; another package list makes another"

# 5. Concurrent first builds of one root: one debootstrap, one root for both.
before=$(calls)
"$here/rootfs-cache.sh" sid dbus >"$top/a.out" 2>&1 &
a=$!
"$here/rootfs-cache.sh" sid dbus >"$top/b.out" 2>&1 &
b=$!
wait "$a" || fail "first concurrent build: $(cat "$top/a.out")"
wait "$b" || fail "second concurrent build: $(cat "$top/b.out")"
[[ $(tail -n 1 "$top/a.out") == "$(tail -n 1 "$top/b.out")" ]] || fail "two roots for one key"
(($(calls) == before + 1)) || fail "$(($(calls) - before)) debootstraps for one root"
grep -q false "$(tail -n 1 "$top/a.out")/etc/apt/apt.conf.d/99luod-check-valid-until" ||
    fail "apt in the sid root still checks Valid-Until"
say "two concurrent builds made one root"

# 6. No mirror in apt's configuration and none given: a clear failure, nothing published.
mkdir -p "$top/apt/lists/partial" "$top/apt/parts" "$top/apt/cache"
cat >"$top/apt.conf" <<EOF
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$top/apt/parts";
Dir::State::Lists "$top/apt/lists";
Dir::Cache "$top/apt/cache";
EOF
if out=$(env -u LUOD_DEBIAN_MIRROR APT_CONFIG="$top/apt.conf" "$here/rootfs-cache.sh" trixie dbus 2>&1); then
    fail "built without a mirror: $out"
fi
[[ $out == *"no Debian mirror in this machine's apt configuration"* ]] || fail "unclear failure: $out"
[[ -z $(find "$LUOD_TEST_CACHE" -maxdepth 1 -type d -name 'rootfs-trixie-*') ]] || fail "a trixie root appeared without a mirror"
say "without a configured mirror: '${out##*: }'"
say "PASS"
