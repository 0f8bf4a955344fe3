#!/usr/bin/env bash
# Side-by-side startup timing of berth, runc and crun (and youki when installed) on one
# busybox bundle, interleaved, in one run. Prints medians (ms), p90, ratios against
# runc/crun/youki, and each runtime's peak RSS.
#
#   sudo benches/startup.sh [RUNS]          (default 100; RUNS >= 50 is meaningful)
#   BERTH=/path/to/berth benches/startup.sh
#   BERTH_UNSEALED=/path/to/berth benches/startup.sh
#       adds a berth built with `--features no-exe-seal` (no CVE-2019-5736 re-exec from a
#       sealed copy) as the column "unsealed", and the ratio berth/unsealed: what the
#       protection costs, measured in the same interleaved run.
#   SCENARIOS="run,cold run" benches/startup.sh   only these rows (names as printed)
#
# Scenarios (each repeated RUNS times, the runtimes taking turns within every repetition,
# which starts with the next runtime each time):
#   run /bin/true          `run` in the foreground, the container's /bin/true to its end
#   run, default seccomp   the same with the Docker-equivalent seccomp profile
#   create+start+delete    the three calls the containerd shim makes, waiting for the exit
#                          in between (the bench is the child subreaper, as the shim is)
#   cold run               `run` after 150 ms idle: what the first container after a pause
#                          pays (on cgroup v1 a cgroup migration then waits for an RCU grace
#                          period unless the runtime avoids the global lock)
#   exec                   `exec ID /bin/true` in a running container
#   state / list           on a root holding one created and one running container
# and "peak RSS": the largest resident set of a `run /bin/true` process and the children
# it reaped (GNU time's %M), median of min(RUNS, 30) more interleaved runs, in MB.
#
# crun 1.8 refuses this host's hybrid cgroup layout unless the cgroup2 mount's
# cgroup.controllers is hidden, so every runtime runs in one private mount namespace with
# /dev/null bound over it: all runtimes see the same view.
set -euo pipefail
RUNS=${1:-100}
here=$(cd "$(dirname "$0")/.." && pwd)
# The shipped build when present: static on musl (README, "Speed"), else static on glibc.
for static in "${CARGO_TARGET_DIR:-$here/target}"/x86_64-unknown-linux-{musl,gnu}/release/berth; do
    if [ -z "${BERTH:-}" ] && [ -x "$static" ]; then
        BERTH=$static
    fi
done
BERTH=${BERTH:-${CARGO_TARGET_DIR:-$here/target}/release/berth}
[ -x "$BERTH" ] || { echo "build berth first: cargo build --release (looked for $BERTH)" >&2; exit 1; }
BUSYBOX=$(command -v busybox) || { echo "install busybox-static" >&2; exit 1; }

if [ -z "${BERTH_BENCH_INNER:-}" ]; then
    exec unshare -m --propagation private env BERTH_BENCH_INNER=1 BERTH="$BERTH" \
        BERTH_UNSEALED="${BERTH_UNSEALED:-}" SCENARIOS="${SCENARIOS:-}" "$0" "$@"
fi
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ] && [ -d /sys/fs/cgroup/memory ]; then
    mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers
fi

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp "$BUSYBOX" "$work/bundle/rootfs/bin/busybox"
for a in sh true sleep; do ln -s busybox "$work/bundle/rootfs/bin/$a"; done
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

# The same bundle with the default seccomp profile (Docker-equivalent), for every runtime,
# and one whose process sleeps (the target of exec, state and list).
cp -a "$work/bundle" "$work/bundle-seccomp"
cp -a "$work/bundle" "$work/bundle-sleep"
"$BERTH" spec --default-seccomp --bundle "$work" >/dev/null
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
profile = json.load(open(f"{work}/config.json"))["linux"]["seccomp"]
cfg = json.load(open(f"{work}/bundle-seccomp/config.json"))
cfg["linux"]["seccomp"] = profile
json.dump(cfg, open(f"{work}/bundle-seccomp/config.json", "w"))
cfg = json.load(open(f"{work}/bundle-sleep/config.json"))
cfg["process"]["args"] = ["/bin/sleep", "100000"]
json.dump(cfg, open(f"{work}/bundle-sleep/config.json", "w"))
PY

runtimes=("berth=$BERTH")
if [ -n "${BERTH_UNSEALED:-}" ]; then
    [ -x "$BERTH_UNSEALED" ] || { echo "BERTH_UNSEALED=$BERTH_UNSEALED is not executable" >&2; exit 1; }
    runtimes+=("unsealed=$BERTH_UNSEALED")
fi
command -v runc >/dev/null && runtimes+=("runc=$(command -v runc)")
command -v crun >/dev/null && runtimes+=("crun=$(command -v crun)")
command -v youki >/dev/null && runtimes+=("youki=$(command -v youki)")

echo "berth: $BERTH ($(stat -c %s "$BERTH") bytes)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work" "$RUNS" "${runtimes[@]}" <<'PY'
import ctypes, os, signal, statistics, sys, time
work, runs, rts = sys.argv[1], int(sys.argv[2]), [a.split("=", 1) for a in sys.argv[3:]]
bundle = os.path.join(work, "bundle")
bundle_sc = os.path.join(work, "bundle-seccomp")
bundle_sleep = os.path.join(work, "bundle-sleep")
wanted = [s.strip() for s in os.environ.get("SCENARIOS", "").split(",") if s.strip()]

# Containers' inits are reparented to us, as to a shim: reap them.
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

devnull = os.open(os.devnull, os.O_RDWR)
quiet = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
         (os.POSIX_SPAWN_DUP2, devnull, 2)]

class Hung(Exception):
    pass

def on_alarm(_sig, _frame):
    raise Hung()
signal.signal(signal.SIGALRM, on_alarm)

def call(argv, check=True, timeout=30.0):
    """Runs argv to its end; a call that takes longer than `timeout` s is killed (Hung):
    youki 0.7's `run` sometimes never notices its container's exit. Such a call is not
    timed; a runtime that hangs MAX_HANGS times is left out of the later rows."""
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=quiet, setpgroup=0)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _, status = os.waitpid(pid, 0)
    except Hung:
        os.killpg(pid, 9)
        os.waitpid(pid, 0)
        raise Hung(" ".join(argv))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if check and os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)} ({os.waitstatus_to_exitcode(status)})")

def reap_strays():
    """Reaps orphans reparented to us (containers' inits, berth's namespace dropper)."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return

def peak_rss_kib(argv):
    """argv's peak RSS (it and the children it reaped), by GNU time: a child of this
    process would inherit Python's own high-water mark at its execve."""
    out = os.path.join(work, "rss")
    call(["/usr/bin/time", "-f", "%M", "-o", out] + argv)
    with open(out) as f:
        return int(f.read().split()[-1])

def pid_of(path):
    with open(path) as f:
        return int(f.read().strip())

def reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass

def root_of(name):
    return os.path.join(work, "root-" + name)

def csd(rt, root, i):
    cid, pidfile = f"c{i}", os.path.join(work, f"c{i}.pid")
    call([rt, "--root", root, "create", "--bundle", bundle, "--pid-file", pidfile, cid])
    call([rt, "--root", root, "start", cid])
    reap(pid_of(pidfile))
    call([rt, "--root", root, "delete", cid])

scenarios = [
    ("run /bin/true", None, lambda rt, root, i: call([rt, "--root", root, "run", "--bundle", bundle, f"b{i}"])),
    ("run, default seccomp", None, lambda rt, root, i: call([rt, "--root", root, "run", "--bundle", bundle_sc, f"s{i}"])),
    ("create+start+delete", None, csd),
    ("cold run", 0.150, lambda rt, root, i: call([rt, "--root", root, "run", "--bundle", bundle, f"k{i}"])),
    ("exec", None, lambda rt, root, i: call([rt, "--root", root, "exec", "long", "/bin/true"])),
    ("state", None, lambda rt, root, i: call([rt, "--root", root, "state", "idle"])),
    ("list", None, lambda rt, root, i: call([rt, "--root", root, "list"])),
]
if wanted:
    scenarios = [s for s in scenarios if s[0] in wanted]

# The containers exec, state and list see: one running, one created.
for n, path in rts:
    root = root_of(n)
    call([path, "--root", root, "run", "--detach", "--bundle", bundle_sleep, "long"])
    call([path, "--root", root, "create", "--bundle", bundle, "idle"])

results, rss, hung = {}, {}, {}

MAX_HANGS = 3
hangs = {}

def give_up(n, path, scenario, e):
    """Cleans up after a hung call of runtime n: its container is deleted and the call is
    not timed. After MAX_HANGS hangs the runtime is left out from there on."""
    hangs.setdefault(n, []).append(scenario)
    left_out = len(hangs[n]) >= MAX_HANGS
    if left_out:
        hung[n] = f"{scenario}: {e}"
    print(f"{n} hung (killed after 30 s{', left out from here on' if left_out else ''}): {e}",
          file=sys.stderr)
    root = root_of(n)
    for cid in os.listdir(root) if os.path.isdir(root) else []:
        if cid not in ("long", "idle"):
            call([path, "--root", root, "delete", "--force", cid], check=False)
    reap_strays()

try:
    for name, idle, fn in scenarios:
        times = {n: [] for n, _ in rts}
        for i in range(runs):
            # Each repetition starts with the next runtime: a call pays for the kernel work
            # the previous runtime's container left behind (namespace cleanup, RCU
            # callbacks), so every runtime takes every place in the turn equally often.
            k = i % len(rts)
            for n, path in rts[k:] + rts[:k]:
                if n in hung:
                    continue
                if idle:
                    time.sleep(idle)
                t = time.perf_counter()
                try:
                    fn(path, root_of(n), i)
                except Hung as e:
                    give_up(n, path, name, e)
                    continue
                times[n].append((time.perf_counter() - t) * 1000)
                reap_strays()
        results[name] = times
    if os.access("/usr/bin/time", os.X_OK) and (not wanted or "peak RSS" in wanted):
        for i in range(min(runs, 30)):
            for n, path in rts:
                if n in hung:
                    continue
                try:
                    rss.setdefault(n, []).append(peak_rss_kib(
                        [path, "--root", root_of(n), "run", "--bundle", bundle, f"m{i}"]))
                except Hung as e:
                    give_up(n, path, "peak RSS", e)
    elif not wanted:
        print("peak RSS needs GNU time (/usr/bin/time, Debian package time)")
finally:
    for n, path in rts:
        for cid in ("long", "idle"):
            call([path, "--root", root_of(n), "delete", "--force", cid], check=False)
    reap_strays()

names = [n for n, _ in rts]
ratios = [r for r in ("unsealed", "runc", "crun", "youki") if r in names]
def p90(v):
    return sorted(v)[int(len(v) * 0.9) - 1]
print(f"median ms over {runs} interleaved runs each (p90 in brackets)")
hdr = f"| {'scenario':<22} | " + " | ".join(f"{n:>16}" for n in names)
hdr += "".join(f" | berth/{r}" for r in ratios) + " |"
print(hdr)
print("|" + "-" * 24 + "|" + "|".join("-" * 18 for _ in names) + "".join("|" + "-" * (8 + len(r)) for r in ratios) + "|")
def cell(v):
    return f"{statistics.median(v):7.2f} [{p90(v):6.2f}]" if len(v) >= 10 else f"{'hung':>16}"
def ratio(v, r, w):
    return f"{v / r:>{w}.2f}" if v and r else f"{'-':>{w}}"
for scen, times in results.items():
    med = {n: statistics.median(v) if len(v) >= 10 else None for n, v in times.items()}
    row = f"| {scen:<22} | " + " | ".join(cell(times[n]) for n in names)
    row += "".join(f" | {ratio(med['berth'], med[r], 6 + len(r))}" for r in ratios) + " |"
    print(row)
if rss:
    mrss = {n: statistics.median(rss[n]) / 1024 if rss.get(n) else None for n in names}
    row = f"| {'peak RSS (MB)':<22} | " + " | ".join(f"{mrss[n]:16.1f}" if mrss[n] else f"{'hung':>16}" for n in names)
    row += "".join(f" | {ratio(mrss['berth'], mrss[r], 6 + len(r))}" for r in ratios) + " |"
    print(row)
for n, where in hangs.items():
    print(f"{n} hung {len(where)} time(s), killed after 30 s and not timed: {', '.join(where)}")
for n, what in hung.items():
    print(f"{n} left out after {MAX_HANGS} hangs, the last in {what}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
