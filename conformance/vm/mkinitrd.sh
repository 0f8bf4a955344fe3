#!/usr/bin/env bash
# Packs the test VM's initramfs (cpio newc, uncompressed):
#   /init            conformance/vm/init.sh
#   /bin/busybox     Debian's busybox-static, with a link per applet in /bin
#   /vm/scenario.sh  the checks (conformance/vm/scenario.sh)
#   /vm/berth        the statically linked berth under test
#   /vm/berth-check  the static in-container checker
# Binaries are stripped when `strip` exists (smaller image, faster copy in the VM).
# Usage: mkinitrd.sh OUT BERTH BERTH_CHECK
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 OUT BERTH BERTH_CHECK" >&2; exit 2; }
out=$1 berth=$2 check=$3
here=$(cd "$(dirname "$0")" && pwd)
for f in "$berth" "$check" /bin/busybox; do
    [ -x "$f" ] || { echo "mkinitrd.sh: $f missing or not executable" >&2; exit 1; }
done
command -v cpio >/dev/null || { echo "mkinitrd.sh: cpio missing (apt-get install cpio)" >&2; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/berth-vm-initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,run,etc,vm,root}
cp /bin/busybox "$stage/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$stage/bin/$applet"
done
install -m 0755 "$here/init.sh" "$stage/init"
install -m 0755 "$here/scenario.sh" "$stage/vm/scenario.sh"
copy_bin() { # copy_bin SRC DEST
    if command -v strip >/dev/null && strip -o "$2" "$1" 2>/dev/null; then
        chmod 0755 "$2"
    else
        install -m 0755 "$1" "$2"
    fi
}
copy_bin "$berth" "$stage/vm/berth"
copy_bin "$check" "$stage/vm/berth-check"
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"

tmp_out="$out.tmp.$$"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$tmp_out"
mv "$tmp_out" "$out"
