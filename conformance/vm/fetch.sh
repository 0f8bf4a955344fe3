#!/usr/bin/env bash
# Fetches what the cgroup v2 VM needs and caches it under ${BERTH_VM_CACHE:-$HOME/.cache/berth-vm}:
#   qemu-system-x86_64  from Debian's qemu-system-x86 (apt-get install); when installing it would
#                       remove a package already there (Debian 12's qemu-system-x86 7.2 conflicts
#                       with a backported qemu-utils), its libraries are installed and the qemu
#                       packages only unpacked into the cache, with a wrapper at $cache/bin
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

# unpack_qemu: qemu-system-x86 and its firmware unpacked (not installed) under $cache/qemu, its
# shared libraries installed (they conflict with nothing), and $cache/bin/qemu-system-x86_64 a
# wrapper that points qemu at the unpacked firmware. boot.sh prefers that wrapper.
unpack_qemu() {
    [ -x "$cache/bin/qemu-system-x86_64" ] && return 0
    [ "$(id -u)" -eq 0 ] || die "qemu-system-x86_64 missing and not root to apt-get install it"
    apt_update_once
    local plan libs work
    plan=$(apt-get install -s --no-install-recommends qemu-system-x86 2>/dev/null) ||
        die "apt-get cannot plan an install of qemu-system-x86"
    libs=$(awk '/^Inst /{print $2}' <<<"$plan" | grep -vE '^(qemu-|seabios$)' || true)
    if [ -n "$libs" ]; then
        # shellcheck disable=SC2086 # one word per package
        apt-get install -y -qq --no-install-recommends --no-remove $libs >&2 ||
            die "apt-get install of qemu's libraries failed"
    fi
    work=$(mktemp -d "$cache/qemu-dl.XXXXXX")
    (cd "$work" && apt-get download qemu-system-x86 qemu-system-common qemu-system-data seabios >&2) ||
        { rm -rf "$work"; die "apt-get download of qemu-system-x86 failed"; }
    rm -rf "$cache/qemu"
    for deb in "$work"/*.deb; do
        dpkg-deb -x "$deb" "$cache/qemu" || { rm -rf "$work"; die "dpkg-deb -x $deb failed"; }
    done
    rm -rf "$work"
    mkdir -p "$cache/bin"
    cat >"$cache/bin/qemu-system-x86_64.tmp" <<WRAPPER
#!/bin/sh
exec "$cache/qemu/usr/bin/qemu-system-x86_64" -L "$cache/qemu/usr/share/qemu" "\$@"
WRAPPER
    chmod +x "$cache/bin/qemu-system-x86_64.tmp"
    "$cache/bin/qemu-system-x86_64.tmp" --version >/dev/null 2>&1 ||
        die "the unpacked qemu-system-x86_64 does not run (missing libraries?)"
    mv "$cache/bin/qemu-system-x86_64.tmp" "$cache/bin/qemu-system-x86_64"
}

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && apt_update_once &&
        apt-get install -s --no-install-recommends qemu-system-x86 2>/dev/null | grep -q '^Remv '; then
        unpack_qemu
    else
        need_pkg qemu-system-x86_64 qemu-system-x86
    fi
fi
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
