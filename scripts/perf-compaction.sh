#!/usr/bin/env bash
# Compaction throughput, and produce latency with and without a compaction running, in one
# run against a release build.
#
# 1. Builds `eddy` (release) and starts one node on loopback ports with a private data
#    directory and `--log-cleaner-backoff-ms 100`.
# 2. Fills two topics with PERF_COMPACT_RECORDS keyed records over PERF_COMPACT_KEYS keys
#    (confluent-kafka, tests/python/topics_produce_keyed.py) while their cleanup.policy is
#    `delete`, so nothing is compacted yet.
# 3. Compaction alone: switches the first topic to `compact`; the figure is scanned records
#    / elapsed_ms from the node's "compacted … scanned=… elapsed_ms=…" line.
# 4. Produce latency without compaction: `eddy bench produce` (acks=all, 100-byte records)
#    to a third, plain topic; a first run calibrates the record count so that the measured
#    runs last about as long as one compaction pass.
# 5. Produce latency with compaction: switches the second topic to `compact` and runs the
#    same bench at once; reports the compaction pass's throughput under that load and how
#    much of the bench it overlapped, and the node's peak resident memory.
#
# Needs the test virtualenv (.venv, made by scripts/test.sh). Prints a summary at the end;
# the node's log and the raw bench JSON stay in the printed work directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${EDDY_TEST_PYTHON:-$ROOT/.venv/bin/python}
COMPACT_RECORDS=${PERF_COMPACT_RECORDS:-8000000}
COMPACT_KEYS=${PERF_COMPACT_KEYS:-10000}
CLEANER_BACKOFF_MS=100
NODE_READY_TIMEOUT_S=30
COMPACTION_WAIT_S=300
CALIBRATION_RECORDS=1000000

[ -x "$PY" ] || { echo "no test Python at $PY: run scripts/test.sh first" >&2; exit 1; }

section() {
    printf '\n==> %s (%ss)\n' "$*" "$SECONDS"
}

section "cargo build --release --bin eddy"
cargo build --release --bin eddy
EDDY=$ROOT/target/release/eddy

WORK=$(mktemp -d /tmp/eddy-perf-compaction-XXXXXX)
NODE_PID=
cleanup() {
    if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill "$NODE_PID"
        wait "$NODE_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

read -r KAFKA_PORT ADMIN_PORT < <("$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
BOOTSTRAP=127.0.0.1:$KAFKA_PORT
LOG=$WORK/eddy.log

section "starting a node on $BOOTSTRAP (work directory $WORK)"
NO_COLOR=1 "$EDDY" start --node-id 1 --listen "$BOOTSTRAP" --admin "127.0.0.1:$ADMIN_PORT" \
    --data-dir "$WORK/data" --log-cleaner-backoff-ms "$CLEANER_BACKOFF_MS" >"$LOG" 2>&1 &
NODE_PID=$!
"$PY" - "$KAFKA_PORT" "$NODE_READY_TIMEOUT_S" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
deadline = time.monotonic() + limit
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"the node did not listen on {port} within {limit}s")
        time.sleep(0.05)
EOF

admin() {
    "$PY" tests/python/topics_admin.py "$@" >/dev/null
}

now_s() {
    date +%s.%N
}

# Waits for the "compacted" line of partition 0 of topic $1 and prints
# "<scanned> <removed> <elapsed_ms> <end time in s>" from it.
compaction_line() {
    "$PY" - "$LOG" "$1-0" "$COMPACTION_WAIT_S" <<'EOF'
import datetime, re, sys, time
log, partition, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
pattern = re.compile(
    r"^(\S+)Z .*compacted partition=" + re.escape(partition)
    + r" scanned=(\d+) removed=(\d+) .*elapsed_ms=(\d+)")
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    with open(log) as f:
        for line in f:
            m = pattern.match(line)
            if m:
                end = datetime.datetime.fromisoformat(m.group(1)).replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                print(m.group(2), m.group(3), m.group(4), f"{end:.3f}")
                sys.exit(0)
    time.sleep(0.1)
sys.exit(f"no compaction of {partition} within {limit}s")
EOF
}

# Runs `eddy bench produce` on the plain topic; the JSON report goes to file $2.
bench() {
    "$EDDY" bench produce --bootstrap-server "$BOOTSTRAP" --topic plain --records "$1" \
        --record-size 100 --acks all --json 2>/dev/null >"$2"
}

json() {
    "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$@"
}

section "creating topics and filling two of them with $COMPACT_RECORDS records over $COMPACT_KEYS keys"
admin create "$BOOTSTRAP" plain
admin create "$BOOTSTRAP" compact-alone cleanup.policy=delete
admin create "$BOOTSTRAP" compact-loaded cleanup.policy=delete
for topic in compact-alone compact-loaded; do
    "$PY" tests/python/topics_produce_keyed.py "$BOOTSTRAP" "$topic" \
        --count "$COMPACT_RECORDS" --keys "$COMPACT_KEYS" >/dev/null
done

rss_mb() {
    awk -v field="$1:" '$1 == field { printf "%.0f", $2 / 1024 }' "/proc/$NODE_PID/status"
}
RSS_BEFORE_MB=$(rss_mb VmRSS)

section "compaction alone"
admin alter "$BOOTSTRAP" compact-alone cleanup.policy=compact
read -r ALONE_SCANNED ALONE_REMOVED ALONE_MS _ < <(compaction_line compact-alone)

section "produce latency without compaction"
bench "$CALIBRATION_RECORDS" "$WORK/bench-calibration.json"
RATE=$(json "$WORK/bench-calibration.json" 'records_per_sec')
# As many records as the bench writes in about one compaction pass.
BENCH_RECORDS=$("$PY" -c "print(max(100000, int($RATE * $ALONE_MS / 1000)))")
bench "$BENCH_RECORDS" "$WORK/bench-baseline.json"

section "produce latency while a compaction runs"
admin alter "$BOOTSTRAP" compact-loaded cleanup.policy=compact
BENCH_START=$(now_s)
bench "$BENCH_RECORDS" "$WORK/bench-compacting.json"
BENCH_END=$(now_s)
read -r LOADED_SCANNED LOADED_REMOVED LOADED_MS LOADED_END < <(compaction_line compact-loaded)
RSS_PEAK_MB=$(rss_mb VmHWM)
OVERLAP=$("$PY" -c "
start, end = $BENCH_START, $BENCH_END
pass_end = $LOADED_END; pass_start = pass_end - $LOADED_MS / 1000
print(f'{100 * max(0.0, min(end, pass_end) - max(start, pass_start)) / (end - start):.0f}')")

section "results ($(nproc) cores, $(uname -m))"
"$PY" - "$WORK" <<EOF
import json, sys
work = sys.argv[1]
base = json.load(open(f"{work}/bench-baseline.json"))
comp = json.load(open(f"{work}/bench-compacting.json"))
print(f"compaction alone:         {$ALONE_SCANNED:>10,} records scanned, {$ALONE_REMOVED:,} removed "
      f"in {$ALONE_MS} ms = {$ALONE_SCANNED / max($ALONE_MS, 1) * 1000:,.0f} records/s")
print(f"compaction under produce: {$LOADED_SCANNED:>10,} records scanned, {$LOADED_REMOVED:,} removed "
      f"in {$LOADED_MS} ms = {$LOADED_SCANNED / max($LOADED_MS, 1) * 1000:,.0f} records/s")
print(f"produce bench: {$BENCH_RECORDS:,} records of 100 B, acks=all, one partition")
for name, b in (("without compaction", base), ("during compaction ", comp)):
    l = b["latency_ms"]
    print(f"  {name}: {b['records_per_sec']:>10,.0f} records/s, {b['requests']} requests, "
          f"latency ms p50 {l['p50']:.2f} p99 {l['p99']:.2f} p99.9 {l['p999']:.2f} max {l['max']:.2f}")
print(f"  the compaction pass overlapped {$OVERLAP}% of the second bench")
print(f"node memory: {$RSS_BEFORE_MB} MB resident before compacting, peak {$RSS_PEAK_MB} MB")
EOF
echo "node log and bench JSON: $WORK"
