#!/usr/bin/env bash
# Memory that comes back (issue 21): a node process on loopback takes a burst of large
# records and serves them back, and this prints its resident memory before, at the peak
# and some time after, with no client connected. A benchmark, not a test: nothing is
# asserted; the figures go in docs/PERFORMANCE.md.
#
#   scripts/bench-memory.sh [EDDY_BINARY]
#
# EDDY_BINARY defaults to target/release/eddy (build it with `cargo build --release`).
# Knobs: EDDY_BENCH_MEMORY_MB (default 1000: megabytes written, in records of 500 kB),
# EDDY_BENCH_MEMORY_READS (default 3: times the topic is read back with kcat),
# EDDY_BENCH_MEMORY_WAIT_SECS (default 60: the wait after the load),
# EDDY_BENCH_NODE_ARGS (extra `eddy start` flags, e.g. --memory-trim-interval-ms 0).
# Needs kcat and python3. Everything runs on 127.0.0.1 in a temporary directory.
set -euo pipefail

binary="${1:-target/release/eddy}"
mb="${EDDY_BENCH_MEMORY_MB:-1000}"
reads="${EDDY_BENCH_MEMORY_READS:-3}"
wait_secs="${EDDY_BENCH_MEMORY_WAIT_SECS:-60}"
record_bytes=500000
count=$((mb * 1000000 / record_bytes))

[ -x "$binary" ] || { echo "no eddy binary at $binary: run cargo build --release, or pass its path" >&2; exit 2; }
command -v kcat >/dev/null || { echo "kcat is needed (apt-get install kcat)" >&2; exit 2; }

dir=$(mktemp -d /tmp/eddy-bench-memory.XXXXXX)
node_pid=""
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kafka_port=$(free_port)
admin_port=$(free_port)
bootstrap="127.0.0.1:$kafka_port"

# shellcheck disable=SC2086 # the extra flags are words on purpose
"$binary" start --data-dir "$dir/data" --listen "$bootstrap" --admin "127.0.0.1:$admin_port" \
  ${EDDY_BENCH_NODE_ARGS:-} >"$dir/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  kcat -b "$bootstrap" -L -m 1 >/dev/null 2>&1 && break
  sleep 0.1
done

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$node_pid/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$node_pid/status"; }
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$node_pid/status"; }
mib() { echo $(( $1 / 1024 )); }

sleep 2
before=$(rss_kb)
"$binary" topic create burst --partitions 1 -b "$bootstrap" >/dev/null
python3 - "$count" "$record_bytes" >"$dir/records.txt" <<'PY'
import os, sys
count, size = int(sys.argv[1]), int(sys.argv[2])
line = os.urandom(size // 2).hex()
for i in range(count):
    sys.stdout.write(f"{i:08d}{line[8:]}\n")
PY
start=$(date +%s.%N)
kcat -b "$bootstrap" -P -t burst -p 0 -X message.max.bytes=1000000 <"$dir/records.txt"
for _ in $(seq 1 "$reads"); do
  got=$(kcat -b "$bootstrap" -C -t burst -p 0 -o beginning -e -q \
    -X fetch.message.max.bytes=1048576 | wc -l)
  [ "$got" -eq "$count" ] || { echo "read back $got of $count records" >&2; exit 1; }
done
load_secs=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
after_load=$(rss_kb)
sleep "$wait_secs"
later=$(rss_kb)
peak=$(hwm_kb)

echo "memory after a burst: $mb MB written in ${record_bytes}-byte records, read back $reads times (${load_secs} s), node flags: ${EDDY_BENCH_NODE_ARGS:-none}"
printf '%-28s %8s\n' "resident memory" "MiB"
printf '%-28s %8s\n' "before the load" "$(mib "$before")"
printf '%-28s %8s\n' "peak (VmHWM)" "$(mib "$peak")"
printf '%-28s %8s\n' "right after the load" "$(mib "$after_load")"
printf '%-28s %8s\n' "${wait_secs} s later" "$(mib "$later")"
printf '%-28s %8s\n' "  of which anonymous" "$(mib "$(anon_kb)")"
printf '%-28s %8s\n' "later minus before" "$(mib $((later - before)))"
