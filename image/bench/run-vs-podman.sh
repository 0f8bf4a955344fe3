#!/bin/bash
# Time `dock run --rm IMAGE true` against `podman run --rm IMAGE true` with crun, on the same
# busybox image, in one run: podman on private storage (overlay driver, --root/--runroot under
# a temp dir) and both with no network (dock's default; podman's bridge would add its network
# setup). Prints hyperfine's table and the ratio of means (goal: dock <= 0.5x podman).
#
#   image/bench/run-vs-podman.sh [path/to/release/dock] [RUNS]
#
# berth must sit next to dock (cargo build --release -p dock -p berth). crun 1.8 refuses this
# host's hybrid cgroup layout unless the cgroup2 mount's cgroup.controllers is hidden, so both
# run in one private mount namespace with /dev/null bound over it (as benches/startup.sh does).
# podman gets explicit nofile/nproc ulimits: its defaults exceed this host's hard limits.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
DOCK=$(realpath "${1:-${CARGO_TARGET_DIR:-$here/target}/release/dock}")
RUNS=${2:-30}
[ -x "$DOCK" ] || { echo "build dock first: cargo build --release -p dock -p berth" >&2; exit 1; }
[ -x "$(dirname "$DOCK")/berth" ] || { echo "berth must be next to $DOCK" >&2; exit 1; }
for t in podman crun hyperfine skopeo busybox python3; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done

if [ -z "${DOCK_BENCH_INNER:-}" ]; then
    exec unshare -m --propagation private env DOCK_BENCH_INNER=1 "$0" "$DOCK" "$RUNS"
fi
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ] && [ -d /sys/fs/cgroup/memory ]; then
    mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers
fi

WORK=$(mktemp -d /tmp/dock-run-bench.XXXXXX)
PODMAN=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver overlay
        --cgroup-manager cgroupfs --events-backend none --runtime "$(command -v crun)")
# Mounts made here (dock's and podman's overlays) vanish with this private mount namespace.
cleanup() {
    DOCK_ROOT="$WORK/dock" "$DOCK" system prune -a -f >/dev/null 2>&1 || true
    "${PODMAN[@]}" rm -a -f >/dev/null 2>&1 || true
    "${PODMAN[@]}" rmi -a -f >/dev/null 2>&1 || true
    umount -R "$WORK/podman/root/overlay" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A busybox image as an OCI layout (the tests make the same one).
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/tmp"
cp "$(command -v busybox)" "$WORK/rootfs/bin/busybox"
for a in sh true echo; do ln -s busybox "$WORK/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$WORK/rootfs/etc/passwd"
printf 'root:x:0:\n' > "$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -czf "$WORK/layer.tar.gz" .
python3 - "$WORK/layout" "$WORK/layer.tar.gz" <<'PY'
import gzip, hashlib, json, os, sys
d, layer_path = sys.argv[1], sys.argv[2]
os.makedirs(f"{d}/blobs/sha256")
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(b)
    return "sha256:" + h
layer = open(layer_path, "rb").read()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer), "size": len(layer)}]}).encode()
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": put(manifest), "size": len(manifest),
    "annotations": {"org.opencontainers.image.ref.name": "docker.io/library/benchbox:latest"}}]},
    open(f"{d}/index.json", "w"))
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
tar -C "$WORK/layout" -cf "$WORK/image.tar" .
export DOCK_ROOT="$WORK/dock"
"$DOCK" load -q -i "$WORK/image.tar"
"${PODMAN[@]}" load -q -i "$WORK/image.tar" >/dev/null

DOCK_CMD="$DOCK run --rm benchbox true"
PODMAN_CMD="${PODMAN[*]} run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 docker.io/library/benchbox:latest true"
# Both must work before they are timed.
$DOCK_CMD
$PODMAN_CMD
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/times.json" \
    -n "dock run --rm" "$DOCK_CMD" -n "podman run --rm (crun)" "$PODMAN_CMD"
python3 - "$WORK/times.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
d, p = r["dock run --rm"], r["podman run --rm (crun)"]
print(f"dock   mean {d['mean']*1000:7.1f} ms  median {d['median']*1000:7.1f} ms")
print(f"podman mean {p['mean']*1000:7.1f} ms  median {p['median']*1000:7.1f} ms")
print(f"ratio dock/podman (mean): {d['mean']/p['mean']:.2f}  (median): {d['median']/p['median']:.2f}  goal <= 0.5")
PY
