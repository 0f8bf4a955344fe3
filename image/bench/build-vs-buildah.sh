#!/bin/bash
# `dock build` against `buildah bud` (Debian's buildah, overlay storage, OCI isolation with
# crun), the same Dockerfile and context, three scenarios interleaved in one run:
#   cold     nothing cached (dock build --no-cache / buildah bud --layers --no-cache)
#   cached   everything cached (a rebuild of an unchanged context)
#   changed  one copied file changed before each build (COPY and the steps after it re-run)
# Prints hyperfine's table and the ratio of means per scenario (goals from issue #9: cold
# <= 1.0x buildah, cached <= 0.5x buildah).
#
#   image/bench/build-vs-buildah.sh [path/to/release/dock] [RUNS]
#
# berth must sit next to dock (cargo build --release -p dock -p berth). As in
# run-vs-podman.sh, both run in one private mount namespace (their overlay mounts vanish with
# it) with the hybrid host's cgroup2 controllers file hidden, which crun 1.8 needs here.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
DOCK=$(realpath "${1:-${CARGO_TARGET_DIR:-$here/target}/release/dock}")
RUNS=${2:-10}
[ -x "$DOCK" ] || { echo "build dock first: cargo build --release -p dock -p berth" >&2; exit 1; }
[ -x "$(dirname "$DOCK")/berth" ] || { echo "berth must be next to $DOCK" >&2; exit 1; }
for t in buildah crun hyperfine busybox python3; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done

if [ -z "${DOCK_BENCH_INNER:-}" ]; then
    exec unshare -m --propagation private env DOCK_BENCH_INNER=1 "$0" "$DOCK" "$RUNS"
fi
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ] && [ -d /sys/fs/cgroup/memory ]; then
    mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers
fi

WORK=$(mktemp -d /tmp/dock-build-bench.XXXXXX)
cat > "$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/buildah/root"
runroot = "$WORK/buildah/run"
EOF
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
BUILDAH=(buildah --cgroup-manager cgroupfs)
BUD=("${BUILDAH[@]}" bud --pull-never --network none --isolation oci --runtime "$(command -v crun)"
     --layers --ulimit nofile=1024:1024 -q -t bench:latest)
cleanup() {
    DOCK_ROOT="$WORK/dock" "$DOCK" system prune -a -f >/dev/null 2>&1 || true
    "${BUILDAH[@]}" rm -a >/dev/null 2>&1 || true
    "${BUILDAH[@]}" rmi -a -f >/dev/null 2>&1 || true
    umount -R "$WORK/buildah/root/overlay" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The base image: busybox as an OCI layout, loaded into both.
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/tmp"
cp "$(command -v busybox)" "$WORK/rootfs/bin/busybox"
for a in sh true echo cat mkdir cp ls sha256sum find wc; do ln -s busybox "$WORK/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' > "$WORK/rootfs/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$WORK/rootfs/etc/group"
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
    "history": [{"created_by": "busybox (made by the bench)"}],
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
"${BUILDAH[@]}" pull -q "oci-archive:$WORK/image.tar" >/dev/null
"${BUILDAH[@]}" tag "$("${BUILDAH[@]}" images -q | head -1)" docker.io/library/benchbox:latest

# The context: an app of 200 small files and one 4 MB asset; a typical small-service
# Dockerfile: metadata, a COPY of the app, RUNs that read it, a second COPY.
CTX="$WORK/context"
mkdir -p "$CTX/app/src" "$CTX/assets"
for i in $(seq 200); do echo "file $i $(head -c 64 /dev/urandom | base64 -w0)" > "$CTX/app/src/f$i.txt"; done
head -c 4M /dev/urandom > "$CTX/assets/blob.bin"
cat > "$CTX/Dockerfile" <<'EOF'
FROM benchbox
ENV APP_HOME=/srv/app
LABEL org.example.bench=build
WORKDIR $APP_HOME
COPY assets/ /srv/assets/
RUN mkdir -p /srv/out && sha256sum /srv/assets/blob.bin > /srv/out/assets.sum
COPY app/ ./
RUN find . -type f | wc -l > /srv/out/count && cat src/*.txt | sha256sum > /srv/out/app.sum
USER app
CMD ["cat", "/srv/out/count"]
EOF
echo "*.md" > "$CTX/.dockerignore"

DOCK_BUILD="$DOCK build -q -t bench:latest"
# Both must work before they are timed (and this fills both caches).
$DOCK_BUILD "$CTX" >/dev/null
"${BUD[@]}" "$CTX" >/dev/null

change='echo "changed $(date +%s%N)" > '"$CTX"'/app/src/f7.txt'
# hyperfine pairs the --prepare commands with the commands in order: only "changed" edits.
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/times.json" \
    --prepare true --prepare true --prepare true --prepare true \
    --prepare "sh -c '$change'" --prepare "sh -c '$change'" \
    -n "dock cold" "$DOCK_BUILD --no-cache $CTX" \
    -n "buildah cold" "${BUD[*]} --no-cache $CTX" \
    -n "dock cached" "$DOCK_BUILD $CTX" \
    -n "buildah cached" "${BUD[*]} $CTX" \
    -n "dock changed" "$DOCK_BUILD $CTX" \
    -n "buildah changed" "${BUD[*]} $CTX"
python3 - "$WORK/times.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
goals = {"cold": 1.0, "cached": 0.5, "changed": None}
for s, goal in goals.items():
    ratio = r[f"dock {s}"] / r[f"buildah {s}"]
    g = f" (goal <= {goal}x)" if goal else ""
    print(f"{s:8} dock {r[f'dock {s}']*1000:8.1f} ms  buildah {r[f'buildah {s}']*1000:8.1f} ms  ratio {ratio:.2f}x{g}")
PY
