#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The systemd VM test's guest side (luo-vm-scenario.service, after multi-user.target), run
# at every boot of one machine with systemd as PID 1:
#   boot 1: luod, a VMM-like client of luod, a plain fd-store unit and a LUOSession= unit
#           each hold a memfd; `luoctl update` (the systemd strategy: kexec.target)
#   boot 2: everything came back; the same again through a plain `systemctl kexec`
#   boot 3: everything came back again; KExecCount is 2; the machine ends
# The kernel has no ACPI, so a poweroff only halts and QEMU would wait for its timeout: the
# machine ends with a reboot, which -no-reboot turns into QEMU's exit.
# Results go to the 9p share (/share): boot-N.log, verdict (PASS or FAIL: why).
set -u
share=/share
mkdir -p "$share"
mountpoint -q "$share" || mount -t 9p -o trans=virtio,version=9p2000.L share "$share" || exit 1
boot=$(( $(cat "$share/boot-count" 2>/dev/null || echo 0) + 1 ))
echo "$boot" >"$share/boot-count"
exec > >(tee "$share/boot-$boot.log") 2>&1

fail() { echo "FAIL: $*"; echo "FAIL (boot $boot): $*" >"$share/verdict"; sync; systemctl reboot; exit 1; }
step() { echo "==== boot $boot: $*"; }
wait_for() {  # wait_for WHAT COMMAND...: up to 120 s
    local what=$1 i
    shift
    for ((i = 0; i < 600; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    fail "timed out waiting for $what"
}
unit_says() { journalctl -b -o cat -u "$1" | grep -qF -- "$2"; }
kexec_count() { busctl get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager KExecCount | awk '{print $2}'; }

# luoctl load, whose D-Bus call may time out (25 s) while luod is still loading on a slow
# machine (TCG next to other builds: seen once at load 8): then the kernel must be loaded soon.
load_kernel() {
    local out
    out=$(luoctl load /boot/vmlinuz-luo --reuse-cmdline 2>&1) && { echo "$out"; return 0; }
    echo "$out"
    [[ $out == *Error.Timeout* || $out == *NoReply* ]] || fail "luoctl load failed"
    wait_for "luod to finish loading the kernel" sh -c 'luoctl status | grep -Eq "^Kexec loaded: +yes"'
}

# report_says PATTERN...: luoctl report has a line matching each.
report_says() {
    local report pattern
    report=$(luoctl report)
    for pattern; do
        grep -q "^$pattern" <<<"$report" || fail "luoctl report has no line '$pattern'"
    done
}

# The luod under test: the package's /usr/sbin/luod, or the build tree's (run.sh says which).
check_luod_binary() {
    local want pid exe
    want=$(cat /opt/luod/luod-path)
    pid=$(systemctl show -p MainPID --value luod.service)
    exe=$(readlink "/proc/$pid/exe")
    [[ $exe == "$want" ]] || fail "luod.service runs '$exe' (pid $pid), not $want"
    echo "luod.service runs $exe; $(dpkg-query -W -f '${Package} ${Version} ' luod libluo1 2>/dev/null || echo 'no luod package')"
}

systemd_major=$(systemctl --version | head -1 | awk '{print $2}')
systemd_major=${systemd_major%%[.~-]*}
step "systemd $systemd_major, kernel $(uname -r), KExecCount $(kexec_count 2>/dev/null)"

# Before 261 systemd carries nothing across a kexec: luod's `auto` is `orderly` there (its
# unit has orderly-kexec.conf): systemd stops the services, luod stays through
# systemd-shutdown's killing spree holding its sessions until systemd-shutdown's reboot().
# Both ways to a kexec must carry luod's sessions: luoctl update (with luod's barrier), then
# a plain systemctl kexec (without it); and a plain systemctl kexec that stops luod (the
# drop-in removed): luod then does the kexec itself (direct).
if ((systemd_major < 261)); then
    wait_for "luod" systemctl is-active luod.service
    check_luod_binary
    wait_for "the VMM client" test -s /run/vm1.ready
    luoctl status
    if ((boot > 1)); then
        step "after kexec #$((boot - 1)): what came back"
        grep -q '^restored' /run/vm1.ready || fail "the VMM did not restore its memory: $(cat /run/vm1.ready)"
        luoctl report
        luoctl report | grep -q "Result: *success" || fail "luoctl report shows no success"
        # Who started each kexec: luoctl update, then two plain systemctl kexecs.
        case $boot in
            2) report_says "Strategy: *orderly" "Started by: *luod" ;;
            3) report_says "Strategy: *orderly" "Started by: *systemctl kexec" ;;
            4) report_says "Strategy: *direct" "Started by: *systemctl kexec" ;;
        esac
        # The previous boot's shutdown, as systemd logged it before the journal stopped: no
        # stop job for luod, and luod stayed for the reboot.
        journalctl -b -1 -o short-monotonic -u luod.service --no-pager | tail -n 15 || true
    fi
    case $boot in
        1)
            verify=$(systemd-analyze verify --man=no luod.service 2>&1) || fail "systemd-analyze verify luod.service: $verify"
            [[ $verify != *luod* ]] || fail "systemd-analyze verify luod.service: $verify"
            luoctl check | grep -i strategy
            luoctl check | grep -qi "orderly" || fail "auto is not the orderly strategy on systemd $systemd_major"
            step "luoctl update on systemd $systemd_major: the orderly strategy"
            load_kernel
            sync
            luoctl update --wait --timeout 300
            fail "luoctl update returned: no kexec (status $?)"
            ;;
        2)
            step "a plain systemctl kexec on systemd $systemd_major"
            load_kernel
            sync
            systemctl kexec
            sleep 600
            fail "systemctl kexec returned: no kexec"
            ;;
        3)
            # Without the drop-in the kexec stops luod (as on an installation that lacks
            # it): luod, stopped by it, does the kexec itself, holding its sessions.
            step "a plain systemctl kexec that stops luod (orderly-kexec.conf removed)"
            rm /etc/systemd/system/luod.service.d/orderly-kexec.conf
            systemctl daemon-reload
            systemctl show -p Conflicts luod.service | grep -q shutdown.target ||
                fail "luod.service does not conflict with shutdown.target without the drop-in"
            load_kernel
            sync
            systemctl kexec
            sleep 600
            fail "systemctl kexec returned: no kexec"
            ;;
        *)
            echo PASS >"$share/verdict"
            sync
            systemctl reboot
            ;;
    esac
    exit 0
fi
wait_for "luod" systemctl is-active luod.service
check_luod_binary
wait_for "the VMM client" test -s /run/vm1.ready
wait_for "the fd-store unit" systemctl is-active luo-vm-fdstore.service
wait_for "the LUOSession= unit" systemctl is-active luo-vm-luosession.service
luoctl status

if ((boot > 1)); then
    step "after kexec #$((boot - 1)): what came back"
    [[ $(kexec_count) == $((boot - 1)) ]] || fail "KExecCount is $(kexec_count), want $((boot - 1))"
    wait_for "luod's view of KExecCount" unit_says luod.service "systemd counts $((boot - 1)) kexec"
    grep -q '^restored' /run/vm1.ready || fail "the VMM did not restore its memory: $(cat /run/vm1.ready)"
    unit_says luo-vm-fdstore.service "carried blob: fdstore-payload" || fail "the plain unit's fd store did not come back"
    unit_says luo-vm-luosession.service "carried demo: luosession-payload" ||
        fail "the LUOSession= unit's session did not come back"
    unit_says luo-vm-luosession.service "finished demo" || fail "the LUOSession= unit could not finish its session"
    wait_for "a new LUOSession= session" unit_says luo-vm-luosession.service "preserved demo: luosession-payload"
    luoctl report
    luoctl report | grep -q "Result: *success" || fail "luoctl report shows no success"
    wait_for "systemd's KExecCount in luod's report" sh -c "luoctl report | grep -Eq '^systemd kexecs: +$((boot - 1))\$'"
    # Boot 2 follows luoctl update, boot 3 a plain systemctl kexec, which luod saw but did not start.
    if ((boot == 2)); then
        report_says "Strategy: *systemd" "Started by: *luod"
    else
        report_says "Strategy: *systemd" "Started by: *systemctl kexec"
    fi
    busctl get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager \
        PreviousShutdownStartTimestamp PreviousShutdownFinishTimestamp
    # (A LUOSession= unit started while luod held the device for a call fails with EBUSY and
    # is restarted: not a loss, run.sh reports it.)
    if journalctl -b -o cat | grep -E "will be lost across kexec|Failed to open /dev/liveupdate|Failed to (hand out|create|retrieve) LUO" |
        grep -vE '\.service: Failed to open /dev/liveupdate: Device or resource busy'; then
        fail "the journal says something was lost"
    fi
fi

case $boot in
    1)
        step "luod's units under systemd $(systemctl --version | head -1 | awk '{print $2}')"
        verify=$(systemd-analyze verify --man=no luod.service 2>&1) || fail "systemd-analyze verify luod.service: $verify"
        [[ $verify != *luod* ]] || fail "systemd-analyze verify luod.service: $verify"
        step "luoctl update: the systemd strategy"
        load_kernel
        luoctl check
        sync
        luoctl update --wait --timeout 300
        fail "luoctl update returned: no kexec (status $?)"
        ;;
    2)
        step "a plain systemctl kexec"
        load_kernel
        sync
        systemctl kexec
        sleep 600
        fail "systemctl kexec returned: no kexec"
        ;;
    *)
        echo PASS >"$share/verdict"
        sync
        systemctl reboot
        ;;
esac
