"""Measures one leader failover as a producer sees it (used by scripts/perf-cluster.sh).

Usage:
  failover_time.py --bootstrap H:P[,H:P...] --topic T --admin URL [--admin URL ...]
                   --pid NODE_ID=PID [--pid ...] [--interval-ms 2] [--warmup-s 2]
                   [--timeout-s 60] [--tail-s 0.5]

An idempotent acks=all producer (confluent-kafka) sends one small record every
--interval-ms to partition 0 of TOPIC and notes the send time of each record and the time
of each successful delivery report. After --warmup-s, at least WARMUP_ACKS_MIN deliveries,
and once deliveries are steady (one in the last STEADY_LAST_ACK_S, at most
STEADY_WAITING_MAX records waiting), it reads partition 0's leader from the first admin URL
that answers `GET /cluster`, looks that node's pid up in the --pid list and kills it with SIGKILL itself,
so that T0 is taken right where the kill happens: T0 = the monotonic clock just after
os.kill returned.

failover_ms = (delivery time of the first successful record that was *sent* after T0) - T0.

Records sent before T0 but delivered later (retried by the idempotent producer) do not end
the measurement; they are counted in `retried_before_kill_acked`. The script then produces
for --tail-s more, flushes (bounded), and prints one JSON object on stdout:
  killed_node, killed_pid, leader_epoch_before, controller_before (the metadata quorum's
  leader: killing it adds a quorum election), failover_ms, max_gap_ms (the longest time
  between two consecutive delivery reports from the last one before T0 up to the first
  delivery of a record sent after T0), new_leader, leader_epoch_after, controller_after,
  sent, acked, failed, errors {name: count}, undelivered, and read_back: the partition read
  from its start to its high watermark with a consumer after the failover (records of this
  run, told apart by a run id in each value), with `lost` (acknowledged, not read) and
  `duplicated` (read more than once) counts.
Diagnostics go to stderr. Exit status: 0 measured, 1 no record sent after T0 was delivered
within --timeout-s, 2 could not find or kill the leader (nothing was killed), 3 fatal
producer error, 4 an acknowledged record was lost or a record duplicated in the read-back.

The producer's settings (below) are part of what is measured: librdkafka learns of the
new leader by refreshing metadata after the old leader's connection breaks.
"""

import argparse
import json
import os
import signal
import sys
import time
import urllib.request
from collections import Counter

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

WARMUP_ACKS_MIN = 100
# Steady before the kill: the last delivery at most this long ago, at most this many
# records waiting for theirs.
STEADY_LAST_ACK_S = 0.05
STEADY_WAITING_MAX = 10
ADMIN_HTTP_TIMEOUT_S = 1.0
FLUSH_TIMEOUT_S = 15.0
# The read-back of the partition after the failover: the whole read may take this long.
READ_BACK_TIMEOUT_S = 60.0
# How long to wait for /cluster to show a new leader once the failover was measured.
NEW_LEADER_LOOKUP_S = 10.0
PRODUCER_CONFIG = {
    "client.id": "eddy-perf-failover",
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 0,
    # Nothing may expire while the leader is replaced: failures would hide the failover.
    "message.timeout.ms": 120_000,
    "request.timeout.ms": 5_000,
    "socket.timeout.ms": 5_000,
    "retry.backoff.ms": 20,
    "retry.backoff.max.ms": 200,
    "reconnect.backoff.ms": 20,
    "reconnect.backoff.max.ms": 200,
    "topic.metadata.refresh.fast.interval.ms": 50,
    "topic.metadata.refresh.interval.ms": 5_000,
}


def log(*args):
    print("failover_time:", *args, file=sys.stderr, flush=True)


def cluster_status(admin_urls):
    """The first /cluster answer among admin_urls, or None."""
    for url in admin_urls:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/cluster",
                                        timeout=ADMIN_HTTP_TIMEOUT_S) as resp:
                return json.load(resp)
        except (OSError, ValueError):
            continue
    return None


def partition0(status, topic):
    for t in (status or {}).get("topics", []):
        if t.get("name") == topic:
            for p in t.get("partitions", []):
                if p.get("partition") == 0:
                    return p
    return None


def read_back(bootstrap, topic, run_id):
    """Reads partition 0 from its start to its high watermark; returns {seq: times read}
    for this run's records, or None if the read did not finish in READ_BACK_TIMEOUT_S."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "eddy-perf-failover-check",
                         "enable.auto.commit": False, "socket.timeout.ms": 10_000})
    try:
        tp = TopicPartition(topic, 0)
        _, high = consumer.get_watermark_offsets(tp, timeout=10)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        seen = Counter()
        deadline = time.monotonic() + READ_BACK_TIMEOUT_S
        next_offset = 0
        while next_offset < high:
            if time.monotonic() > deadline:
                log(f"read-back stalled at offset {next_offset} of {high}")
                return None
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            run, _, seq = msg.value().decode().partition(":")
            if run == run_id:
                seen[int(seq)] += 1
            next_offset = msg.offset() + 1
        return seen
    finally:
        consumer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--admin", action="append", required=True, help="http://HOST:PORT")
    ap.add_argument("--pid", action="append", required=True, help="NODE_ID=PID")
    ap.add_argument("--interval-ms", type=float, default=2.0)
    ap.add_argument("--warmup-s", type=float, default=2.0)
    ap.add_argument("--timeout-s", type=float, default=60.0)
    ap.add_argument("--tail-s", type=float, default=0.5)
    args = ap.parse_args()

    run_id = f"{os.getpid()}-{time.time_ns()}"
    pids = {}
    for item in args.pid:
        node, _, pid = item.partition("=")
        pids[int(node)] = int(pid)
    interval = args.interval_ms / 1000.0

    errors = Counter()
    fatal = []
    sent_at = []          # send time of record seq, by seq
    acked_at = {}         # seq -> delivery time
    counts = {"failed": 0}
    last_ack = {"t": None}

    def on_error(err):
        if err.fatal():
            fatal.append(err)
        errors["client:" + err.name()] += 1

    def on_delivery(err, msg):
        now = time.monotonic()
        if err is not None:
            counts["failed"] += 1
            errors[err.name()] += 1
            if err.fatal():
                fatal.append(err)
            return
        seq = int(msg.value().decode().partition(":")[2])
        acked_at[seq] = now
        last_ack["t"] = now

    producer = Producer({"bootstrap.servers": args.bootstrap, "error_cb": on_error,
                         **PRODUCER_CONFIG})

    def send_one():
        seq = len(sent_at)
        try:
            producer.produce(args.topic, value=f"{run_id}:{seq}".encode(), partition=0,
                             on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.001)
            return
        except KafkaException as err:
            fatal.append(err.args[0])
            return
        sent_at.append(time.monotonic())

    def run_until(done, deadline):
        """Sends one record per interval and serves callbacks until done() or deadline."""
        next_send = time.monotonic()
        while not fatal:
            now = time.monotonic()
            if done() or now >= deadline:
                return done()
            if now >= next_send:
                send_one()
                next_send += interval
                if next_send < now:  # fell behind (slow machine): do not burst
                    next_send = now + interval
                continue
            producer.poll(min(next_send - now, max(deadline - now, 0.0)))
        return False

    def result(**extra):
        return {"sent": len(sent_at), "acked": len(acked_at), "failed": counts["failed"],
                "errors": dict(errors), **extra}

    # 1. Warm up: the producer knows the leader and records are flowing steadily (a recent
    # delivery, few records waiting), so that a stall before the kill is not measured.
    start = time.monotonic()

    def steady():
        now = time.monotonic()
        return (now - start >= args.warmup_s and len(acked_at) >= WARMUP_ACKS_MIN
                and last_ack["t"] is not None and now - last_ack["t"] <= STEADY_LAST_ACK_S
                and len(producer) <= STEADY_WAITING_MAX)

    warm = run_until(steady, start + args.warmup_s + args.timeout_s)
    if not warm:
        log(f"no steady production during warm-up (acked {len(acked_at)}, fatal {fatal})")
        print(json.dumps(result(error="warm-up")))
        return 3 if fatal else 1

    # 2. Find the leader and kill it.
    status_before = cluster_status(args.admin)
    before = partition0(status_before, args.topic)
    if before is None or before.get("leader", -1) not in pids:
        log(f"leader of {args.topic}-0 unknown or not ours: {before}, pids {pids}")
        print(json.dumps(result(error="leader lookup", partition=before)))
        return 2
    leader = before["leader"]
    pid = pids[leader]
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as err:
        log(f"kill -9 {pid} (node {leader}): {err}")
        print(json.dumps(result(error=f"kill: {err}")))
        return 2
    t0 = time.monotonic()
    first_seq_after = len(sent_at)
    last_ack_before = last_ack["t"]
    acked_before = set(acked_at)
    log(f"killed node {leader} (pid {pid}), leader epoch {before.get('leader_epoch')}")

    # 3. Wait for the first delivery of a record sent after T0.
    def first_after():
        return any(seq >= first_seq_after for seq in acked_at)

    measured = run_until(first_after, t0 + args.timeout_s)
    failover_ms = max_gap_ms = None
    if measured:
        t_first = min(t for seq, t in acked_at.items() if seq >= first_seq_after)
        failover_ms = (t_first - t0) * 1000.0
        if last_ack_before is not None:
            times = sorted(t for t in acked_at.values() if last_ack_before <= t <= t_first)
            max_gap_ms = max((b - a for a, b in zip(times, times[1:])), default=0.0) * 1000.0
        log(f"first record sent after the kill delivered {failover_ms:.1f} ms after it")
    else:
        log(f"no record sent after the kill was delivered within {args.timeout_s}s")

    # 4. A little more production, then a bounded flush.
    tail_end = time.monotonic() + (args.tail_s if measured else 0.0)
    run_until(lambda: False, tail_end)
    undelivered = producer.flush(FLUSH_TIMEOUT_S)
    retried = sum(1 for seq in acked_at if seq < first_seq_after and seq not in acked_before)

    new_leader = status_after = None
    deadline = time.monotonic() + NEW_LEADER_LOOKUP_S
    while time.monotonic() < deadline:
        status_after = cluster_status(args.admin)
        after = partition0(status_after, args.topic)
        if after is not None and after.get("leader", -1) not in (-1, leader):
            new_leader = after
            break
        time.sleep(0.1)

    # 5. Read the partition back: every acknowledged record once.
    seen = read_back(args.bootstrap, args.topic, run_id)
    if seen is None:
        checked = {"finished": False}
    else:
        lost = sorted(seq for seq in acked_at if seen[seq] == 0)
        duplicated = sorted(seq for seq, n in seen.items() if n > 1)
        checked = {"finished": True, "records": sum(seen.values()), "lost": len(lost),
                   "duplicated": len(duplicated), "lost_first": lost[:10],
                   "duplicated_first": duplicated[:10]}
        log(f"read back {checked['records']} records: {len(lost)} acknowledged lost, "
            f"{len(duplicated)} duplicated")

    print(json.dumps(result(
        killed_node=leader, killed_pid=pid,
        leader_epoch_before=before.get("leader_epoch"),
        controller_before=status_before.get("controller"),
        failover_ms=failover_ms, max_gap_ms=max_gap_ms,
        retried_before_kill_acked=retried,
        new_leader=None if new_leader is None else new_leader.get("leader"),
        leader_epoch_after=None if new_leader is None else new_leader.get("leader_epoch"),
        controller_after=(status_after or {}).get("controller"),
        undelivered=undelivered,
        fatal=[str(f) for f in fatal],
        read_back=checked,
    )))
    if fatal:
        return 3
    if not checked["finished"] or checked["lost"] or checked["duplicated"]:
        return 4
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
