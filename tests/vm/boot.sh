#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boots one QEMU TCG machine (x86_64, one vCPU, no network) and waits for it to end, with a
# hard timeout. Every serial console line is written to the log with the host's seconds
# since QEMU started. The machine ends itself (reboot -f with -no-reboot ends QEMU; the
# kernel panics into an exit with panic=-1).
#   boot.sh --kernel BZIMAGE [--initrd IMG] [--share DIR] [--disk IMG]... [--append ARGS]
#           [--memory MIB] [--timeout SECONDS] [--log FILE] [--console]
# --share exports DIR read-write as the 9p tag "share"; --disk attaches a raw virtio-blk disk
# (the kernel needs virtio-blk for it); --console also copies the log to stdout.
# Exit status: QEMU's, 124 when the timeout ended it, 2 for bad usage.
set -euo pipefail

kernel= initrd= share= append= memory=1024 timeout=120 log=/dev/null console=0
disks=()
while (($#)); do
    case $1 in
        --kernel) kernel=$2; shift 2 ;;
        --initrd) initrd=$2; shift 2 ;;
        --share) share=$2; shift 2 ;;
        --disk) disks+=("$2"); shift 2 ;;
        --append) append=$2; shift 2 ;;
        --memory) memory=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --log) log=$2; shift 2 ;;
        --console) console=1; shift ;;
        *) echo "boot.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ -n $kernel ]] || { echo "usage: boot.sh --kernel BZIMAGE [--initrd IMG] [options]" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "boot.sh: qemu-system-x86_64 is missing (scripts/install-deps.sh test)" >&2; exit 2; }

# The guest kernel (no HPET, no ACPI PM timer) calibrates its TSC against the PIT, which fails
# under TCG on a busy host: it then keeps time in jiffies, or (seen after a kexec at load 8)
# takes the TSC for 30 times slower than it is, and every systemd unit times out. Under TCG
# the guest's TSC is the host's, so the guest is told the host's frequency. Every kexec in
# these machines reuses this command line, so the next kernel is told too.
khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
clock=${khz:+tsc_early_khz=$khz tsc=reliable}
# KHO needs kho=on unless the kernel enables it by default; liveupdate=on turns LUO on.
args=(-machine pc -accel tcg -cpu max -smp 1 -m "$memory" -nodefaults -display none -no-reboot
      -serial stdio -monitor none -nic none
      -kernel "$kernel" -append "console=ttyS0 kho=on liveupdate=on panic=-1 $clock $append")
# Without an initramfs the kernel mounts its root itself (e.g. root=/dev/vda from --disk).
if [[ -n $initrd ]]; then args+=(-initrd "$initrd"); fi
[[ -n $share ]] && args+=(-virtfs "local,path=$share,mount_tag=share,security_model=none,multidevs=remap")
for d in "${disks[@]}"; do args+=(-drive "file=$d,format=raw,if=virtio,cache=unsafe"); done

stamp() {
    local start=${EPOCHREALTIME/./} now line
    while IFS= read -r line || [[ -n $line ]]; do
        now=$(( ${EPOCHREALTIME/./} - start ))
        line=${line%$'\r'}
        printf '[%4d.%03d] %s\n' $((now / 1000000)) $((now % 1000000 / 1000)) "$line"
    done
}

set +e
if ((console)); then
    timeout -k 10 "$timeout" qemu-system-x86_64 "${args[@]}" </dev/null 2>&1 | stamp | tee "$log"
else
    timeout -k 10 "$timeout" qemu-system-x86_64 "${args[@]}" </dev/null 2>&1 | stamp >"$log"
fi
rc=${PIPESTATUS[0]}
exit "$rc"
