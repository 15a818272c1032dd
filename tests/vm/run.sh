#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one scenario (scenarios/*.sh) on the LUO kernel under QEMU or, with --model, on
# luo-kernel-model with the preload library: the same script, the same programs, the same
# results. The scenario runs at every boot with the boot number (init.sh in the machine,
# model-init.sh on the model) and writes into a share, WORK/share: results/, a verdict.
#   run.sh --work WORK --build BUILD_DIR [--model] [--selftests] [--initrd IMG] [--timeout S]
#          [--append ARGS] [--memory MIB] [--fragment FILE]... [--console] SCENARIO
# In QEMU: the kernel comes from the cache (built on first use), the initramfs is IMG or is
# built from BUILD_DIR, and the share also holds the kexec payload (the same bzImage and
# initramfs). The log is WORK/console.log (QEMU's serial console) or WORK/model.log.
# Exit status: 0 when the scenario's verdict is PASS, 1 otherwise (its failure, a timeout, a
# QEMU failure).
set -euo pipefail
vm_tag=run.sh
source "$(dirname "$0")/lib.sh"

work= initrd= build= model=0 with_selftests=0 timeout=300 append= memory=1024 scenario= console=()
fragments=()
while (($#)); do
    case $1 in
        --work) work=$2; shift 2 ;;
        --build) build=$(realpath "$2"); shift 2 ;;
        --model) model=1; shift ;;
        --initrd) initrd=$(realpath "$2"); shift 2 ;;
        --selftests) with_selftests=1; shift ;;
        --timeout) timeout=$2; shift 2 ;;
        --append) append=$2; shift 2 ;;
        --memory) memory=$2; shift 2 ;;
        --fragment) fragments+=(--fragment "$2"); shift 2 ;;
        --console) console=(--console); shift ;;
        -*) echo "run.sh: unknown option '$1'" >&2; exit 2 ;;
        *) scenario=$(realpath "$1"); shift ;;
    esac
done
[[ -n $work && -n $scenario && -n $build ]] || { echo "usage: run.sh --work WORK --build BUILD_DIR [options] SCENARIO" >&2; exit 2; }

rm -rf "$work"
mkdir -p "$work/share"
work=$(realpath "$work")
share=$work/share
cp "$scenario" "$share/scenario.sh"
cp "$vm_dir/scenario-lib.sh" "$share/scenario-lib.sh"
chmod 0755 "$share/scenario.sh"
selftests=
((with_selftests)) && selftests=$("$vm_dir/kernel.sh" selftests)/bin
name=$(basename "$scenario" .sh)

finish() {
    local boots
    boots=$(cat "$share/boot-count" 2>/dev/null || echo 0)
    if (($1 == 124)); then
        tail -30 "$2" >&2
        fail "$name did not end within ${timeout}s ($boots boots)"
    elif (($1 != 0)); then
        tail -30 "$2" >&2
        fail "$name: the machine failed with status $1 ($boots boots)"
    fi
    verdict=$(cat "$share/verdict" 2>/dev/null || echo "no verdict")
    say "$name ended after $boots boots: $verdict"
    [[ $verdict == PASS ]] || { tail -40 "$2" >&2; fail "$name: $verdict (log: $2)"; }
}

if ((model)); then
    # The model's root must be short: socket paths are limited to 107 bytes.
    root=$(mktemp -d /tmp/luo-model.XXXXXX)
    vm_cleanup_paths+=("$root")
    ln -s "$root" "$work/root"
    mkdir -p "$work/bin"
    for program in luo-kernel-model luod luoctl luo-vmm-client luo-kexec-demo luo-cache-service luo-do-kexec luo-conformance; do
        path=$(find "$build" -path "$build/asan" -prune -o -type f -name "$program" -perm -u+x -print -quit)
        [[ -n $path ]] && ln -s "$path" "$work/bin/$program"
    done
    preload=$(find "$build" -path "$build/asan" -prune -o -name libluo-model-preload.so -print -quit)
    [[ -x $work/bin/luo-kernel-model && -n $preload ]] || fail "no luo-kernel-model or preload library under $build"
    # The next kernel: a model image (kernel/kexec_image.cpp), loaded without an initramfs.
    printf 'LUO-KERNEL-MODEL-IMAGE\nprofile=7.2\nrelease=7.2.13-luo-model\n' >"$share/model-image"
    cat >"$work/environment" <<ENV
export LUO_SHARE='$share' LUO_SELFTESTS='$selftests' LD_PRELOAD='$preload'
export LUO_NEXT_KERNEL='$share/model-image' LUO_NEXT_INITRD= LUO_NEXT_CMDLINE='kho=on liveupdate=on $append'
export PATH='$work/bin':"\$PATH"
ENV
    model_pid=
    stop_model() { [[ -n $model_pid ]] && kill "$model_pid" 2>/dev/null && wait "$model_pid" 2>/dev/null; true; }
    vm_cleanup_hooks+=(stop_model)
    say "running $name on luo-kernel-model (timeout ${timeout}s, log $work/model.log)"
    "$work/bin/luo-kernel-model" --root "$root" --profile 7.2 --release 7.2.13-luo-model \
        --cmdline "kho=on liveupdate=on $append" --init "exec '$vm_dir/model-init.sh' '$work'" >"$work/model.log" 2>&1 &
    model_pid=$!
    rc=124
    for _ in $(seq $((timeout * 10))); do
        [[ -e $share/done ]] && { rc=0; break; }
        kill -0 "$model_pid" 2>/dev/null || { rc=1; break; }
        sleep 0.1
    done
    stop_model
    model_pid=
    finish "$rc" "$work/model.log"
    exit 0
fi

kernel=$("$vm_dir/kernel.sh" "${fragments[@]}" kernel)/bzImage
if [[ -z $initrd ]]; then
    selftest_args=()
    [[ -n $selftests ]] && selftest_args=(--selftests "$selftests")
    "$vm_dir/initramfs.sh" "$work/initrd.img" --build "$build" "${selftest_args[@]}"
    initrd=$work/initrd.img
fi
cp "$kernel" "$share/bzImage"
cp "$initrd" "$share/initrd.img"
say "booting $name in QEMU (timeout ${timeout}s, log $work/console.log)"
rc=0
"$vm_dir/boot.sh" --kernel "$share/bzImage" --initrd "$share/initrd.img" --share "$share" --memory "$memory" \
    --timeout "$timeout" --append "$append" --log "$work/console.log" "${console[@]}" || rc=$?
finish "$rc" "$work/console.log"
