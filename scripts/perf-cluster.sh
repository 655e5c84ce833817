#!/usr/bin/env bash
# Cluster performance, end to end, on loopback: produce throughput and latency on one node
# and on a 3-node cluster, and how long a producer waits when a partition leader dies.
#
# 0. Prints ../shared/bin/machine-limits (if present): the denominators of the ratios.
# 1. One node (no --peer-listen): a topic with 3 partitions; `eddy bench produce`,
#    acks=1 → throughput and produce latency p50/p99.
# 2. Three nodes (node 1 is the first seed and bootstraps; session timeout 3 s, heartbeat
#    300 ms, replica lag 10 s): a topic with 3 partitions, replication factor 3 and
#    min.insync.replicas=2; `eddy bench produce -b <all three>` with acks=all, then with
#    acks=1 on a second topic of the same shape.
# 3. Failover, FAILOVER_RUNS times, on a 1-partition RF 3 topic: scripts/failover_time.py
#    produces one small record every ~2 ms (idempotent, acks=all), kills partition 0's
#    leader with SIGKILL itself (T0) and reports the time from T0 to the first successful
#    delivery of a record sent after T0. The killed node is restarted with the same
#    arguments and data directory and must be back in the ISR before the next run.
# 4. Prints a markdown table for docs/PERFORMANCE.md.
#
# Environment:
#   EDDY_BIN       the eddy binary (default target/release/eddy; build it with
#                  `cargo build --release`)
#   RECORDS        records per bench run (300000)     RECORD_SIZE  bytes per record (1024)
#   BATCH          bench --batch-size in bytes (262144)
#   FAILOVER_RUNS  failover measurements (5)
#   PORT_BASE      first loopback port (29000); uses PORT_BASE..PORT_BASE+32
#   KEEP_DATA=1    keep the nodes' data directories (default: only logs and JSON are kept)
#   EDDY_TEST_PYTHON  Python with confluent-kafka (default .venv/bin/python, see scripts/test.sh)
# Every wait has a deadline; every process this script starts is killed on exit. The nodes
# run a copy of EDDY_BIN made at the start, so a rebuild meanwhile changes nothing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
EDDY=${EDDY_BIN:-target/release/eddy}
case $EDDY in /*) ;; *) EDDY=$ROOT/$EDDY ;; esac
PY=${EDDY_TEST_PYTHON:-$ROOT/.venv/bin/python}
RECORDS=${RECORDS:-300000}
RECORD_SIZE=${RECORD_SIZE:-1024}
BATCH=${BATCH:-262144}
FAILOVER_RUNS=${FAILOVER_RUNS:-5}
PORT_BASE=${PORT_BASE:-29000}
KEEP_DATA=${KEEP_DATA:-0}
MACHINE_LIMITS=$ROOT/../shared/bin/machine-limits

# Cluster timing, as in the cluster tests (except the replica lag).
SESSION_TIMEOUT_MS=3000
HEARTBEAT_INTERVAL_MS=300
REPLICA_LAG_TIME_MAX_MS=10000
# Deadlines (seconds).
PORTS_TIMEOUT_S=30
CLUSTER_READY_TIMEOUT_S=60
TOPIC_READY_TIMEOUT_S=30
REJOIN_TIMEOUT_S=90
BENCH_TIMEOUT_S=900
CLI_TIMEOUT_S=60
FAILOVER_TIMEOUT_S=60
STOP_TIMEOUT_S=10

if [ ! -x "$EDDY" ]; then
    echo "no eddy binary at $EDDY: run \`cargo build --release\` (or set EDDY_BIN)" >&2
    exit 1
fi
[ -x "$PY" ] || { echo "no test Python at $PY: run scripts/test.sh first" >&2; exit 1; }
"$PY" -c 'import confluent_kafka' 2>/dev/null \
    || { echo "$PY has no confluent_kafka: run scripts/test.sh first" >&2; exit 1; }
# The nodes and the CLI take their settings from the arguments only.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^EDDY_' || true)

section() {
    printf '\n==> %s (%ss)\n' "$*" "$SECONDS"
}

WORK=$(mktemp -d /tmp/eddy-perf-cluster-XXXXXX)
declare -A PIDS=()   # node name -> pid of a running eddy
FAILOVER_PID=

# Stops node $1, if it runs: TERM, then KILL after STOP_TIMEOUT_S (the shell reaps it).
stop_node() {
    local name=$1 pid=${PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + STOP_TIMEOUT_S))
        while kill -0 "$pid" 2>/dev/null && ! zombie "$pid" && [ $SECONDS -lt $deadline ]; do
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    unset "PIDS[$name]"
}

zombie() {
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# Whether node $1's process is gone (killed by failover_time.py, or crashed).
node_dead() {
    local pid=${PIDS[$1]:-}
    [ -z "$pid" ] || [ ! -e "/proc/$pid" ] || zombie "$pid"
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$FAILOVER_PID" ] && kill -0 "$FAILOVER_PID" 2>/dev/null; then
        kill "$FAILOVER_PID" 2>/dev/null || true
        wait "$FAILOVER_PID" 2>/dev/null || true
    fi
    local name
    for name in "${!PIDS[@]}"; do stop_node "$name"; done
    if [ "$KEEP_DATA" != 1 ]; then
        rm -rf "$WORK"/data-* "$WORK/eddy" 2>/dev/null || true
    fi
    [ "$status" = 0 ] || echo "FAILED (exit $status); node logs and JSON in $WORK" >&2
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private copy: every start and restart runs the same binary even if a build replaces it.
cp "$EDDY" "$WORK/eddy"
EDDY_SOURCE=$EDDY
EDDY=$WORK/eddy

# Ports: single node kafka/admin = BASE, BASE+1; node i of the cluster: kafka BASE+10i,
# peer BASE+10i+1, admin BASE+10i+2.
SINGLE_KAFKA=$PORT_BASE
SINGLE_ADMIN=$((PORT_BASE + 1))
kafka_port() { echo $((PORT_BASE + 10 * $1)); }
peer_port() { echo $((PORT_BASE + 10 * $1 + 1)); }
admin_port() { echo $((PORT_BASE + 10 * $1 + 2)); }
ALL_PORTS="$SINGLE_KAFKA $SINGLE_ADMIN"
for i in 1 2 3; do ALL_PORTS+=" $(kafka_port $i) $(peer_port $i) $(admin_port $i)"; done
SEEDS=127.0.0.1:$(peer_port 1),127.0.0.1:$(peer_port 2),127.0.0.1:$(peer_port 3)
CLUSTER_BOOTSTRAP=127.0.0.1:$(kafka_port 1),127.0.0.1:$(kafka_port 2),127.0.0.1:$(kafka_port 3)
ADMIN_URLS=()
for i in 1 2 3; do ADMIN_URLS+=("http://127.0.0.1:$(admin_port $i)"); done

# Fails unless every port this script uses is free now.
# shellcheck disable=SC2086
"$PY" - $ALL_PORTS <<'EOF' || exit 1
import socket, sys
busy = []
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        busy.append(port)
    finally:
        s.close()
if busy:
    sys.exit(f"ports in use: {busy}; pick other ports with PORT_BASE=...")
EOF

# Waits until the TCP ports $2.. accept connections, while process $1 lives.
wait_for_ports() {
    "$PY" - "$PORTS_TIMEOUT_S" "$@" <<'EOF'
import os, socket, sys, time
limit, pid, ports = float(sys.argv[1]), int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
deadline = time.monotonic() + limit
pending = list(ports)
while pending:
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split()[2] == "Z":
                raise FileNotFoundError
    except FileNotFoundError:
        sys.exit(f"process {pid} exited before listening on {ports}")
    try:
        socket.create_connection(("127.0.0.1", pending[0]), timeout=0.2).close()
        pending.pop(0)
        continue
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"nothing listened on {pending} within {limit}s")
    time.sleep(0.05)
EOF
}

# Waits until every admin URL reports 3 unfenced members and, with a topic name, every
# partition of that topic has a leader and all of its replicas in the ISR. Prints the
# leaders ("p0:n1 p1:n2 ..."). Args: TIMEOUT_S [TOPIC].
wait_cluster() {
    "$PY" - "$1" "${2:-}" "${ADMIN_URLS[@]}" <<'EOF'
import json, sys, time, urllib.request
limit, topic, urls = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
deadline = time.monotonic() + limit
last = {}
while True:
    ok, leaders = True, ""
    for url in urls:
        try:
            with urllib.request.urlopen(url + "/cluster", timeout=2) as r:
                s = json.load(r)
        except (OSError, ValueError) as err:
            last[url], ok = f"no answer: {err}", False
            continue
        members = s.get("members", [])
        good = len(members) == 3 and all(not m["fenced"] for m in members)
        if good and topic:
            parts = [p for t in s.get("topics", []) if t["name"] == topic
                     for p in t["partitions"]]
            good = bool(parts) and all(
                p["leader"] >= 0 and sorted(p["isr"]) == sorted(p["replicas"])
                and len(p["replicas"]) == 3 for p in parts)
            leaders = " ".join(f"p{p['partition']}:n{p['leader']}"
                               for p in sorted(parts, key=lambda p: p["partition"]))
        if not good:
            last[url], ok = json.dumps({"members": members, "topics": s.get("topics")}), False
    if ok:
        print(leaders)
        sys.exit(0)
    if time.monotonic() > deadline:
        for url, what in last.items():
            print(f"{url}: {what}", file=sys.stderr)
        what = f"topic {topic} fully replicated" if topic else "3 unfenced members"
        sys.exit(f"the cluster did not report {what} within {limit}s")
    time.sleep(0.1)
EOF
}

start_single() {
    NO_COLOR=1 "$EDDY" start --node-id 1 --data-dir "$WORK/data-single" \
        --listen "127.0.0.1:$SINGLE_KAFKA" --admin "127.0.0.1:$SINGLE_ADMIN" \
        >>"$WORK/single.log" 2>&1 &
    PIDS[single]=$!
    # Not a job of this shell: no "Killed" notices; the shell still reaps it.
    disown "${PIDS[single]}"
    wait_for_ports "${PIDS[single]}" "$SINGLE_KAFKA" "$SINGLE_ADMIN"
}

# Starts cluster node $1 (1..3) in the background; the same arguments on every restart.
start_node() {
    local i=$1
    echo "===== start of node $i at $(date +%T.%N) =====" >>"$WORK/node$i.log"
    NO_COLOR=1 "$EDDY" start --node-id "$i" --data-dir "$WORK/data-node$i" \
        --listen "127.0.0.1:$(kafka_port "$i")" --peer-listen "127.0.0.1:$(peer_port "$i")" \
        --admin "127.0.0.1:$(admin_port "$i")" --seeds "$SEEDS" \
        --broker-session-timeout-ms "$SESSION_TIMEOUT_MS" \
        --broker-heartbeat-interval-ms "$HEARTBEAT_INTERVAL_MS" \
        --replica-lag-time-max-ms "$REPLICA_LAG_TIME_MAX_MS" \
        >>"$WORK/node$i.log" 2>&1 &
    PIDS[node$i]=$!
    disown "${PIDS[node$i]}"
}

# Creates topic $2 through bootstrap $1 with extra `eddy topic create` args $3...
# A few bounded attempts: a fresh cluster may still be settling its controller.
create_topic() {
    local bootstrap=$1 name=$2 attempt
    shift 2
    for attempt in 1 2 3 4 5; do
        if timeout "$CLI_TIMEOUT_S" "$EDDY" topic create "$name" "$@" \
            --bootstrap-server "$bootstrap" >>"$WORK/cli.log" 2>&1; then
            return 0
        fi
        echo "topic create $name: attempt $attempt failed (see $WORK/cli.log)" >&2
        sleep 1
    done
    return 1
}

# Runs the produce bench: $1 label (file name), $2 bootstrap, $3 topic, $4 acks.
bench() {
    local label=$1 bootstrap=$2 topic=$3 acks=$4
    timeout "$BENCH_TIMEOUT_S" "$EDDY" bench produce --topic "$topic" --records "$RECORDS" \
        --record-size "$RECORD_SIZE" --acks "$acks" --batch-size "$BATCH" \
        -b "$bootstrap" --json >"$WORK/bench-$label.json" 2>"$WORK/bench-$label.err"
    "$PY" - "$WORK/bench-$label.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
l = b["latency_ms"]
mb = b["records"] * b["record_size"] / b["seconds"] / 1e6 if b["seconds"] else 0.0
print(f"  {b['records']:,} records in {b['seconds']:.2f} s: {mb:.1f} MB/s, "
      f"{b['records_per_sec']:,.0f} records/s, {b['requests']} requests, latency ms "
      f"p50 {l['p50']:.2f} p99 {l['p99']:.2f} p999 {l['p999']:.2f} max {l['max']:.2f}")
EOF
}

echo "eddy perf-cluster: $EDDY_SOURCE ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(
    git diff --quiet HEAD 2>/dev/null || echo ', uncommitted changes')), work directory $WORK"
echo "records $RECORDS × $RECORD_SIZE B, batch $BATCH B, failover runs $FAILOVER_RUNS, ports from $PORT_BASE"

section "machine limits"
DISK_MBPS=
if [ -x "$MACHINE_LIMITS" ]; then
    "$MACHINE_LIMITS" | tee "$WORK/machine-limits.txt"
    DISK_MBPS=$(awk '$1 == "disk_write_fdatasync_MBps:" { print $2 }' "$WORK/machine-limits.txt")
else
    echo "no $MACHINE_LIMITS: no ratios to the disk's write bandwidth"
fi

section "single node: topic with 3 partitions, acks=1"
start_single
create_topic "127.0.0.1:$SINGLE_KAFKA" perf-single --partitions 3
bench single-acks1 "127.0.0.1:$SINGLE_KAFKA" perf-single 1
stop_node single
[ "$KEEP_DATA" = 1 ] || rm -rf "$WORK/data-single"

section "3-node cluster: starting"
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do
    wait_for_ports "${PIDS[node$i]}" "$(kafka_port "$i")" "$(peer_port "$i")" "$(admin_port "$i")"
done
wait_cluster "$CLUSTER_READY_TIMEOUT_S" >/dev/null
echo "  3 members, none fenced"

TOPIC_ARGS=(--replication-factor 3 --config min.insync.replicas=2)
section "3-node cluster: 3 partitions, RF 3, min.insync.replicas=2, acks=all"
create_topic "127.0.0.1:$(kafka_port 1)" perf-all --partitions 3 "${TOPIC_ARGS[@]}"
echo "  leaders: $(wait_cluster "$TOPIC_READY_TIMEOUT_S" perf-all)"
bench cluster-acksall "$CLUSTER_BOOTSTRAP" perf-all all

section "3-node cluster: same shape, acks=1"
create_topic "127.0.0.1:$(kafka_port 1)" perf-one --partitions 3 "${TOPIC_ARGS[@]}"
echo "  leaders: $(wait_cluster "$TOPIC_READY_TIMEOUT_S" perf-one)"
bench cluster-acks1 "$CLUSTER_BOOTSTRAP" perf-one 1

section "failover: 1 partition, RF 3, a record every ~2 ms, kill -9 of the leader × $FAILOVER_RUNS"
create_topic "127.0.0.1:$(kafka_port 1)" perf-failover --partitions 1 "${TOPIC_ARGS[@]}"
: >"$WORK/failover.jsonl"
for run in $(seq 1 "$FAILOVER_RUNS"); do
    # Every node up and in the ISR (the followers of the acks=1 bench caught up).
    wait_cluster "$REJOIN_TIMEOUT_S" perf-failover >/dev/null
    pid_args=()
    for i in 1 2 3; do pid_args+=(--pid "$i=${PIDS[node$i]}"); done
    admin_args=()
    for url in "${ADMIN_URLS[@]}"; do admin_args+=(--admin "$url"); done
    set +e
    timeout $((FAILOVER_TIMEOUT_S + 60)) "$PY" scripts/failover_time.py \
        --bootstrap "$CLUSTER_BOOTSTRAP" --topic perf-failover --timeout-s "$FAILOVER_TIMEOUT_S" \
        "${pid_args[@]}" "${admin_args[@]}" \
        >"$WORK/failover-$run.json" 2>"$WORK/failover-$run.err" &
    FAILOVER_PID=$!
    wait "$FAILOVER_PID"
    rc=$?
    FAILOVER_PID=
    set -e
    "$PY" - "$run" "$rc" "$WORK/failover-$run.json" "$WORK/failover-$run.err" \
        >>"$WORK/failover.jsonl" <<'EOF'
import json, sys
run, rc, out, err = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    r = json.loads(open(out).read().strip().splitlines()[-1])
except (IndexError, ValueError):
    r = {"error": "no result: " + open(err).read()[-500:]}
r.update(run=run, rc=rc)
print(json.dumps(r))
EOF
    "$PY" - "$WORK/failover.jsonl" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
if r.get("failover_ms") is not None:
    gap = r.get("max_gap_ms")
    ctl = " = the controller" if r["killed_node"] == r.get("controller_before") else ""
    print(f"  run {r['run']}: killed node {r['killed_node']}{ctl} (leader epoch "
          f"{r['leader_epoch_before']}), new leader {r['new_leader']} (epoch "
          f"{r['leader_epoch_after']}), controller {r.get('controller_before')} -> "
          f"{r.get('controller_after')}: failover {r['failover_ms']:.0f} ms, longest delivery "
          f"gap {'-' if gap is None else f'{gap:.0f}'} ms; sent {r['sent']}, acked "
          f"{r['acked']}, failed {r['failed']}, undelivered {r['undelivered']}")
    rb = r.get("read_back") or {}
    if rb.get("finished"):
        print(f"    read back {rb['records']} records: {rb['lost']} acknowledged lost, "
              f"{rb['duplicated']} duplicated")
    else:
        print("    read back did not finish: lost and duplicated records unknown")
else:
    print(f"  run {r['run']}: no measurement (exit {r['rc']}): {r.get('error', r)}")
EOF
    # Restart whatever is down (the killed leader) with the same arguments and data.
    for i in 1 2 3; do
        if node_dead "node$i"; then
            unset "PIDS[node$i]"
            start_node "$i"
            wait_for_ports "${PIDS[node$i]}" "$(kafka_port "$i")" "$(peer_port "$i")" "$(admin_port "$i")"
        fi
    done
    start=$SECONDS
    wait_cluster "$REJOIN_TIMEOUT_S" perf-failover >/dev/null
    echo "  restarted node back in the ISR after $((SECONDS - start)) s"
done

section "results"
"$PY" - "$WORK" "$DISK_MBPS" "$RECORDS" "$RECORD_SIZE" "$BATCH" <<'EOF'
import json, statistics, sys
work, disk, records, size, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
disk = float(disk) if disk else None
rows = [("single node, 3 partitions, acks=1", "single-acks1"),
        ("3 nodes, RF 3, acks=1", "cluster-acks1"),
        ("3 nodes, RF 3, min.insync 2, acks=all", "cluster-acksall")]
vs = f"vs disk ({disk:.0f} MB/s)" if disk else "vs disk"
print(f"`eddy bench produce`, {records:,} records of {size} B, batches of {batch // 1024} KiB, "
      f"3 partitions, loopback; MB = 10^6 B as in machine-limits\n")
print(f"| run | MB/s | records/s | {vs} | p50 ms | p99 ms | p999 ms |")
print("|---|---|---|---|---|---|---|")
for name, label in rows:
    b = json.load(open(f"{work}/bench-{label}.json"))
    l = b["latency_ms"]
    mb = b["records"] * b["record_size"] / b["seconds"] / 1e6 if b["seconds"] else 0.0
    ratio = f"{mb / disk:.2f}" if disk else "—"
    print(f"| {name} | {mb:.1f} | {b['records_per_sec']:,.0f} | {ratio} | "
          f"{l['p50']:.2f} | {l['p99']:.2f} | {l['p999']:.2f} |")
runs = [json.loads(line) for line in open(f"{work}/failover.jsonl")]
ok = [r["failover_ms"] for r in runs if r.get("failover_ms") is not None]
print("\nFailover (kill -9 of partition 0's leader, 1 partition, RF 3, idempotent acks=all "
      "producer, a record every ~2 ms, session timeout 3 s, heartbeat 300 ms): time from "
      "the kill to the first delivery of a record sent after it")
print("\n| run | leader killed → new leader | killed the controller | failover ms | "
      "longest delivery gap ms |")
print("|---|---|---|---|---|")
for r in runs:
    if r.get("failover_ms") is None:
        print(f"| {r['run']} | — | — | failed: {r.get('error', 'exit ' + str(r['rc']))} | — |")
        continue
    gap = r.get("max_gap_ms")
    ctl = "yes" if r["killed_node"] == r.get("controller_before") else "no"
    print(f"| {r['run']} | n{r['killed_node']} → n{r['new_leader']} | {ctl} | "
          f"{r['failover_ms']:.0f} | {'—' if gap is None else f'{gap:.0f}'} |")
if ok:
    print(f"\nfailover ms: {', '.join(f'{x:.0f}' for x in ok)}; median "
          f"{statistics.median(ok):.0f}, max {max(ok):.0f} ({len(ok)}/{len(runs)} runs measured)")
    for name, pick in (("leader was not the controller", False), ("leader was the controller", True)):
        xs = [r["failover_ms"] for r in runs if r.get("failover_ms") is not None
              and (r["killed_node"] == r.get("controller_before")) == pick]
        if xs:
            print(f"  {name}: {', '.join(f'{x:.0f}' for x in xs)}; median "
                  f"{statistics.median(xs):.0f}, max {max(xs):.0f}")
else:
    print("\nno failover run was measured")
EOF
echo
echo "logs and JSON: $WORK"
