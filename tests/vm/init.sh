#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the test machine (busybox sh). Mounts what LUO programs and luod need, the 9p
# share at /share, counts boots in /share/boot-count, runs /share/scenario.sh with the boot
# number (its status goes to /share/boot-N.status), then ends the machine. A scenario that
# kexecs never returns: the next kernel runs this again with the next boot number.
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The image has no /dev/console of its own (it is made without root): the console now.
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm /sys/kernel/debug /share
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /share; then
    echo "luo-vm: cannot mount the 9p share"
    reboot -f
fi
boot=$(( $(cat /share/boot-count 2>/dev/null || echo 0) + 1 ))
echo "$boot" >/share/boot-count
echo "luo-vm: boot $boot, kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime) s, command line: $(cat /proc/cmdline)"
status=0
if [ -x /share/scenario.sh ]; then
    /share/scenario.sh "$boot"
    status=$?
fi
echo "$status" >/share/boot-$boot.status
echo "luo-vm: boot $boot: the scenario ended with status $status"
sync
reboot -f
