#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The scale scenario (tests/vm/scale/run.sh, docs/performance.md "100,000 sessions on the real
# kernel"): luod on the real /dev/liveupdate holds SCALE_SESSIONS sessions with SCALE_FILES
# memfds each (file f0 of every SCALE_DATA_EVERY-th session holds a page, the rest are empty),
# created through its D-Bus API by luo-vm-scale as a service would; listing, properties and
# signals are timed while it holds them; then luoctl load + update, a real kexec; in boot 2
# luod restores, every session is claimed, every file retrieved and checked, every session
# finished. Figures go to results/*.log as "figure NAME VALUE" lines; luod's lines about the
# reboot and its readiness reach the console, where the host stamps them.
. "$(dirname "$0")/scenario-lib.sh"
sessions=${SCALE_SESSIONS:-1000}
files=${SCALE_FILES:-10}
every=${SCALE_DATA_EVERY:-10}
claim_every=${SCALE_CLAIM_EVERY:-1}
up() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "scale-mark: $* (uptime $(up))"; }

# Root raises what the defaults would refuse: luod holds one fd per session (plus the
# manifest's and the bus's), and the kernel holds a struct file per preserved memfd.
if [ -z "${LUO_NEXT_KERNEL:-}" ]; then  # in the machine, not on the model (the host's own limits)
    echo 4194304 >/proc/sys/fs/nr_open
    echo 8388608 >/proc/sys/fs/file-max
fi
ulimit -n $((sessions + 65536)) || { fail "cannot raise RLIMIT_NOFILE to $((sessions + 65536))"; exit 1; }

# luod at its default log level (info: a few lines per session), into tmpfs; the lines that
# mark the reboot and the restore also reach the console, stamped by the host.
start_scale_luod() {
    cp /etc/luod/luod.conf /run/luod.conf
    printf '[Daemon]\nLogLevel=%s\n[Update]\nUnclaimedTimeoutSec=0\n' "${SCALE_LOG_LEVEL:-info}" >>/run/luod.conf
    mkfifo /run/luod.fifo
    awk -v out="/run/luod-boot-$boot.log" '{ print > out }
        /rebooting|ready:|restored|walked|start-up:|segments retrieved|segments of|error|warning/ { print "luod| " $0 > "/dev/console"; fflush("/dev/console") }' \
        </run/luod.fifo &
    mark "starting luod"
    luod --root / --config /run/luod.conf >/run/luod.fifo 2>&1 &
    luod_pid=$!
}
save_luod_log() {
    { head -60 "/run/luod-boot-$boot.log"; echo ...; tail -60 "/run/luod-boot-$boot.log"; } >"$share/luod-boot-$boot.log" 2>/dev/null
}
memory() { grep -E "MemTotal|MemFree|MemAvailable|Shmem:|Slab|SUnreclaim" /proc/meminfo | tr -s ' ' | tr '\n' ' '; }

start_system_bus || exit 1
mark "boot $boot, memory: $(memory)"
case $boot in
1)
    start_scale_luod
    record ready-1 luo-vm-scale wait-ready --limit 120 --luod-pid "$luod_pid" || { fail "luod did not answer"; exit 1; }
    mark "holding $sessions sessions with $files files each"
    if ! record hold luo-vm-scale hold --sessions "$sessions" --files "$files" --data-every "$every" --luod-pid "$luod_pid"; then
        save_luod_log
        fail "luod did not take $sessions sessions with $files files each"
        exit 1
    fi
    mark "held; memory: $(memory)"
    record probe luo-vm-scale probe --sessions "$sessions" --luod-pid "$luod_pid" || fail "probe: listing, properties or signals failed"
    record luoctl-sessions luo-vm-scale timeit luoctl sessions || fail "luoctl sessions failed"
    record luoctl-status luo-vm-scale timeit luoctl status || fail "luoctl status failed"
    luoctl load "$share/bzImage" --initrd "$share/initrd.img" --reuse-cmdline || { fail "luoctl load failed"; exit 1; }
    record luoctl-check luo-vm-scale timeit luoctl check || fail "luoctl check failed"
    save_luod_log
    mark "update"
    sync
    luoctl update --wait --timeout 3600
    save_luod_log
    fail "luoctl update returned: no kexec happened (status $?)"
    ;;
2)
    mark "kernel up, memory: $(memory)"
    start_scale_luod
    # The kernel reads every session that came across at the first open of the device, in
    # time quadratic in their number (Linux 7.2's duplicate-name check: 15 s at 10,000 under
    # TCG, some 25 minutes at 100,000): luod is ready only after it.
    record ready-2 luo-vm-scale wait-ready --limit $((600 + (sessions / 1000) * (sessions / 1000))) --luod-pid "$luod_pid" || { save_luod_log; fail "luod did not answer after the kexec"; exit 1; }
    mark "luod answers"
    if ! record verify luo-vm-scale verify --sessions "$sessions" --files "$files" --data-every "$every" --claim-every "$claim_every" --luod-pid "$luod_pid" --limit 3600; then
        save_luod_log
        fail "not every session and file came back (results/verify.log)"
        exit 1
    fi
    mark "verified; memory: $(memory)"
    record luoctl-report luoctl report >/dev/null || fail "luoctl report failed"
    save_luod_log
    grep -q "Result: *success" "$results/luoctl-report.log" || fail "luoctl report shows no success"
    pass
    ;;
*)
    fail "boot $boot: the scenario does one kexec"
    ;;
esac
