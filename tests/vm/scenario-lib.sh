# SPDX-License-Identifier: Apache-2.0
# Sourced by the scenarios, in the test machine (busybox sh; init.sh) or on the model
# (run.sh --model; model-init.sh, which sets the LUO_* variables): results in the share, the
# kexec into the next kernel, a system bus and luod.
boot=${1:-1}
share=${LUO_SHARE:-/share}
selftests=${LUO_SELFTESTS:-/usr/libexec/luo-selftests}
results=$share/results
mkdir -p "$results"

log() { echo "scenario: $*"; }

# record NAME COMMAND...: runs COMMAND, its output shown on the console as it comes and kept in
# results/NAME.log, its exit status in results/NAME.rc (none if a kexec ended it).
record() {
    name=$1
    shift
    log "run $name: $*"
    rm -f "$results/$name.rc"
    { "$@"; echo $? >"$results/$name.rc"; } 2>&1 | tee "$results/$name.log" | sed "s/^/  $name| /"
    rc=$(cat "$results/$name.rc" 2>/dev/null || echo none)
    log "$name exited with status $rc"
    [ "$rc" = 0 ]
}

# The scenario's verdict, read by the host: "PASS" or "FAIL: why". The first FAIL stays.
pass() { [ -e "$share/verdict" ] || echo PASS >"$share/verdict"; }
fail() {
    log "FAIL: $*"
    if grep -q '^FAIL' "$share/verdict" 2>/dev/null; then return; fi
    echo "FAIL: $*" >"$share/verdict"
}

# The kexec: in the machine into the same kernel and initramfs with this boot's command line;
# on the model into a model image.
kexec_again() {
    sync
    if [ -n "${LUO_NEXT_KERNEL:-}" ]; then
        luo-do-kexec "$LUO_NEXT_KERNEL" ${LUO_NEXT_INITRD:+"$LUO_NEXT_INITRD"} --append "$LUO_NEXT_CMDLINE"
    else
        luo-do-kexec "$share/bzImage" "$share/initrd.img"
    fi
    fail "luo-do-kexec returned: the kexec did not happen"
}

start_system_bus() {
    mkdir -p /run/dbus
    dbus-daemon --config-file=/etc/luo-vm-system-bus.conf --fork --nopidfile ||
        { fail "dbus-daemon did not start"; return 1; }
    export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
}

# start_luod [EXTRA CONFIG LINES FILE]: luod on the real /dev/liveupdate, ready when luoctl answers.
start_luod() {
    cp /etc/luod/luod.conf /run/luod.conf
    [ -n "${1:-}" ] && cat "$1" >>/run/luod.conf
    luod --root / --config /run/luod.conf >"$share/luod-boot-$boot.log" 2>&1 &
    luod_pid=$!
    i=0
    while ! luoctl status >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 $luod_pid 2>/dev/null; then
            cat "$share/luod-boot-$boot.log"
            fail "luod did not come up"
            return 1
        fi
        sleep 0.1
    done
    log "luod is up (pid $luod_pid)"
}
