#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The scale benchmark on the real kernel (docs/performance.md "100,000 sessions on the real
# kernel"): luod in the test machine (Linux 7.2 under QEMU TCG, tests/vm/README.md) holds
# SESSIONS sessions with FILES memfds each, carries them across a real kexec, and every one
# comes back; then the figures, from the guest (results/*.log) and from the host's stamps
# of the console (the kernel's part of the kexec).
#   tests/vm/scale/run.sh --work DIR --build BUILD_DIR [--sessions N] [--files F]
#                         [--data-every K] [--claim-every C] [--memory MIB] [--timeout S]
#                         [--log-level L]
# Defaults: 100,000 sessions, 10 files each (1,000,000 files), a page of data in every 10th
# session's first file, every session claimed after the kexec (--claim-every C: every C-th,
# with all its files; the others stay with luod), 12,288 MiB of guest memory (8,192 ran out at
# 89,000 sessions with 890,000 files; the next kernel
# keeps about 4.5 KB per preserved memfd until it is retrieved: 4.5 GB for 1,000,000).
# QEMU runs under nice (TCG: one core).
# Exit status: 0 when every session and file came back.
set -euo pipefail
vm_tag=scale
source "$(dirname "$0")/../lib.sh"

work= build= sessions=100000 files=10 every=10 claim_every=1 memory=12288 timeout= log_level=info
while (($#)); do
    case $1 in
        --work) work=$2; shift 2 ;;
        --build) build=$(realpath "$2"); shift 2 ;;
        --sessions) sessions=$2; shift 2 ;;
        --files) files=$2; shift 2 ;;
        --data-every) every=$2; shift 2 ;;
        --claim-every) claim_every=$2; shift 2 ;;
        --log-level) log_level=$2; shift 2 ;;
        --memory) memory=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        *) echo "usage: tests/vm/scale/run.sh --work DIR --build BUILD_DIR [--sessions N] [--files F] [--data-every K] [--claim-every C] [--memory MIB] [--timeout S] [--log-level L]" >&2; exit 2 ;;
    esac
done
[[ -n $work && -n $build ]] || { echo "usage: tests/vm/scale/run.sh --work DIR --build BUILD_DIR [options]" >&2; exit 2; }
[[ -x $build/bench/luo-vm-scale ]] || fail "no $build/bench/luo-vm-scale: cmake --build $build --target luod luoctl luo-do-kexec luo-vm-scale"
# Under TCG on a busy machine a session and its files cost up to 0.25 s to create and the
# next kernel's boot, and a claim up to 0.3 s (10,000 sessions: 740 s, then 142 s of
# kexec, then 0.15 s a claim): a generous limit by default.
# The next kernel's first open of the device is quadratic in sessions (scenario.sh).
[[ -n $timeout ]] || timeout=$((900 + sessions / 4 + sessions / claim_every / 3 + (sessions / 1000) * (sessions / 1000)))
mkdir -p "$work"
work=$(realpath "$work")

"$vm_dir/kernel.sh" kernel >/dev/null
"$vm_dir/initramfs.sh" "$work/initrd.img" --build "$build" --bin "$build/bench/luo-vm-scale"
# The guest's clock: boot.sh gives it the host's TSC frequency.
rc=0
nice -n 10 "$vm_dir/run.sh" --work "$work/vm" --build "$build" --initrd "$work/initrd.img" --memory "$memory" \
    --timeout "$timeout" --append "SCALE_SESSIONS=$sessions SCALE_FILES=$files SCALE_DATA_EVERY=$every SCALE_CLAIM_EVERY=$claim_every SCALE_LOG_LEVEL=$log_level" \
    "$vm_dir/scale/scenario.sh" || rc=$?

log=$work/vm/console.log
results=$work/vm/share/results
# The host's seconds (QEMU started at 0) of the first console line matching a pattern.
stamp() { grep -E -m1 "$1" "$log" | sed -E 's/^\[ *([0-9.]+)\].*/\1/'; }
figures() { cat "$results"/*.log 2>/dev/null | awk '$1 == "figure" { print $2, $3 }'; }
value() { figures | awk -v n="$1" '$1 == n { v = $2 } END { print v }'; }
span() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }' || echo "-"; }

rebooting=$(stamp "luod\\| .*state: preparing -> rebooting")
new_kernel=$(stamp "Starting new kernel")
boot2=$(stamp "luo-vm: boot 2")
luod2=$(grep -E "scale-mark: starting luod" "$log" | sed -n '2s/^\[ *\([0-9.]*\)\].*/\1/p')
answers=$(stamp "scale-mark: luod answers")

cat <<REPORT

==== luod with $sessions sessions and $((sessions * files)) files on Linux 7.2.13 under QEMU TCG ($memory MiB, 1 vCPU)
(TCG: every figure is several times what a real machine shows; guest times from the guest's clocks, the kernel's
 part of the kexec from the host's stamps of the console lines)
before the update, in the guest:
  the first 1,000 sessions: created $(value create_sessions_per_s)/s, then their files preserved $(value preserve_files_per_s)/s; the rest, each created with its files: $(value rest_sessions_per_s) sessions/s ($(value rest_s) s); $(value data_pages) pages of data
  luod's RSS: $(value luod_rss_start_bytes) B at start, $(value luod_rss_all_bytes) B with everything
  luod's RSS per session $(value luod_rss_per_session_bytes) B, per file $(value luod_rss_per_file_bytes) B (the first 1,000); per session with its files over all $(value luod_rss_per_session_with_files_bytes) B
  ListSessionsPage (1,000 a page): $(value list_paged_sessions) sessions in $(value list_paged_s) s, slowest page $(value list_slowest_page_ms) ms
  Manager.Sessions read in $(value property_sessions_ms) ms, Manager.State $(value property_state_ms) ms, GetSession + Files $(value property_files_ms) ms
  CreateSession answered in $(value create_call_ms) ms; SessionNew came $(value signal_session_new_ms) ms after the call, SessionRemoved $(value signal_session_removed_ms) ms after Close
  luoctl sessions / status / check: $(sed -n 's/^luoctl: \([0-9.]* s\), \([0-9]*\) lines.*/\1 (\2 lines)/p' "$results/luoctl-sessions.log" 2>/dev/null) / $(sed -n 's/^luoctl: \([0-9.]* s\).*/\1/p' "$results/luoctl-status.log" 2>/dev/null) / $(sed -n 's/^luoctl: \([0-9.]* s\).*/\1/p' "$results/luoctl-check.log" 2>/dev/null)
the update:
  luod's share before the reboot: $(value share_before_ms) ms (PrepareForUpdate(true) -> reboot(2) called; barrier $(value barrier_ms) ms)
  the kernel (host stamps): luod's 'rebooting' line -> 'Starting new kernel' $(span "$rebooting" "$new_kernel"); -> boot 2's /init $(span "$new_kernel" "$boot2"); /init -> luod started $(span "$boot2" "$luod2")
  luod's share after the boot: $(value share_after_ms) ms (its first start -> ready); luod started -> it answered a call $(value wait_ready_s) s (guest clock), $(span "$luod2" "$answers") (host); luod's CPU time to then $(value luod_user_cpu_to_ready_s) s in luod, $(value luod_system_cpu_to_ready_s) s in the kernel
  luod's share: $(value share_ms) ms in all
after the boot:
  the report with every session's outcome written $(value background_restore_ms) ms after ready; LastUpdate meanwhile: first read $(value last_update_first_read_ms) ms, slowest $(value last_update_slowest_read_ms) ms
  the report: $(value report_sessions) sessions, $(value report_files) files, $(value report_outcomes) outcomes; luod's RSS then $(value luod_rss_restored_bytes) B
  ListSessionsPage after the update: $(value list_after_sessions) sessions in $(value list_after_s) s
  claimed $(value claimed_sessions) sessions, retrieved $(value retrieved_files) files, $(value verified_pages) pages checked, $(value wrong_files) wrong: $(value claim_retrieve_finish_s) s; incoming sessions left (not claimed) $(value sessions_left)
  QEMU: $(tail -1 "$log" | sed -E 's/^\[ *([0-9.]+)\].*/\1/') s of host time in all
REPORT
grep "scale-mark:.*memory" "$log" | sed 's/^/  /' || true
exit "$rc"
