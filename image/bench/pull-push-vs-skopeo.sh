#!/bin/bash
# Time `dock pull`/`dock push` against `skopeo copy` for a 5 MB and a 50 MB single-layer image,
# all against `dock registry serve` on loopback (a fresh registry per push so nothing is skipped
# or mounted). Usage: image/bench/pull-push-vs-skopeo.sh [path/to/release/dock]
set -euo pipefail
DOCK=${1:-target/release/dock}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# An OCI layout with one gzip layer of $2 random bytes.
make_image() {
    python3 - "$1" "$2" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
d, size = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{d}/blobs/sha256")
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(b)
    return "sha256:" + h
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    data = os.urandom(size)
    info = tarfile.TarInfo("noise.bin"); info.size = size
    t.addfile(info, io.BytesIO(data))
raw = raw.getvalue()
layer = gzip.compress(raw, compresslevel=1)
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
    "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer), "size": len(layer)}]}).encode()
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": put(manifest), "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
    open(f"{d}/index.json", "w"))
open(f"{d}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}

# Start a registry on 127.0.0.1:0 rooted at $1; sets ADDR.
serve() {
    mkdir -p "$1"
    "$DOCK" registry serve --addr 127.0.0.1:0 --root "$1" >/dev/null 2>"$1.log" &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$1.log" && break; sleep 0.05; done
    ADDR=$(sed -n 's/.*listening on //p' "$1.log")
}

seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

export DOCKER_CONFIG="$WORK/docker-config"
for size in 5 50; do
    make_image "$WORK/img$size" $((size * 1000 * 1000))
    serve "$WORK/src$size"; SRC=$ADDR
    serve "$WORK/skopeo-dst$size"; SKOPEO_DST=$ADDR
    serve "$WORK/dock-dst$size"; DOCK_DST=$ADDR
    skopeo --insecure-policy copy --dest-tls-verify=false "oci:$WORK/img$size:v1" \
        "docker://$SRC/bench/img:v1" >/dev/null
    sp=$(seconds skopeo --insecure-policy copy --src-tls-verify=false \
        "docker://$SRC/bench/img:v1" "oci:$WORK/out$size:v1")
    export DOCK_ROOT="$WORK/store$size"
    dp=$(seconds "$DOCK" pull "$SRC/bench/img:v1")
    ss=$(seconds skopeo --insecure-policy copy --dest-tls-verify=false \
        "oci:$WORK/img$size:v1" "docker://$SKOPEO_DST/bench/img:v1")
    "$DOCK" tag "$SRC/bench/img:v1" "$DOCK_DST/bench/img:v1"
    dps=$(seconds "$DOCK" push "$DOCK_DST/bench/img:v1")
    printf '%3s MB  pull: skopeo %.3fs dock %.3fs   push: skopeo %.3fs dock %.3fs\n' \
        "$size" "$sp" "$dp" "$ss" "$dps"
done
