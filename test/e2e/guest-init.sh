#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# PID 1 of the test guest: mount the basics, load the modules, run the
# scenario the test appended as /scenario.sh (a second cpio archive), print
# its exit status on the console and power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmp /tmp
for m in $(cat /etc/modules-needed); do
	modprobe "$m" 2>/dev/null
done
echo "SPUR-GUEST: booted $(uname -r)"
status=127
if [ -x /scenario.sh ]; then
	/scenario.sh
	status=$?
fi
echo "SPUR-GUEST: exit $status"
sync
poweroff -f
