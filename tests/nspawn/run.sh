#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# luod under a real systemd: a Debian 12 rootfs (debootstrap, cached) booted with
# systemd-nspawn, luod installed and running as a real unit on the container's real system
# bus, the kernel model running outside with its root bound in. It shows:
#   1. the unit reaches active through READY=1 (its STATUS= shows), and the journal gets
#      luod's structured fields;
#   2. the D-Bus policy is enforced on the real bus (nobody may not update);
#   3. kill -9 luod: systemd restarts it and every session survives through the real fd store;
#   4. a model kexec started by `luoctl update` ends the container (the model kills its cgroup),
#      the container boots again, luod restores, the example service gets its memfd back.
# Every missing facility is a failure, not a skip: CI must be able to run this.
# Usage: tests/nspawn/run.sh BUILD_DIR [SOURCE_DIR]
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
src=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", n - s }'; }
say() { echo "nspawn-test [$(elapsed)] $*"; }
fail() {
    echo "nspawn-test [$(elapsed)] FAIL: $*" >&2
    [[ -n ${work:-} && -f $work/model.log ]] && { echo "--- model log" >&2; tail -20 "$work/model.log" >&2; }
    [[ -n ${leader:-} ]] && nsenter -t "$leader" -a journalctl -b --no-pager -n 60 >&2 2>/dev/null
    exit 1
}

[[ $(id -u) -eq 0 ]] || fail "must run as root"
for tool in systemd-nspawn debootstrap nsenter setpriv; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh test installs it)"
done
unified=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[[ -n $unified ]] || fail "no cgroup2 hierarchy is mounted"

cgroup_dirs=()
work=$(mktemp -d /var/tmp/luod-nspawn.XXXXXX)
rootfs=$work/root
model_root=$work/model
cgroup_name=luod-nspawn-$$
leader=
cleanup() {
    [[ -n ${nspawn_pid:-} ]] && kill -9 "$nspawn_pid" 2>/dev/null
    [[ -n ${model_pid:-} ]] && { kill "$model_pid" 2>/dev/null; wait "$model_pid" 2>/dev/null; }
    # The cgroups nspawn and the container's systemd made under ours, deepest first.
    for d in "${cgroup_dirs[@]}"; do
        [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    true
    mountpoint -q "$rootfs" && umount "$rootfs"
    rm -rf "$work"
}
trap cleanup EXIT

# --- the rootfs: debootstrap once into the cache; each run works on an overlay of it ---
cache=${LUOD_NSPAWN_CACHE:-/var/cache/luod-test}/rootfs-bookworm
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
if [[ ! -d $cache ]]; then
    say "debootstrap bookworm from $mirror into $cache"
    rm -rf "$cache.tmp"
    mkdir -p "$(dirname "$cache")"
    debootstrap --variant=minbase \
        --include=systemd-sysv,dbus,libsystemd0,libsdbus-c++1,libspdlog1.10,libfmt9,libinih1,procps,util-linux \
        bookworm "$cache.tmp" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    mv "$cache.tmp" "$cache"
else
    say "rootfs from the cache $cache"
fi
mkdir -p "$work/upper" "$work/overlay-work" "$rootfs"
mount -t overlay overlay -o "lowerdir=$cache,upperdir=$work/upper,workdir=$work/overlay-work" "$rootfs" ||
    fail "cannot mount an overlay of the rootfs"

# --- luod installed as a package would install it, plus the example service ---
DESTDIR=$rootfs cmake --install "$build" --prefix /usr >/dev/null
# The container is not a simulation host: the model runs outside and its root is bound in.
rm -f "$rootfs"/lib/systemd/system/luo-kernel-model.service "$rootfs"/lib/systemd/system/luod.service.d/*.conf
mkdir -p "$rootfs/etc/systemd/system/luod.service.d" "$rootfs/var/lib/luo-model" "$rootfs/var/lib/luod-test"
cat >"$rootfs/etc/systemd/system/luod.service.d/test-model.conf" <<'EOF'
[Unit]
ConditionPathExists=
ConditionPathExists=/var/lib/luo-model/dev/liveupdate
[Service]
ExecStart=
ExecStart=/usr/sbin/luod --root /var/lib/luo-model
EOF
install -m 0755 "$build/examples/cache-service/luo-cache-service" "$rootfs/usr/bin/luo-cache-service"
install -m 0644 "$src/examples/cache-service/luo-cache-service.service" "$rootfs/etc/systemd/system/"
printf 'LUO-KERNEL-MODEL-IMAGE\nprofile=7.2\nrelease=7.2.1-luo-model\n' >"$rootfs/var/lib/luod-test/vmlinuz"
chroot "$rootfs" ldconfig
chroot "$rootfs" systemctl enable luod.service luo-cache-service.service >/dev/null 2>&1
echo luodtest >"$rootfs/etc/hostname"

# --- a cgroup of our own in every hierarchy (see the test environment notes): nspawn and the
# container's systemd create their cgroups under it, and the model ends the container by it ---
container_cgroup=
while read -r _ mnt type opts _; do
    [[ $type == cgroup || $type == cgroup2 ]] || continue
    [[ ,$opts, == *,cpuset,* ]] && continue  # refuses members until cpus/mems are set
    path=
    if [[ $type == cgroup2 ]]; then
        path=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
    else
        while IFS=: read -r _ controllers p; do
            [[ -z $controllers ]] && continue
            all=1
            IFS=, read -ra list <<<"$controllers"
            for c in "${list[@]}"; do [[ ,$opts, == *,$c,* ]] || all=0; done
            ((all)) && path=$p
        done </proc/self/cgroup
    fi
    [[ -n $path ]] || continue
    dir="${mnt%/}${path%/}/$cgroup_name"
    mkdir -p "$dir"
    cgroup_dirs+=("$dir")
    [[ $type == cgroup2 ]] && container_cgroup=$dir
done </proc/self/mounts
[[ -n $container_cgroup ]] || fail "could not make a cgroup in $unified"

# --- the kernel model, outside the container ---
"$build/kernel/luo-kernel-model" --root "$model_root" --kill-cgroup "$container_cgroup" --log-level info \
    >"$work/model.log" 2>&1 &
model_pid=$!
for _ in $(seq 500); do [[ -s $model_root/proc/sys/kernel/random/boot_id ]] && break; sleep 0.02; done
boot_id() { cat "$model_root/proc/sys/kernel/random/boot_id" 2>/dev/null || true; }
[[ -n $(boot_id) ]] || fail "the kernel model did not start"

boot_container() {
    (
        for d in "${cgroup_dirs[@]}"; do echo $BASHPID >"$d/cgroup.procs"; done
        exec systemd-nspawn -q -D "$rootfs" --boot --register=no --keep-unit --console=passive \
            --bind="$model_root:/var/lib/luo-model" -M luodtest
    ) >"$work/nspawn.log" 2>&1 &
    nspawn_pid=$!
    disown  # ended by the model's kexec: no job report
    leader=
    for _ in $(seq 1000); do
        leader=$(pgrep -P "$nspawn_pid" -x systemd || true)
        [[ -n $leader ]] && break
        kill -0 "$nspawn_pid" 2>/dev/null || fail "systemd-nspawn exited: $(cat "$work/nspawn.log")"
        sleep 0.02
    done
    [[ -n $leader ]] || fail "the container's systemd did not start"
    wait_for "the container's system bus" in_container busctl --system status
}
in_container() { nsenter -t "$leader" -a "$@"; }
wait_for() {  # wait_for WHAT COMMAND...: up to 60 s
    local what=$1
    shift
    for _ in $(seq 600); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "timed out waiting for $what"
}

# --- boot 1 ---
boot_container
say "container booted: systemd $(in_container systemctl --version | awk 'NR == 1 { print $2 }')"
wait_for "luod to be active" in_container systemctl is-active --quiet luod.service
status=$(in_container systemctl show -p StatusText --value luod.service)
[[ $status == *"sessions, kernel: model"* ]] || fail "luod's READY status is '$status'"
say "1. luod.service is active through READY=1 (status: $status)"
wait_for "the example service's session" in_container luoctl session cache-demo
in_container journalctl -u luod.service -o json --no-pager | grep -q '"LUO_SESSION":"cache-demo"' ||
    fail "the journal has no LUO_SESSION field from luod"
say "   the journal carries luod's structured fields (LUO_SESSION=cache-demo)"

# --- the real bus enforces the policy ---
set +e
in_container setpriv --reuid=nobody --regid=nogroup --clear-groups luoctl update >/dev/null 2>&1
denied=$?
in_container setpriv --reuid=nobody --regid=nogroup --clear-groups luoctl status >/dev/null 2>&1
allowed=$?
set -e
[[ $denied -eq 4 ]] || fail "nobody's luoctl update exited $denied, not 4 (access denied)"
[[ $allowed -eq 0 ]] || fail "nobody's luoctl status exited $allowed"
say "2. the system bus refuses Update to nobody (exit 4) and lets it read the status"

# --- kill -9: systemd restarts luod, the fd store keeps every session ---
before=$(in_container luoctl session cache-demo --json)
old_pid=$(in_container systemctl show -p MainPID --value luod.service)
in_container systemctl kill --signal=KILL luod.service
wait_for "luod to be restarted" bash -c \
    "[[ \$(nsenter -t $leader -a systemctl show -p MainPID --value luod.service) != $old_pid ]] &&
     nsenter -t $leader -a systemctl is-active --quiet luod.service"
after=$(in_container luoctl session cache-demo --json)
[[ $before == "$after" ]] || fail "the session changed across the restart: $before / $after"
restarts=$(in_container systemctl show -p NRestarts --value luod.service)
say "3. after kill -9 systemd restarted luod (NRestarts=$restarts); the session and its files are intact"

# --- a model kexec ends the container, which boots again ---
in_container luoctl load /var/lib/luod-test/vmlinuz >/dev/null
in_container luoctl check --json >"$work/check.json" || fail "pre-flight checks failed: $(cat "$work/check.json")"
old_boot=$(boot_id)
in_container luoctl update >/dev/null || true
for _ in $(seq 600); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$nspawn_pid" 2>/dev/null && fail "the container survived the kexec"
nspawn_pid=
wait_for "the next kernel" bash -c "[[ -n \$(cat $model_root/proc/sys/kernel/random/boot_id 2>/dev/null) &&
                                      \$(cat $model_root/proc/sys/kernel/random/boot_id) != $old_boot ]]"
say "4. the model kexec'd and ended the container"
boot_container
wait_for "luod after the update" in_container systemctl is-active --quiet luod.service
wait_for "the example service to restore its cache" bash -c \
    "nsenter -t $leader -a journalctl -u luo-cache-service.service --no-pager | grep -q 'restored cache'"
wait_for "every session to be finished" bash -c \
    "nsenter -t $leader -a luoctl status --json | grep -q '\"state\": \"idle\"'"
report=$(in_container luoctl report --json)
[[ $report == *'"result": "success"'* ]] || fail "the report is $report"
count=$(in_container luoctl status --json | sed -n 's/.*"live_update_count": \([0-9]*\).*/\1/p')
[[ $count == 1 ]] || fail "LiveUpdateCount is '$count'"
restored=$(in_container journalctl -u luo-cache-service.service --no-pager | grep -o 'restored cache: .*' | head -1)
say "   the container booted again: luod restored, the example service $restored"

in_container systemctl poweroff
for _ in $(seq 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
nspawn_pid=
say "passed"
