#!/usr/bin/env bash
# Side-by-side startup timing of berth, runc and crun (and youki when installed) on one
# busybox bundle, interleaved, in one run. Prints medians (ms) and ratios against runc/crun.
#
#   sudo benches/startup.sh [RUNS]          (default 100; RUNS >= 50 is meaningful)
#   BERTH=/path/to/berth benches/startup.sh
#   BERTH_UNSEALED=/path/to/berth benches/startup.sh
#       adds a berth built with `--features no-exe-seal` (no CVE-2019-5736 re-exec from a
#       sealed copy) as the column "unsealed", and the ratio berth/unsealed: what the
#       protection costs, measured in the same interleaved run.
#
# crun 1.8 refuses this host's hybrid cgroup layout unless the cgroup2 mount's
# cgroup.controllers is hidden, so every runtime runs in one private mount namespace with
# /dev/null bound over it: all runtimes see the same view.
set -euo pipefail
RUNS=${1:-100}
here=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH:-${CARGO_TARGET_DIR:-$here/target}/release/berth}
[ -x "$BERTH" ] || { echo "build berth first: cargo build --release (looked for $BERTH)" >&2; exit 1; }
BUSYBOX=$(command -v busybox) || { echo "install busybox-static" >&2; exit 1; }

if [ -z "${BERTH_BENCH_INNER:-}" ]; then
    exec unshare -m --propagation private env BERTH_BENCH_INNER=1 BERTH="$BERTH" \
        BERTH_UNSEALED="${BERTH_UNSEALED:-}" "$0" "$@"
fi
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ] && [ -d /sys/fs/cgroup/memory ]; then
    mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers
fi

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp "$BUSYBOX" "$work/bundle/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$work/bundle/rootfs/bin/$a"; done
mkdir -p "$work/bundle/rootfs/"{proc,dev,sys,tmp,etc}
cat > "$work/bundle/config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
    "env": ["PATH=/bin"], "cwd": "/",
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
    "noNewPrivileges": true},
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"]
  }
}
JSON

# The same bundle with the default seccomp profile (Docker-equivalent), for every runtime.
cp -a "$work/bundle" "$work/bundle-seccomp"
"$BERTH" spec --default-seccomp --bundle "$work" >/dev/null
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
profile = json.load(open(f"{work}/config.json"))["linux"]["seccomp"]
cfg = json.load(open(f"{work}/bundle-seccomp/config.json"))
cfg["linux"]["seccomp"] = profile
json.dump(cfg, open(f"{work}/bundle-seccomp/config.json", "w"))
PY

runtimes=("berth=$BERTH")
if [ -n "${BERTH_UNSEALED:-}" ]; then
    [ -x "$BERTH_UNSEALED" ] || { echo "BERTH_UNSEALED=$BERTH_UNSEALED is not executable" >&2; exit 1; }
    runtimes+=("unsealed=$BERTH_UNSEALED")
fi
command -v runc >/dev/null && runtimes+=("runc=$(command -v runc)")
command -v crun >/dev/null && runtimes+=("crun=$(command -v crun)")
command -v youki >/dev/null && runtimes+=("youki=$(command -v youki)")

python3 - "$work" "$RUNS" "${runtimes[@]}" <<'PY'
import os, statistics, subprocess, sys, time
work, runs, rts = sys.argv[1], int(sys.argv[2]), [a.split("=", 1) for a in sys.argv[3:]]
bundle = os.path.join(work, "bundle")
bundle_sc = os.path.join(work, "bundle-seccomp")
null = subprocess.DEVNULL
def call(argv):
    subprocess.run(argv, stdout=null, stderr=null, stdin=null, check=True)
scenarios = {
    "run /bin/true": lambda rt, root, i: call([rt, "--root", root, "run", "--bundle", bundle, f"b{i}"]),
    "run, default seccomp": lambda rt, root, i: call([rt, "--root", root, "run", "--bundle", bundle_sc, f"s{i}"]),
    "create+start+delete": lambda rt, root, i: (
        call([rt, "--root", root, "create", "--bundle", bundle, f"c{i}"]),
        call([rt, "--root", root, "start", f"c{i}"]),
        wait_stopped(rt, root, f"c{i}"),
        call([rt, "--root", root, "delete", "--force", f"c{i}"])),
}
def wait_stopped(rt, root, cid):
    for _ in range(2000):
        out = subprocess.run([rt, "--root", root, "state", cid], capture_output=True, text=True).stdout
        if '"stopped"' in out:
            return
        time.sleep(0.0005)
results = {}
for name, fn in scenarios.items():
    times = {n: [] for n, _ in rts}
    for i in range(runs):
        for n, path in rts:
            root = os.path.join(work, "root-" + n)
            t = time.perf_counter()
            fn(path, root, i)
            times[n].append((time.perf_counter() - t) * 1000)
    results[name] = {n: statistics.median(v) for n, v in times.items()}
# state on a created container
times = {n: [] for n, _ in rts}
for n, path in rts:
    root = os.path.join(work, "root-" + n)
    call([path, "--root", root, "create", "--bundle", bundle, "s"])
for i in range(runs):
    for n, path in rts:
        root = os.path.join(work, "root-" + n)
        t = time.perf_counter()
        call([path, "--root", root, "state", "s"])
        times[n].append((time.perf_counter() - t) * 1000)
for n, path in rts:
    call([path, "--root", os.path.join(work, "root-" + n), "delete", "--force", "s"])
results["state"] = {n: statistics.median(v) for n, v in times.items()}

names = [n for n, _ in rts]
print(f"median ms over {runs} interleaved runs each")
hdr = f"| {'scenario':<22} | " + " | ".join(f"{n:>8}" for n in names)
ratios = [r for r in ("unsealed", "runc", "crun") if r in names]
hdr += "".join(f" | berth/{r}" for r in ratios) + " |"
print(hdr)
print("|" + "-" * 24 + "|" + "|".join("-" * 10 for _ in names) + "".join("|" + "-" * (7 + len(r)) for r in ratios) + "|")
for scen, med in results.items():
    row = f"| {scen:<22} | " + " | ".join(f"{med[n]:8.2f}" for n in names)
    row += "".join(f" | {med['berth'] / med[r]:>{6 + len(r)}.2f}" for r in ratios) + " |"
    print(row)
PY
