#!/usr/bin/env bash
# Fetches what the cgroup v2 VM needs and caches it under ${BERTH_VM_CACHE:-$HOME/.cache/berth-vm}:
#   qemu-system-x86_64  from Debian's qemu-system-x86 (apt-get install)
#   vmlinuz             from the newest linux-image-6.1.0-*-cloud-amd64 (apt-get download +
#                       dpkg-deb -x; the package is not installed, only unpacked in the cache)
#   cpio                to pack the initramfs
# Prints the kernel path on the last line. Exits 1 with a reason on stderr when something cannot
# be had (the test then skips with that reason). Idempotent: a second run does nothing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
exec </dev/null

die() { echo "fetch.sh: $*" >&2; exit 1; }

cache=${BERTH_VM_CACHE:-$HOME/.cache/berth-vm}
mkdir -p "$cache" 2>/dev/null || die "cannot create the cache directory $cache"

updated=0
apt_update_once() {
    if [ "$updated" -eq 0 ]; then
        apt-get update -qq || die "apt-get update failed"
        updated=1
    fi
}

need_pkg() { # need_pkg COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || die "$1 missing and not root to apt-get install $2"
    # --no-remove: never trade a package already there (say a newer qemu-utils from
    # backports, which qemu-system-x86 7.2 conflicts with) for the VM; skip instead.
    apt-get install -y -qq --no-install-recommends --no-remove "$2" >&2 ||
        { apt_update_once; apt-get install -y -qq --no-install-recommends --no-remove "$2" >&2; } ||
        die "apt-get install $2 failed"
    command -v "$1" >/dev/null 2>&1 || die "$2 installed but $1 still missing"
}

need_pkg qemu-system-x86_64 qemu-system-x86
need_pkg cpio cpio
[ -x /bin/busybox ] || need_pkg busybox busybox-static
[ -x /bin/busybox ] || die "/bin/busybox (busybox-static) missing"

kernel="$cache/vmlinuz"
if [ ! -s "$kernel" ]; then
    pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | awk '{print $1}' | sort -V | tail -n1)
    if [ -z "$pkg" ]; then
        apt_update_once
        pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | awk '{print $1}' | sort -V | tail -n1)
    fi
    [ -n "$pkg" ] || die "no linux-image-6.1.0-*-cloud-amd64 package in apt's lists"
    work=$(mktemp -d "$cache/dl.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
    dpkg-deb -x "$work"/"$pkg"_*.deb "$work/x" || die "dpkg-deb -x of $pkg failed"
    src=$(ls "$work"/x/boot/vmlinuz-* 2>/dev/null | head -n1)
    [ -n "$src" ] || die "$pkg holds no /boot/vmlinuz-*"
    cp "$src" "$kernel.tmp"
    echo "$pkg" >"$cache/kernel-package"
    mv "$kernel.tmp" "$kernel"
fi
echo "$kernel"
