#!/bin/sh
# berth's cgroup checks on a pure cgroup v2 host, run inside the test VM by /init (busybox sh).
#
# Every check prints exactly one line: `PASS name`, `FAIL name: why` or `SKIP name: why`
# (SKIP only for commands this berth build does not have yet, and for files this kernel
# lacks). conformance/tests/cgroup_v2_vm.rs turns the lines into test results.
#
# Containers live under cgroupsPath /berth-vm/<id>; bundles share one read-only busybox
# rootfs made in the VM's tmpfs. The scenario cleans up after itself and checks that
# nothing is left in /sys/fs/cgroup/berth-vm nor in berth's --root.

B=/vm/berth
ROOT=/run/berth
CG=/sys/fs/cgroup
PARENT=berth-vm
WORK=/tmp/vm
ROOTFS=/tmp/vm/rootfs

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

berth() { "$B" --root "$ROOT" "$@"; }

# one_line FILE: the file's content with newlines as " | " (for messages).
one_line() { tr '\n' '|' <"$1" 2>/dev/null | sed 's/|$//; s/|/ | /g'; }

# expect_file NAME DIR FILE WANT: the control file holds exactly WANT.
expect_file() {
    if [ ! -e "$2/$3" ]; then
        fail "$1" "$2/$3 does not exist"
        return
    fi
    got=$(cat "$2/$3" 2>&1)
    if [ "$got" = "$4" ]; then pass "$1"; else fail "$1" "$2/$3 is '$got', want '$4'"; fi
}

# state_field ID FIELD: a string or number field of `berth state`.
state_field() {
    berth state "$1" 2>/dev/null | tr -d '\n' |
        sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p"
}

# wait_status ID WANT TENTHS: polls `berth state` until the status is WANT.
wait_status() {
    n=0
    while [ "$n" -lt "$3" ]; do
        [ "$(state_field "$1" status)" = "$2" ] && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# wait_empty DIR TENTHS: polls until DIR/cgroup.procs is empty.
wait_empty() {
    n=0
    while [ "$n" -lt "$2" ]; do
        [ -z "$(cat "$1/cgroup.procs" 2>/dev/null)" ] && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# has_command CMD: the build has CMD (its --help works and is not the "not implemented" stub).
has_command() {
    berth "$1" --help >"$WORK/help-$1" 2>&1 && ! grep -qi 'not implemented' "$WORK/help-$1"
}

# bundle ID ARGS_JSON RESOURCES_JSON [EXTRA_NAMESPACES_JSON] [EXTRA_MOUNTS_JSON]
# Writes $WORK/ID/config.json; arrays' extras start with a comma.
bundle() {
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/config.json" <<EOF
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": $2,
    "env": ["PATH=/bin"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]
    },
    "noNewPrivileges": true
  },
  "root": {"path": "$ROOTFS", "readonly": true},
  "hostname": "$1",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    $5
  ],
  "linux": {
    "cgroupsPath": "/$PARENT/$1",
    "resources": $3,
    "namespaces": [
      {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
      $4
    ]
  }
}
EOF
}

# create_start ID: create + start with the container's stdio in $WORK/ID.out/.err; the
# create's own error (if any) in $WORK/ID.create.
create_start() {
    berth create --bundle "$WORK/$1" "$1" >"$WORK/$1.out" 2>"$WORK/$1.err" </dev/null ||
        { cp "$WORK/$1.err" "$WORK/$1.create"; return 1; }
    berth start "$1" >"$WORK/$1.start" 2>&1 || { cp "$WORK/$1.start" "$WORK/$1.create"; return 1; }
}

# finish ID NAME: kill --all, delete, and check the container's cgroup directory is gone.
finish() {
    berth kill --all "$1" KILL >/dev/null 2>&1
    wait_status "$1" stopped 100
    if berth delete "$1" >"$WORK/$1.delete" 2>&1; then
        if [ -d "$CG/$PARENT/$1" ]; then
            fail "$2" "$CG/$PARENT/$1 still exists after delete"
        else
            pass "$2"
        fi
    else
        fail "$2" "delete: $(one_line "$WORK/$1.delete")"
        berth delete --force "$1" >/dev/null 2>&1
    fi
}

setup() {
    mkdir -p "$WORK" "$ROOTFS/bin" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev" "$ROOTFS/tmp" "$ROOT"
    cp /bin/busybox "$ROOTFS/bin/busybox"
    cp /vm/berth-check "$ROOTFS/bin/berth-check"
    for a in sh sleep cat echo true ls; do ln -s busybox "$ROOTFS/bin/$a"; done
    # What a child cgroup gets on this kernel (io.weight needs an I/O cost model or BFQ).
    mkdir "$CG/probe" && ls "$CG/probe" >"$WORK/probe-files"
    rmdir "$CG/probe"
}

has_file() { grep -qx "$1" "$WORK/probe-files"; }

check_layout() {
    v1=$(grep -c ' - cgroup ' /proc/self/mountinfo)
    v2=$(grep -c ' - cgroup2 ' /proc/self/mountinfo)
    if [ "$v1" = 0 ] && [ "$v2" = 1 ]; then
        pass layout-pure-v2
    else
        fail layout-pure-v2 "cgroup v1 mounts: $v1, cgroup2 mounts: $v2"
    fi
}

# A sleeping container with every resource v2 can take; values read back from its files.
check_resources() {
    id=res
    cpu='"shares": 2048, "quota": 50000, "period": 100000, "cpus": "1", "mems": "0"'
    has_file cpu.max.burst && cpu="$cpu, \"burst\": 1000"
    mem='"limit": 67108864, "reservation": 33554432'
    has_file memory.swap.max && mem="$mem, \"swap\": 134217728"
    extra=''
    has_file io.weight && extra="$extra, \"blockIO\": {\"weight\": 500}"
    has_file hugetlb.2MB.max &&
        extra="$extra, \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}]"
    bundle $id \
        '["/bin/berth-check", "--file", "/proc/self/cgroup", "--file", "/sys/fs/cgroup/memory.max", "--file", "/sys/fs/cgroup/pids.max", "--sleep"]' \
        "{\"memory\": {$mem}, \"cpu\": {$cpu}, \"pids\": {\"limit\": 32},
          \"unified\": {\"memory.high\": \"61440000\"},
          \"devices\": [{\"allow\": false, \"access\": \"rwm\"}] $extra}" \
        ', {"type": "cgroup"}'
    if ! create_start $id; then
        fail res-create "$(one_line "$WORK/$id.create")"
        berth delete --force $id >/dev/null 2>&1
        return 1
    fi
    pass res-create
    dir=$CG/$PARENT/$id
    pid=$(state_field $id pid)
    if grep -qx "$pid" "$dir/cgroup.procs" 2>/dev/null; then
        pass res-init-in-cgroup
    else
        fail res-init-in-cgroup "pid $pid not in $dir/cgroup.procs ($(one_line "$dir/cgroup.procs"))"
    fi
    expect_file res-memory.max "$dir" memory.max 67108864
    expect_file res-memory.low "$dir" memory.low 33554432
    expect_file res-memory.high-unified "$dir" memory.high 61440000
    if has_file memory.swap.max; then
        expect_file res-memory.swap.max "$dir" memory.swap.max 67108864
    else
        skip res-memory.swap.max "kernel has no memory.swap.max"
    fi
    # shares 2048 -> weight 1 + (2048 - 2) * 9999 / 262142
    expect_file res-cpu.weight "$dir" cpu.weight $((1 + (2048 - 2) * 9999 / 262142))
    expect_file res-cpu.max "$dir" cpu.max "50000 100000"
    if has_file cpu.max.burst; then
        expect_file res-cpu.max.burst "$dir" cpu.max.burst 1000
    else
        skip res-cpu.max.burst "kernel has no cpu.max.burst"
    fi
    expect_file res-cpuset.cpus "$dir" cpuset.cpus 1
    expect_file res-cpuset.mems "$dir" cpuset.mems 0
    allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$pid/status")
    if [ "$allowed" = 1 ]; then pass res-cpuset-observed; else
        fail res-cpuset-observed "init's Cpus_allowed_list is '$allowed', want 1"
    fi
    expect_file res-pids.max "$dir" pids.max 32
    if has_file io.weight; then
        # weight 500 -> 1 + (500 - 10) * 9999 / 990
        expect_file res-io.weight "$dir" io.weight "default $((1 + (500 - 10) * 9999 / 990))"
    else
        skip res-io.weight "kernel gives child cgroups no io.weight (no BFQ, no io cost model)"
    fi
    if has_file hugetlb.2MB.max; then
        expect_file res-hugetlb.2MB.max "$dir" hugetlb.2MB.max 4194304
    else
        skip res-hugetlb.2MB.max "kernel has no hugetlb.2MB.max"
    fi
    for c in memory pids cpu cpuset; do
        if grep -qw $c "$CG/$PARENT/cgroup.subtree_control"; then
            pass "res-parent-enables-$c"
        else
            fail "res-parent-enables-$c" "$CG/$PARENT/cgroup.subtree_control is '$(cat "$CG/$PARENT/cgroup.subtree_control")'"
        fi
    done
    # The checker's view through its cgroup namespace: root of its own cgroup, limits visible.
    n=0
    while [ ! -s "$WORK/$id.out" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    view=$(cat "$WORK/$id.out")
    case "$view" in
    *'"/proc/self/cgroup":"0::/\n"'*) pass res-cgroupns-root ;;
    *) fail res-cgroupns-root "checker output: $view $(one_line "$WORK/$id.err")" ;;
    esac
    case "$view" in
    *'"/sys/fs/cgroup/memory.max":"67108864\n"'*'"/sys/fs/cgroup/pids.max":"32\n"'*) pass res-limits-visible-inside ;;
    *) fail res-limits-visible-inside "checker output: $view" ;;
    esac
    return 0
}

# pause/resume on the running res container (only when this build has them).
check_pause() {
    id=res dir=$CG/$PARENT/res
    if ! has_command pause; then
        skip pause "berth pause is not in this build ($(head -n1 "$WORK/help-pause"))"
        return
    fi
    if berth pause $id >"$WORK/pause" 2>&1; then pass pause-command; else
        fail pause-command "$(one_line "$WORK/pause")"
        return
    fi
    expect_file pause-cgroup.freeze "$dir" cgroup.freeze 1
    if grep -qx 'frozen 1' "$dir/cgroup.events"; then pass pause-frozen-event; else
        fail pause-frozen-event "cgroup.events: $(one_line "$dir/cgroup.events")"
    fi
    st=$(state_field $id status)
    if [ "$st" = paused ]; then pass pause-status; else fail pause-status "status '$st', want paused"; fi
    if berth resume $id >"$WORK/resume" 2>&1; then pass resume-command; else
        fail resume-command "$(one_line "$WORK/resume")"
        return
    fi
    expect_file resume-cgroup.freeze "$dir" cgroup.freeze 0
    if grep -qx 'frozen 0' "$dir/cgroup.events"; then pass resume-thawed-event; else
        fail resume-thawed-event "cgroup.events: $(one_line "$dir/cgroup.events")"
    fi
    st=$(state_field $id status)
    if [ "$st" = running ]; then pass resume-status; else fail resume-status "status '$st', want running"; fi
}

# update, ps and events on the running res container (only when this build has them).
check_update_ps_events() {
    id=res dir=$CG/$PARENT/res
    if has_command update; then
        # runc's flag names (--cpu-share is runc's spelling).
        set -- --pids-limit 64 --memory 100663296 --cpu-share 512 \
            --cpu-quota 20000 --cpu-period 50000 --cpuset-cpus 0
        has_file memory.swap.max && set -- "$@" --memory-swap 201326592
        has_file io.weight && set -- "$@" --blkio-weight 100
        if berth update "$@" $id >"$WORK/update" 2>&1; then
            pass update-flags
            expect_file update-pids.max "$dir" pids.max 64
            expect_file update-memory.max "$dir" memory.max 100663296
            expect_file update-cpu.weight "$dir" cpu.weight $((1 + (512 - 2) * 9999 / 262142))
            expect_file update-cpu.max "$dir" cpu.max "20000 50000"
            expect_file update-cpuset.cpus "$dir" cpuset.cpus 0
            pid=$(state_field $id pid)
            allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$pid/status")
            if [ "$allowed" = 0 ]; then pass update-cpuset-observed; else
                fail update-cpuset-observed "init's Cpus_allowed_list is '$allowed', want 0"
            fi
            # memory+swap 192 MiB with memory 96 MiB -> swap alone 96 MiB
            has_file memory.swap.max && expect_file update-memory.swap.max "$dir" memory.swap.max 100663296
            # weight 100 -> 1 + (100 - 10) * 9999 / 990
            has_file io.weight &&
                expect_file update-io.weight "$dir" io.weight "default $((1 + (100 - 10) * 9999 / 990))"
        else
            fail update-flags "$(one_line "$WORK/update")"
        fi
        if echo '{"pids": {"limit": 50}}' | berth update --resources - $id >"$WORK/update-json" 2>&1; then
            expect_file update-resources-stdin "$dir" pids.max 50
        else
            fail update-resources-stdin "$(one_line "$WORK/update-json")"
        fi
    else
        skip update "berth update is not in this build ($(head -n1 "$WORK/help-update"))"
    fi
    if has_command ps; then
        pid=$(state_field $id pid)
        if berth ps --format json $id >"$WORK/ps" 2>&1 && grep -qw "$pid" "$WORK/ps"; then
            pass ps-json
        else
            fail ps-json "want init pid $pid in: $(one_line "$WORK/ps")"
        fi
    else
        skip ps "berth ps is not in this build ($(head -n1 "$WORK/help-ps"))"
    fi
    if has_command events; then
        if berth events --stats $id >"$WORK/events" 2>&1 && grep -q '"type": *"stats"' "$WORK/events"; then
            pass events-stats
        else
            fail events-stats "$(one_line "$WORK/events")"
        fi
    else
        skip events "berth events is not in this build ($(head -n1 "$WORK/help-events"))"
    fi
}

# pids.max reached: the container's shell cannot fork past the limit. The forking happens
# in a subshell (busybox sh gives up at the first failed fork), so the init lives on with
# two sleeping children for the kill --all checks.
check_pids_enforced() {
    id=pids
    bundle $id '["/bin/sh", "-c", "(for i in 1 2 3 4 5 6 7 8; do sleep 300 & done); exec sleep 300"]' \
        '{"pids": {"limit": 4}}'
    if ! create_start $id; then
        fail pids-create "$(one_line "$WORK/$id.create")"
        berth delete --force $id >/dev/null 2>&1
        return
    fi
    dir=$CG/$PARENT/$id
    n=0
    while ! grep -q '^max [1-9]' "$dir/pids.events" 2>/dev/null && [ $n -lt 50 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if grep -q '^max [1-9]' "$dir/pids.events"; then pass pids-limit-hit; else
        fail pids-limit-hit "pids.events: $(one_line "$dir/pids.events")"
    fi
    cur=$(cat "$dir/pids.current")
    if [ "$cur" -le 4 ]; then pass pids-current-capped; else
        fail pids-current-capped "pids.current is $cur with pids.max 4"
    fi
    init=$(state_field $id pid)
    procs=$(wc -l <"$dir/cgroup.procs")
    if [ "$(state_field $id status)" = running ] && [ "$procs" -ge 2 ]; then
        pass pids-init-survives
    else
        fail pids-init-survives "status '$(state_field $id status)', $procs pids in the cgroup (want running, >= 2)"
    fi
    # kill --all TERM on v2 without cgroup.kill's help (freeze, signal each, thaw): the
    # background sleeps die; the init (a pid namespace's init ignores an unhandled TERM
    # from outside) stays, and the cgroup is thawed again.
    if berth kill --all $id TERM >"$WORK/$id.term" 2>&1; then
        n=0
        while [ "$(cat "$dir/cgroup.procs")" != "$init" ] && [ $n -lt 50 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        if [ "$(cat "$dir/cgroup.procs")" = "$init" ]; then pass kill-all-term-reaches-children; else
            fail kill-all-term-reaches-children "cgroup.procs: $(one_line "$dir/cgroup.procs"), want only init $init"
        fi
        expect_file kill-all-term-thaws "$dir" cgroup.freeze 0
    else
        fail kill-all-term-reaches-children "kill --all TERM: $(one_line "$WORK/$id.term")"
    fi
    # kill --all KILL empties the cgroup (cgroup.kill on this kernel).
    if berth kill --all $id KILL >"$WORK/$id.kill" 2>&1; then
        if wait_empty "$dir" 100; then pass kill-all-empties-cgroup; else
            fail kill-all-empties-cgroup "cgroup.procs still: $(one_line "$dir/cgroup.procs")"
        fi
    else
        fail kill-all-empties-cgroup "kill --all: $(one_line "$WORK/$id.kill")"
    fi
    if wait_status $id stopped 100; then pass kill-all-stopped; else
        fail kill-all-stopped "status '$(state_field $id status)', want stopped"
    fi
    finish $id pids-delete-removes-cgroup
}

# memory.max reached: the kernel OOM-kills the container's process, memory.events counts it.
check_memory_oom() {
    id=oom
    bundle $id '["/bin/sh", "-c", "a=0123456789abcdef; while :; do a=$a$a; done"]' \
        '{"memory": {"limit": 16777216}}'
    if ! berth create --bundle "$WORK/$id" $id >"$WORK/$id.out" 2>"$WORK/$id.err" </dev/null; then
        fail oom-create "$(one_line "$WORK/$id.err")"
        berth delete --force $id >/dev/null 2>&1
        return
    fi
    events_pid=
    if has_command events; then
        berth events --interval 1s $id >"$WORK/$id.events" 2>&1 &
        events_pid=$!
        sleep 0.5
    fi
    berth start $id >"$WORK/$id.start" 2>&1 || fail oom-start "$(one_line "$WORK/$id.start")"
    dir=$CG/$PARENT/$id
    if wait_status $id stopped 300; then pass oom-container-stops; else
        fail oom-container-stops "status '$(state_field $id status)' 30 s after start"
    fi
    if grep -q '^oom_kill [1-9]' "$dir/memory.events" 2>/dev/null; then pass oom-kill-counted; else
        fail oom-kill-counted "memory.events: $(one_line "$dir/memory.events")"
    fi
    if [ -n "$events_pid" ]; then
        n=0
        while ! grep -q '"type": *"oom"' "$WORK/$id.events" && [ $n -lt 30 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        kill "$events_pid" 2>/dev/null
        wait "$events_pid" 2>/dev/null
        if grep -q '"type": *"oom"' "$WORK/$id.events"; then pass events-oom; else
            fail events-oom "no oom event from berth events: $(one_line "$WORK/$id.events" | cut -c1-400)"
        fi
    else
        skip events-oom "berth events is not in this build"
    fi
    finish $id oom-delete-removes-cgroup
}

# Device rules through the eBPF program: /dev/kmsg bound in, written to with and without a rule.
check_devices() {
    mount='{"destination": "/dev/vmkmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}'
    for case in denied allowed; do
        id=dev-$case
        rules='{"allow": false, "access": "rwm"}'
        [ $case = allowed ] && rules="$rules, {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 11, \"access\": \"w\"}"
        bundle $id '["/bin/berth-check", "--write", "/dev/vmkmsg=berth-vm device check", "--write", "/dev/null=x"]' \
            "{\"devices\": [$rules]}" '' ", $mount"
        if ! berth run --bundle "$WORK/$id" $id >"$WORK/$id.out" 2>"$WORK/$id.err" </dev/null; then
            fail "devices-$case" "run: $(one_line "$WORK/$id.err")"
            berth delete --force $id >/dev/null 2>&1
            continue
        fi
        # The checker's "write" object: {"<path>=<data>": true | "<error>", ...}
        out=$(sed -n 's/.*"write":\({[^}]*}\).*/\1/p' "$WORK/$id.out")
        [ -n "$out" ] || out="no write results in: $(one_line "$WORK/$id.out")"
        case "$case:$out" in
        denied:*'"/dev/vmkmsg=berth-vm device check":"Operation not permitted'*) pass devices-denied ;;
        allowed:*'"/dev/vmkmsg=berth-vm device check":true'*) pass devices-allowed ;;
        *) fail "devices-$case" "writes: $out" ;;
        esac
        case "$out" in
        *'"/dev/null=x":true'*) pass "devices-$case-default-null" ;;
        *) fail "devices-$case-default-null" "writes: $out" ;;
        esac
        if [ -d "$CG/$PARENT/$id" ]; then
            fail "devices-$case-run-removes-cgroup" "$CG/$PARENT/$id left after run"
        else
            pass "devices-$case-run-removes-cgroup"
        fi
    done
}

# delete --force of the running res container: processes and cgroup gone.
check_force_delete() {
    id=res dir=$CG/$PARENT/res
    [ -d "$dir" ] || return
    pid=$(state_field $id pid)
    if berth delete --force $id >"$WORK/$id.delete" 2>&1; then pass res-delete-force; else
        fail res-delete-force "$(one_line "$WORK/$id.delete")"
    fi
    if [ -d "$dir" ]; then fail res-delete-removes-cgroup "$dir still exists"; else
        pass res-delete-removes-cgroup
    fi
    if [ -n "$pid" ] && [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status"; then
        fail res-delete-kills-init "pid $pid still alive"
    else
        pass res-delete-kills-init
    fi
}

# What v2 has no file for is refused at create, naming the file, with nothing left behind.
check_refusals() {
    n=0
    for entry in \
        'memory.swappiness|{"memory": {"swappiness": 10}}' \
        'cpu.rt_runtime_us|{"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 100000}}' \
        'blkio.leaf_weight|{"blockIO": {"leafWeight": 100}}' \
        'memory.nonexistent|{"unified": {"memory.nonexistent": "1"}}'; do
        n=$((n + 1))
        file=${entry%%|*}
        id=refuse-$n
        bundle $id '["/bin/true"]' "${entry#*|}"
        if berth create --bundle "$WORK/$id" $id >"$WORK/$id.out" 2>"$WORK/$id.err" </dev/null; then
            fail "refuses-$file" "create succeeded"
            berth delete --force $id >/dev/null 2>&1
        elif grep -qF "$file" "$WORK/$id.err"; then
            pass "refuses-$file"
        else
            fail "refuses-$file" "error does not name $file: $(one_line "$WORK/$id.err")"
        fi
        if [ -d "$CG/$PARENT/$id" ] || [ -d "$ROOT/$id" ]; then
            fail "refuses-$file-cleans-up" "left: $(ls -d "$CG/$PARENT/$id" "$ROOT/$id" 2>/dev/null)"
            rmdir "$CG/$PARENT/$id" 2>/dev/null
        else
            pass "refuses-$file-cleans-up"
        fi
    done
}

# A nested cgroupsPath: every level made (controllers enabled on the way down) and, at
# delete, every level berth made removed again. cpu.idle rides along (v2 only).
check_nested_path() {
    id=nested
    bundle $id '["/bin/sleep", "300"]' '{"pids": {"limit": 10}, "cpu": {"idle": 1}}'
    sed -i "s|\"cgroupsPath\": \"/$PARENT/$id\"|\"cgroupsPath\": \"/$PARENT/nest/a/$id\"|" "$WORK/$id/config.json"
    dir=$CG/$PARENT/nest/a/$id
    if ! create_start $id; then
        fail nested-create "$(one_line "$WORK/$id.create")"
        berth delete --force $id >/dev/null 2>&1
        return
    fi
    expect_file nested-pids.max "$dir" pids.max 10
    if has_file cpu.idle; then
        expect_file nested-cpu.idle "$dir" cpu.idle 1
    else
        skip nested-cpu.idle "kernel has no cpu.idle"
    fi
    if grep -qw pids "$CG/$PARENT/nest/a/cgroup.subtree_control"; then pass nested-parents-enable-pids; else
        fail nested-parents-enable-pids "$CG/$PARENT/nest/a/cgroup.subtree_control is '$(cat "$CG/$PARENT/nest/a/cgroup.subtree_control")'"
    fi
    berth kill $id KILL >/dev/null 2>&1
    wait_status $id stopped 100
    if berth delete $id >"$WORK/$id.delete" 2>&1; then
        if [ -d "$CG/$PARENT/nest" ]; then
            fail nested-delete-removes-made-parents "left: $(cd "$CG/$PARENT" && find nest -type d)"
        else
            pass nested-delete-removes-made-parents
        fi
    else
        fail nested-delete-removes-made-parents "delete: $(one_line "$WORK/$id.delete")"
        berth delete --force $id >/dev/null 2>&1
    fi
    rmdir "$dir" "$CG/$PARENT/nest/a" "$CG/$PARENT/nest" 2>/dev/null
}

# exec --cgroup on v2: the exec'd process is cloned into an existing sub-cgroup
# (CLONE_INTO_CGROUP); a path leaving the container's cgroup and a missing one are refused.
check_exec_cgroup() {
    id=execcg
    bundle $id '["/bin/sleep", "300"]' '{"pids": {"limit": 16}}'
    if ! create_start $id; then
        fail exec-cgroup-v2-sub "create: $(one_line "$WORK/$id.create")"
        berth delete --force $id >/dev/null 2>&1
        return
    fi
    dir=$CG/$PARENT/$id
    mkdir "$dir/sub"
    if berth exec --detach --pid-file "$WORK/$id.pid" --cgroup sub $id /bin/sleep 300 \
        >"$WORK/$id.exec" 2>&1 </dev/null; then
        pid=$(cat "$WORK/$id.pid")
        if grep -qx "$pid" "$dir/sub/cgroup.procs"; then pass exec-cgroup-v2-sub; else
            fail exec-cgroup-v2-sub "pid $pid not in $dir/sub/cgroup.procs ($(one_line "$dir/sub/cgroup.procs"))"
        fi
    else
        fail exec-cgroup-v2-sub "$(one_line "$WORK/$id.exec")"
    fi
    if berth exec --cgroup ../x $id /bin/true >"$WORK/$id.esc" 2>&1 </dev/null; then
        fail exec-cgroup-v2-escape-refused "exec --cgroup ../x succeeded"
    elif grep -q 'not inside' "$WORK/$id.esc"; then pass exec-cgroup-v2-escape-refused; else
        fail exec-cgroup-v2-escape-refused "$(one_line "$WORK/$id.esc")"
    fi
    if berth exec --cgroup missing $id /bin/true >"$WORK/$id.miss" 2>&1 </dev/null; then
        fail exec-cgroup-v2-missing-named "exec --cgroup missing succeeded"
    elif grep -q "$dir/missing" "$WORK/$id.miss"; then pass exec-cgroup-v2-missing-named; else
        fail exec-cgroup-v2-missing-named "$(one_line "$WORK/$id.miss")"
    fi
    finish $id exec-cgroup-v2-delete-removes-sub
}

check_nothing_left() {
    left=$(cd "$CG/$PARENT" 2>/dev/null && find . -mindepth 1 -type d)
    if [ -n "$left" ]; then fail nothing-left-in-cgroup "left in $CG/$PARENT: $left"; else
        pass nothing-left-in-cgroup
    fi
    rmdir "$CG/$PARENT" 2>/dev/null
    # exe-seal.empty: the empty overlay layer berth keeps for its sealed binary (CVE-2019-5736).
    states=$(ls "$ROOT" 2>/dev/null | grep -vx 'exe-seal.empty')
    if [ -n "$states" ]; then fail nothing-left-in-root "state dirs left: $states"; else
        pass nothing-left-in-root
    fi
}

setup
check_layout
if check_resources; then
    check_pause
    check_update_ps_events
fi
check_pids_enforced
check_memory_oom
check_devices
check_refusals
check_nested_path
check_exec_cgroup
check_force_delete
check_nothing_left
