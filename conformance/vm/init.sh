#!/bin/sh
# /init of the cgroup v2 test VM (busybox sh; the kernel runs it from the initramfs).
#
# Stage 1 (on the initramfs): pivot_root(2) refuses to move away from the initial rootfs,
# and berth pivots into every container, so copy the initramfs into a tmpfs and
# switch_root there, re-running this script as stage 2.
# Stage 2: mount proc, sys, dev, tmp and cgroup2 (alone: a pure v2 host), enable every
# controller in the root's cgroup.subtree_control, run /vm/scenario.sh with its output
# between the markers on the serial console, then power off. Whatever happens, the VM
# powers off: a stage that fails prints `FAIL vm-init: why` inside the markers.

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH

BEGIN_MARK='==== berth-vm results begin ===='
END_MARK='==== berth-vm results end ===='

halt() {
    sync
    poweroff -f
    # poweroff -f returns only on failure; exiting PID 1 panics, and panic=-1 with
    # -no-reboot ends QEMU.
    exit 1
}

fatal() {
    echo "$BEGIN_MARK"
    echo "FAIL vm-init: $*"
    echo "$END_MARK"
    halt
}

if [ "$BERTH_VM_STAGE" != 2 ]; then
    mount -t proc proc /proc || fatal "mount proc"
    mount -t devtmpfs devtmpfs /dev 2>/dev/null
    exec </dev/console >/dev/console 2>&1
    mkdir -p /newroot
    mount -t tmpfs -o size=700m,mode=755 tmpfs /newroot || fatal "mount tmpfs for the new root"
    for entry in /*; do
        case "$entry" in
        /newroot | /proc | /dev) ;;
        *) cp -a "$entry" /newroot/ || fatal "copy $entry to the new root" ;;
        esac
    done
    mkdir -p /newroot/proc /newroot/dev /newroot/sys /newroot/tmp /newroot/run
    umount /dev 2>/dev/null
    umount /proc
    BERTH_VM_STAGE=2
    export BERTH_VM_STAGE
    exec switch_root /newroot /init
    fatal "switch_root failed"
fi

mount -t proc proc /proc || fatal "mount proc"
mount -t sysfs sysfs /sys || fatal "mount sysfs"
mount -t devtmpfs devtmpfs /dev || fatal "mount devtmpfs"
exec </dev/console >/dev/console 2>&1
# Kernel messages (an OOM kill report, say) must not land inside a result line.
echo 1 >/proc/sys/kernel/printk
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp || fatal "mount /tmp"
mount -t tmpfs -o mode=755 tmpfs /run || fatal "mount /run"
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fatal "mount cgroup2 at /sys/fs/cgroup"
for c in cpuset cpu io memory hugetlb pids rdma misc; do
    if grep -qw "$c" /sys/fs/cgroup/cgroup.controllers; then
        echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control ||
            echo "init: cannot enable $c in the root's cgroup.subtree_control"
    fi
done
hostname berth-vm
ip link set lo up 2>/dev/null

echo "$BEGIN_MARK"
echo "INFO kernel $(uname -r)"
echo "INFO controllers $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "INFO subtree_control $(cat /sys/fs/cgroup/cgroup.subtree_control)"
if [ -x /vm/scenario.sh ]; then
    /vm/scenario.sh 2>&1
    echo "INFO scenario exit $?"
else
    echo "FAIL vm-init: /vm/scenario.sh missing"
fi
echo "$END_MARK"
halt
