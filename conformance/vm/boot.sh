#!/usr/bin/env bash
# Boots the test VM under QEMU's TCG (no KVM) and writes the serial console to LOG.
# No network device (-nic none): the VM needs none, and it spares loading a NIC option ROM.
# Exits with QEMU's status, or 124 when the VM outlived TIMEOUT seconds (default 240).
# Usage: boot.sh KERNEL INITRD LOG [TIMEOUT]
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: $0 KERNEL INITRD LOG [TIMEOUT]" >&2; exit 2; }
kernel=$1 initrd=$2 log=$3 timeout_s=${4:-240}
exec </dev/null
timeout --kill-after=10 "$timeout_s" \
    qemu-system-x86_64 -machine q35 -accel tcg -cpu max -m 1024 -smp 2 \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init" \
    -nographic -no-reboot -monitor none -nic none -serial "file:$log"
