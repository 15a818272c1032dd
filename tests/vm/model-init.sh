#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The "init" of a luo-kernel-model boot for run.sh --model: what init.sh is in the machine.
# Runs WORK/share/scenario.sh with the boot number, every program preloaded with
# libluo-model-preload.so (WORK/environment); a scenario that returns ends the run
# (WORK/share/done), one that kexecs is ended by the model and runs again in the next boot.
work=$1
. "$work/environment"
boot=$LUO_MODEL_BOOT
echo "$boot" >"$LUO_SHARE/boot-count"
echo "luo-model: boot $boot, kernel $(cat "$LUO_MODEL_ROOT/proc/sys/kernel/osrelease")"
"$LUO_SHARE/scenario.sh" "$boot"
status=$?
echo "$status" >"$LUO_SHARE/boot-$boot.status"
echo "luo-model: boot $boot: the scenario ended with status $status"
touch "$LUO_SHARE/done"
