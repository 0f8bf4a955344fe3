#!/usr/bin/env bash
# Benchmark: skopeo push and pull of a 5 MB and a 50 MB single-layer image against our registry
# (dock registry serve) and Debian's docker-registry (distribution 2.8), in one run, on loopback.
# Prints wall times per operation (best of RUNS, runs interleaved between the two servers) and
# both servers' peak RSS (VmHWM).
#
# Usage: image/registry/bench/skopeo-vs-distribution.sh [path/to/dock]   (default: release build)
# Needs: skopeo, docker-registry (apt-get install -y skopeo docker-registry), tar, gzip.
set -euo pipefail

DOCK=${1:-${CARGO_TARGET_DIR:-target}/release/dock}
RUNS=${RUNS:-5}
SIZES_MB=${SIZES_MB:-"5 50"}
command -v skopeo >/dev/null || { echo "skopeo missing"; exit 1; }
command -v docker-registry >/dev/null || { echo "docker-registry missing"; exit 1; }
[ -x "$DOCK" ] || { echo "dock binary not found at $DOCK"; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

make_image() { # dir size_mb
    local dir=$1 mb=$2
    mkdir -p "$dir/blobs/sha256" "$WORK/c"
    head -c $((mb * 1024 * 1024)) /dev/urandom > "$WORK/c/data"
    tar -C "$WORK/c" -czf "$WORK/layer.tgz" data
    local layer diff cfg man
    layer=$(sha256sum "$WORK/layer.tgz" | cut -d' ' -f1)
    diff=$(gzip -dc "$WORK/layer.tgz" | sha256sum | cut -d' ' -f1)
    local lsize; lsize=$(stat -c %s "$WORK/layer.tgz")
    mv "$WORK/layer.tgz" "$dir/blobs/sha256/$layer"
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff" > "$WORK/cfg"
    cfg=$(sha256sum "$WORK/cfg" | cut -d' ' -f1)
    local csize; csize=$(stat -c %s "$WORK/cfg")
    mv "$WORK/cfg" "$dir/blobs/sha256/$cfg"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$cfg" "$csize" "$layer" "$lsize" > "$WORK/man"
    man=$(sha256sum "$WORK/man" | cut -d' ' -f1)
    local msize; msize=$(stat -c %s "$WORK/man")
    mv "$WORK/man" "$dir/blobs/sha256/$man"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
        "$man" "$msize" > "$dir/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
    rm -rf "$WORK/c"
}

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

OURS=$(free_port)
echo '{"access_log": false}' > "$WORK/dock.json"
"$DOCK" registry serve --addr "127.0.0.1:$OURS" --root "$WORK/ours" --config "$WORK/dock.json" 2>/dev/null &
PIDS+=($!); OURS_PID=$!
THEIRS=$(free_port)
cat > "$WORK/distribution.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/theirs}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$THEIRS}
EOF
docker-registry serve "$WORK/distribution.yml" >/dev/null 2>&1 &
PIDS+=($!); THEIRS_PID=$!
wait_port "$OURS"; wait_port "$THEIRS"

now() { date +%s.%N; }
best() { sort -g | head -1; }
export REGISTRY_AUTH_FILE=$WORK/auth.json

printf '%-8s %-6s %12s %12s %8s\n' size op "dock (s)" "distrib (s)" ratio
one_run() { # who port mb run -> appends to the push/pull lists of who
    local who=$1 port=$2 mb=$3 run=$4 s e
    # A fresh image each run: skopeo's blob-info cache would otherwise turn pushes into
    # cross-repository mounts.
    local img="$WORK/img-$who-$run"
    make_image "$img" "$mb"
    local ref="docker://127.0.0.1:$port/bench/img$mb-$run:v1"
    s=$(now); skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$img:v1" "$ref"; e=$(now)
    echo "$e - $s" | bc -l >> "$WORK/$who-push"
    rm -rf "$WORK/out" "$img"
    s=$(now); skopeo --insecure-policy copy -q --src-tls-verify=false "$ref" "oci:$WORK/out:v1"; e=$(now)
    echo "$e - $s" | bc -l >> "$WORK/$who-pull"
    rm -rf "$WORK/out"
}
for mb in $SIZES_MB; do
    rm -f "$WORK"/ours-* "$WORK"/theirs-*
    # Interleaved, alternating who goes first, so load from elsewhere on the host hits both.
    for run in $(seq "$RUNS"); do
        if [ $((run % 2)) -eq 1 ]; then order="ours theirs"; else order="theirs ours"; fi
        for who in $order; do
            port=$OURS; [ "$who" = theirs ] && port=$THEIRS
            one_run "$who" "$port" "$mb" "$run"
        done
    done
    for op in push pull; do
        o=$(best < "$WORK/ours-$op"); t=$(best < "$WORK/theirs-$op")
        printf '%-8s %-6s %12.3f %12.3f %8.2f\n' "${mb}MB" "$op" "$o" "$t" "$(echo "$o / $t" | bc -l)"
    done
done
echo "peak RSS: dock $(grep VmHWM /proc/$OURS_PID/status | awk '{print $2, $3}'), distribution $(grep VmHWM /proc/$THEIRS_PID/status | awk '{print $2, $3}')"
