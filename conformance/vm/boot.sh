#!/usr/bin/env bash
# Boots the test VM under QEMU's TCG (no KVM) and writes the serial console to LOG.
# Exits with QEMU's status, or 124 when the VM outlived TIMEOUT seconds (default 240).
# Usage: boot.sh KERNEL INITRD LOG [TIMEOUT]
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: $0 KERNEL INITRD LOG [TIMEOUT]" >&2; exit 2; }
kernel=$1 initrd=$2 log=$3 timeout_s=${4:-240}
exec </dev/null
# fetch.sh's unpacked qemu (see there) when it made one, else the installed one.
qemu=${BERTH_VM_CACHE:-$HOME/.cache/berth-vm}/bin/qemu-system-x86_64
[ -x "$qemu" ] || qemu=qemu-system-x86_64
timeout --kill-after=10 "$timeout_s" \
    "$qemu" -machine q35 -accel tcg -cpu max -m 1024 -smp 2 \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init" \
    -nographic -nic none -no-reboot -monitor none -serial "file:$log"
