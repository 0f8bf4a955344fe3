#!/usr/bin/env bash
# Per-container cost of `ctr run --rm IMAGE id true` under a private containerd 1.6, four
# stacks interleaved in one run:
#   berth-shim   our containerd-shim-berth-v2 driving berth   (io.containerd.berth.v2)
#   berth-shim(cli) the same with Driver = "cli": every berth call an exec of its CLI
#   runc-shim    containerd-shim-runc-v2 driving berth        (--runc-binary berth)
#   runc         containerd-shim-runc-v2 driving runc         (the reference)
# Prints medians (ms) and ratios against runc-shim+runc, and the RSS of each shim while it
# serves one running container.
#
#   sudo benches/shim.sh [RUNS]            (default 30)
#   BERTH=… SHIM=… benches/shim.sh          (default: release builds in the target dir)
set -euo pipefail
RUNS=${1:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
BERTH=${BERTH:-$target/release/berth}
# The statically linked shim when built (smaller RSS, no dynamic loader per start):
#   RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
#       --target x86_64-unknown-linux-gnu -p containerd-shim-berth
static_shim=$target/x86_64-unknown-linux-gnu/release/containerd-shim-berth-v2
if [ -z "${SHIM:-}" ] && [ -x "$static_shim" ]; then SHIM=$static_shim; fi
SHIM=${SHIM:-$target/release/containerd-shim-berth-v2}
echo "shim: $SHIM"
for b in "$BERTH" "$SHIM"; do
    [ -x "$b" ] || { echo "build first: cargo build --release -p berth -p containerd-shim-berth (no $b)" >&2; exit 1; }
done
RUNC=$(command -v runc) || { echo "install runc" >&2; exit 1; }
command -v containerd >/dev/null || { echo "install containerd" >&2; exit 1; }
BUSYBOX=$(command -v busybox) || { echo "install busybox-static" >&2; exit 1; }

work=$(mktemp -d /tmp/berth-shim-bench.XXXXXX)
sock="$work/containerd.sock"
ns=bench
cleanup() {
    set +e
    if [ -S "$sock" ]; then
        for t in $(ctr --address "$sock" -n $ns task ls -q 2>/dev/null); do
            ctr --address "$sock" -n $ns task kill -a -s SIGKILL "$t" >/dev/null 2>&1
            sleep 0.2
            ctr --address "$sock" -n $ns task rm -f "$t" >/dev/null 2>&1
        done
        for c in $(ctr --address "$sock" -n $ns c ls -q 2>/dev/null); do
            ctr --address "$sock" -n $ns c rm "$c" >/dev/null 2>&1
        done
    fi
    [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    for p in $(grep -l -a -F "$sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do kill -9 "$p" 2>/dev/null; done
    grep -F " $work/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
    for d in /sys/fs/cgroup/*/$ns; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/root" "$work/state" "$work/fifo" "$work/berth-root" "$work/runc-root"
ln -s "$SHIM" "$work/bin/containerd-shim-berth-v2"
cat > "$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing"]
[grpc]
address = "$sock"
[ttrpc]
address = "$sock.ttrpc"
[debug]
address = ""
[metrics]
address = ""
EOF
printf 'BinaryName = "%s"\nRoot = "%s"\n' "$BERTH" "$work/berth-root" > "$work/berth.toml"
printf 'Driver = "cli"\n' | cat "$work/berth.toml" - > "$work/berth-cli.toml"
PATH="$work/bin:$PATH" containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
cpid=$!
for _ in $(seq 200); do
    ctr --address "$sock" version >/dev/null 2>&1 && break
    sleep 0.05
done

# A one-layer busybox image as an OCI archive, made here (no network).
python3 - "$work" "$BUSYBOX" <<'PY'
import hashlib, io, json, os, sys, tarfile
work, busybox = sys.argv[1], sys.argv[2]
def add(tar, name, data=None, mode=0o755, link=None, dir=False):
    ti = tarfile.TarInfo(name); ti.mode = mode
    if dir: ti.type = tarfile.DIRTYPE; tar.addfile(ti); return
    if link: ti.type = tarfile.SYMTYPE; ti.linkname = link; tar.addfile(ti); return
    ti.size = len(data); tar.addfile(ti, io.BytesIO(data))
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"]: add(t, d, dir=True)
    add(t, "bin/busybox", open(busybox, "rb").read())
    for a in ["sh", "true", "sleep"]: add(t, "bin/" + a, link="busybox")
layer = layer.getvalue()
def digest(b): return hashlib.sha256(b).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + digest(layer)]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + digest(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + digest(layer), "size": len(layer)}]}).encode()
index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + digest(manifest), "size": len(manifest), "platform": {"architecture": "amd64", "os": "linux"},
    "annotations": {"io.containerd.image.name": "docker.io/library/bench:latest", "org.opencontainers.image.ref.name": "latest"}}]}).encode()
with tarfile.open(os.path.join(work, "image.tar"), "w") as t:
    add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644)
    add(t, "index.json", index, 0o644)
    for b in [layer, config, manifest]: add(t, "blobs/sha256/" + digest(b), b, 0o644)
PY
ctr --address "$sock" -n $ns images import "$work/image.tar" >/dev/null

python3 - "$sock" "$ns" "$RUNS" "$work" "$BERTH" "$RUNC" <<'PY'
import os, statistics, subprocess, sys, time
sock, ns, runs, work, berth, runc = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
ctr = ["ctr", "--address", sock, "-n", ns]
img = "docker.io/library/bench:latest"
fifo = ["--fifo-dir", work + "/fifo"]
stacks = {
    "berth-shim + berth": ["--runtime", "io.containerd.berth.v2", "--runtime-config-path", work + "/berth.toml"],
    "berth-shim(cli)+berth": ["--runtime", "io.containerd.berth.v2", "--runtime-config-path", work + "/berth-cli.toml"],
    "runc-shim + berth": ["--runtime", "io.containerd.runc.v2", "--runc-binary", berth, "--runc-root", work + "/berth-root"],
    "runc-shim + runc": ["--runtime", "io.containerd.runc.v2", "--runc-binary", runc, "--runc-root", work + "/runc-root"],
}
def run(flags, cid, args):
    subprocess.run(ctr + ["run"] + flags + fifo + [img, cid] + args, check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
times = {k: [] for k in stacks}
for k, f in stacks.items():  # warm up page cache and snapshots
    run(["--rm"] + f, "warm", ["true"])
for i in range(runs):
    for k, f in stacks.items():
        t0 = time.perf_counter()
        run(["--rm"] + f, f"c{i}", ["true"])
        times[k].append((time.perf_counter() - t0) * 1000)
ref = statistics.median(times["runc-shim + runc"])
print(f"ctr run --rm IMAGE id true, {runs} runs each, interleaved (median ms)")
print(f"{'stack':<22} {'median':>8} {'p90':>8} {'vs runc-shim+runc':>18}")
for k, v in times.items():
    v = sorted(v)
    print(f"{k:<22} {statistics.median(v):8.1f} {v[int(len(v)*0.9)-1]:8.1f} {statistics.median(v)/ref:17.2f}x")
def shim_rss(flags, cid):
    run(["-d"] + flags, cid, ["sleep", "1000"])
    time.sleep(0.5)
    rss = None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if sock.encode() in argv and b"-id" in argv and cid.encode() in argv:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    subprocess.run(ctr + ["task", "kill", "-s", "SIGKILL", cid], stdout=subprocess.DEVNULL)
    for _ in range(100):
        out = subprocess.run(ctr + ["task", "ls"], capture_output=True, text=True).stdout
        if "STOPPED" in out or cid not in out:
            break
        time.sleep(0.05)
    subprocess.run(ctr + ["task", "rm", "-f", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(ctr + ["c", "rm", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rss
print()
print("shim RSS while serving one running container (VmRSS)")
for k, f in stacks.items():
    rss = shim_rss(f, "rss" + str(abs(hash(k)) % 1000))
    print(f"{k:<22} {rss/1024 if rss else float('nan'):8.1f} MB")
PY
