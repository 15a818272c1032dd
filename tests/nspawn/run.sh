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
test_name=nspawn-test
source "$src/tests/nspawn/lib.sh"
model_root=$work/model
stop_model() { [[ -n ${model_pid:-} ]] && { kill "$model_pid" 2>/dev/null; wait "$model_pid" 2>/dev/null; }; }
cleanup_hooks+=(stop_model)
prepare_rootfs

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

make_cgroups

# --- the kernel model, outside the container ---
"$build/kernel/luo-kernel-model" --root "$model_root" --kill-cgroup "$container_cgroup" --log-level info \
    >"$work/model.log" 2>&1 &
model_pid=$!
for _ in $(seq 500); do [[ -s $model_root/proc/sys/kernel/random/boot_id ]] && break; sleep 0.02; done
boot_id() { cat "$model_root/proc/sys/kernel/random/boot_id" 2>/dev/null || true; }
[[ -n $(boot_id) ]] || fail "the kernel model did not start"

# --- boot 1 ---
boot_container --bind="$model_root:/var/lib/luo-model"
say "container booted: systemd $(in_container systemctl --version | awk 'NR == 1 { print $2 }')"
wait_for "luod to be active" in_container systemctl is-active --quiet luod.service
status=$(in_container systemctl show -p StatusText --value luod.service)
[[ $status == *"sessions, kernel: model"* ]] || fail "luod's READY status is '$status'"
say "1. luod.service is active through READY=1 (status: $status)"
wait_for "the example service's session" in_container luoctl session cache-demo
# journald stores what luod sent a moment later: wait for it.
wait_for "a LUO_SESSION field from luod in the journal" bash -c \
    "nsenter -t $leader -a journalctl -u luod.service -o json --no-pager | grep -q '\"LUO_SESSION\":\"cache-demo\"'"
say "   the journal carries luod's structured fields (LUO_SESSION=cache-demo)"
# LogControl1 through systemctl, which finds luod by its unit's BusName=.
in_container systemctl service-log-level luod.service debug
[[ $(in_container systemctl service-log-level luod.service) == debug ]] ||
    fail "systemctl service-log-level luod.service does not read back debug"
in_container systemctl service-log-level luod.service info
wait_for "luod's log level change in the journal" bash -c \
    "nsenter -t $leader -a journalctl -u luod.service --no-pager | grep -q 'log level set to debug by uid 0'"
say "   systemctl service-log-level luod.service debug works (org.freedesktop.LogControl1)"

# --- the real bus and luod enforce access ---
set +e
in_container setpriv --reuid=nobody --regid=nogroup --clear-groups luoctl update >/dev/null 2>&1
denied=$?
in_container setpriv --reuid=nobody --regid=nogroup --clear-groups luoctl status >/dev/null 2>&1
allowed=$?
set -e
[[ $denied -eq 4 ]] || fail "nobody's luoctl update exited $denied, not 4 (access denied)"
[[ $allowed -eq 0 ]] || fail "nobody's luoctl status exited $allowed"
say "2. luod refuses Update to nobody (exit 4; no polkit rule allows it) and lets it read the status"

# --- kill -9: systemd restarts luod, the fd store keeps every session ---
# The object path is opaque and new with each luod (architecture.md, privacy): all else must hold.
before=$(in_container luoctl session cache-demo --json | grep -v '"path":')
old_pid=$(in_container systemctl show -p MainPID --value luod.service)
in_container systemctl kill --signal=KILL luod.service
wait_for "luod to be restarted" bash -c \
    "[[ \$(nsenter -t $leader -a systemctl show -p MainPID --value luod.service) != $old_pid ]] &&
     nsenter -t $leader -a systemctl is-active --quiet luod.service"
after=$(in_container luoctl session cache-demo --json | grep -v '"path":')
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
boot_container --bind="$model_root:/var/lib/luo-model"
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

poweroff_container
say "passed"
