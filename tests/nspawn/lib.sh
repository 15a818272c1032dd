# SPDX-License-Identifier: Apache-2.0
# Shared by the container tests (sourced): a Debian 12 rootfs made once by debootstrap and
# cached, an overlay of it per run, cgroups of our own under which nspawn and the
# container's systemd live (so a kexec of the model or the cleanup can end them all), and
# helpers to boot the container and run commands in it. Every missing facility is a failure,
# not a skip: CI must be able to run these tests.
#   test_name=... ; source lib.sh ; prepare_rootfs ; make_cgroups ; boot_container [nspawn args]
start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", n - s }'; }
say() { echo "$test_name [$(elapsed)] $*"; }
fail() {
    echo "$test_name [$(elapsed)] FAIL: $*" >&2
    [[ -n ${work:-} && -f $work/model.log ]] && { echo "--- model log" >&2; tail -20 "$work/model.log" >&2; }
    [[ -n ${leader:-} ]] && nsenter -t "$leader" -a journalctl -b --no-pager -n 60 >&2 2>/dev/null
    exit 1
}

[[ $(id -u) -eq 0 ]] || fail "must run as root"
for tool in systemd-nspawn debootstrap nsenter setpriv flock unshare; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh test installs it)"
done
unified=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[[ -n $unified ]] || fail "no cgroup2 hierarchy is mounted"

cgroup_dirs=()
container_cgroup=
work=$(mktemp -d /var/tmp/luod-nspawn.XXXXXX)
rootfs=$work/root
cgroup_name=luod-nspawn-$$
leader=
nspawn_pid=
cleanup_hooks=()
cleanup() {
    for hook in "${cleanup_hooks[@]}"; do "$hook" || true; done
    # Everything nspawn started, the container's init included, whatever state it is in:
    # killing nspawn alone would leave the container's systemd running.
    [[ -n $container_cgroup && -e $container_cgroup/cgroup.kill ]] && echo 1 >"$container_cgroup/cgroup.kill"
    [[ -n $nspawn_pid ]] && kill -9 "$nspawn_pid" 2>/dev/null
    for _ in $(seq 100); do
        [[ -z $container_cgroup || ! -e $container_cgroup/cgroup.procs ]] && break
        [[ -z $(find "$container_cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null) ]] && break
        sleep 0.05
    done
    # The cgroups nspawn and the container's systemd made under ours, deepest first.
    for d in "${cgroup_dirs[@]}"; do
        [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    mountpoint -q "$rootfs" && umount "$rootfs"
    rm -rf "$work"
    true
}
trap cleanup EXIT

# The rootfs: made once by tests/distros/rootfs-cache.sh (atomic, interrupt-safe, shared
# with the other tests that need a Debian root); each run works on an overlay of it, so the
# cache is never changed.
prepare_rootfs() {
    local cache
    cache=$("$(dirname "${BASH_SOURCE[0]}")/../distros/rootfs-cache.sh" bookworm \
        systemd-sysv dbus libsystemd0 libsdbus-c++1 libspdlog1.10 libfmt9 libinih1 procps util-linux |
        tail -n 1) || fail "no bookworm rootfs (see the messages above)"
    [[ -d $cache ]] || fail "no bookworm rootfs (see the messages above)"
    say "rootfs $cache"
    mkdir -p "$work/upper" "$work/overlay-work" "$rootfs"
    mount -t overlay overlay -o "lowerdir=$cache,upperdir=$work/upper,workdir=$work/overlay-work" "$rootfs" ||
        fail "cannot mount an overlay of the rootfs"
    echo luodtest >"$rootfs/etc/hostname"
}

# A cgroup of our own in every hierarchy (see the test environment notes): nspawn and the
# container's systemd create theirs under it; $container_cgroup is the cgroup2 one.
make_cgroups() {
    local _ mnt type opts path dir controllers p all c list
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
}

# Boots the rootfs with systemd as init; extra arguments go to systemd-nspawn. Sets $leader
# (the container's systemd, as seen from here) once its system bus answers.
boot_container() {
    (
        for d in "${cgroup_dirs[@]}"; do echo $BASHPID >"$d/cgroup.procs"; done
        exec systemd-nspawn -q -D "$rootfs" --boot --register=no --keep-unit --console=passive -M luodtest "$@"
    ) >"$work/nspawn.log" 2>&1 &
    nspawn_pid=$!
    disown  # it may be ended by a kexec of the model: no job report
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

# Powers the container off and waits for nspawn to end.
poweroff_container() {
    in_container systemctl poweroff
    for _ in $(seq 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$nspawn_pid" 2>/dev/null && fail "the container did not power off"
    nspawn_pid=
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
