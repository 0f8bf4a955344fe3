#!/bin/bash
# Time `dock build` against `buildah bud --layers` (overlay storage under a temp dir, runc) on
# the same Dockerfile and context, in one run, three ways:
#   cold    — empty stores (each run starts from nothing; the FROM scratch base needs no pull),
#   cached  — nothing changed since the last build (every step a cache hit),
#   changed — one copied file edited before each run (its COPY and the RUN after it re-run).
# Prints hyperfine's tables and the ratio of means dock/buildah per scenario
# (goals from issue #9: cold <= 1.0x, cached <= 0.5x).
#
#   image/bench/build-vs-buildah.sh [path/to/release/dock] [RUNS]
#
# berth must sit next to dock (cargo build --release -p dock -p berth). Both run in one private
# mount namespace, so every overlay either tool mounts goes away with the script.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
DOCK=$(realpath "${1:-${CARGO_TARGET_DIR:-$here/target}/release/dock}")
RUNS=${2:-10}
[ -x "$DOCK" ] || { echo "build dock first: cargo build --release -p dock -p berth" >&2; exit 1; }
[ -x "$(dirname "$DOCK")/berth" ] || { echo "berth must be next to $DOCK" >&2; exit 1; }
for t in buildah runc hyperfine busybox python3; do
    command -v "$t" >/dev/null || { echo "missing $t (.ci/run installs it)" >&2; exit 1; }
done
if [ -z "${DOCK_BENCH_INNER:-}" ]; then
    exec unshare -m --propagation private env DOCK_BENCH_INNER=1 "$0" "$DOCK" "$RUNS"
fi

WORK=$(mktemp -d /tmp/dock-build-bench.XXXXXX)
BUILDAH="buildah --root $WORK/buildah/root --runroot $WORK/buildah/run --storage-driver overlay"
cleanup() {
    $BUILDAH rm -a >/dev/null 2>&1 || true
    $BUILDAH rmi -a -f >/dev/null 2>&1 || true
    umount -R "$WORK/buildah/root/overlay" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The context: busybox, 300 small source files, one file that changes, a Dockerfile.
ctx="$WORK/ctx"
mkdir -p "$ctx/src"
cp "$(command -v busybox)" "$ctx/busybox"
for i in $(seq 300); do printf 'file %s\n%0512d\n' "$i" "$i" > "$ctx/src/f$i.txt"; done
echo 0 > "$ctx/changing.txt"
cat > "$ctx/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && chmod 1777 /tmp
COPY src/ /app/src/
RUN cd /app && ls src | wc -l > count && cat src/* | md5sum > sum
ENV APP=/app
WORKDIR /app
COPY changing.txt /app/changing.txt
RUN cat /app/changing.txt /app/count > /app/derived
CMD ["cat", "/app/derived"]
DF

dock_cmd="env DOCK_ROOT=$WORK/dock $DOCK build -q -t bench $ctx"
buildah_cmd="$BUILDAH bud -q --layers --runtime runc --network none -t bench $ctx"
wipe_dock="rm -rf $WORK/dock"
wipe_buildah="$BUILDAH rmi -a -f >/dev/null 2>&1; umount -R $WORK/buildah/root/overlay 2>/dev/null; rm -rf $WORK/buildah"
bump="date +%s%N > $ctx/changing.txt"

run() { # name, hyperfine args...
    local name=$1; shift
    echo "== $name"
    hyperfine -N --style basic --runs "$RUNS" --export-json "$WORK/$name.json" "$@" 2>&1 | grep -v '^ *$'
}
run cold --prepare "$wipe_dock" --prepare "sh -c '$wipe_buildah'" -n dock "$dock_cmd" -n buildah "$buildah_cmd"
# Warm both stores once, then nothing changes between runs.
$dock_cmd >/dev/null; $buildah_cmd >/dev/null
run cached -n dock "$dock_cmd" -n buildah "$buildah_cmd"
run changed --prepare "sh -c '$bump'" --prepare "sh -c '$bump'" -n dock "$dock_cmd" -n buildah "$buildah_cmd"

python3 - "$WORK" <<'PY'
import json, sys
goals = {"cold": 1.0, "cached": 0.5, "changed": None}
print("\nscenario  dock ms  buildah ms  dock/buildah  goal")
for name, goal in goals.items():
    r = {x["command"]: x["mean"] * 1000 for x in json.load(open(f"{sys.argv[1]}/{name}.json"))["results"]}
    ratio = r["dock"] / r["buildah"]
    print(f"{name:8} {r['dock']:8.0f} {r['buildah']:11.0f} {ratio:12.2f}x  {'<= %.1fx' % goal if goal else '-'}")
PY
