"""The cluster tests' checker: an idempotent acks=all producer (confluent-kafka) whose
acknowledged records are later compared with what the cluster reads back.

Usage:
  checker.py produce BOOTSTRAP TOPIC ACKS_FILE
  checker.py consume BOOTSTRAP TOPIC PARTITIONS ACKS_FILE

produce: record number seq (0, 1, 2, ... in send order) has value "<seq>" and key
"k<seq mod KEYS>", so the default partitioner spreads the records over the partitions; at
most RATE_MAX records per second are sent and at most IN_FLIGHT_MAX wait for their delivery
report. Every successful delivery report appends "<partition> <offset> <seq>" to ACKS_FILE
at once (line-buffered), so the test can watch progress while it kills and pauses nodes.
Runs until stdin says "stop" or closes, then flushes and prints "DONE produced=<n>
acked=<a> failed=<f> undelivered=<u> errors=<name:count,...>". A fatal producer error
(what an idempotent producer raises when a broker lost its sequence state) stops it with
"FATAL <error>" and exit status 2.

consume: reads partitions 0..PARTITIONS-1 from the beginning and prints "R <partition>
<offset> <seq>" once per offset, until every partition is at its end and past the highest
offset ACKS_FILE acknowledged on it, or CONSUME_WAIT_S pass; then "END complete=true" or
"END complete=false". An offset read again with another record prints "CONFLICT
<partition> <offset> <seq> <seq>".
"""

import sys
import threading
import time
from collections import Counter

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

KEYS = 97
RATE_MAX = 500
IN_FLIGHT_MAX = 5_000
POLL_S = 0.005
FLUSH_TIMEOUT_S = 45
CONSUME_WAIT_S = 60
ERRORS_PRINTED_MAX = 50


def produce(bootstrap, topic, acks_path):
    stop = threading.Event()

    def watch_stdin():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    fatal = []
    errors = Counter()
    counts = {"acked": 0, "failed": 0, "client_errors": 0}
    acks = open(acks_path, "w", buffering=1)

    def on_error(err):
        if err.fatal():
            fatal.append(err)
        # Broker-down and similar errors are expected while nodes are killed; print a few.
        counts["client_errors"] += 1
        if counts["client_errors"] <= ERRORS_PRINTED_MAX:
            print(f"client error: {err}", file=sys.stderr, flush=True)

    def on_delivery(err, msg):
        if err is not None:
            counts["failed"] += 1
            errors[err.name()] += 1
            if err.fatal():
                fatal.append(err)
            return
        acks.write(f"{msg.partition()} {msg.offset()} {int(msg.value())}\n")
        counts["acked"] += 1

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "eddy-cluster-checker",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            # Long enough that no record expires while a leader is replaced.
            "message.timeout.ms": 60_000,
            # A paused broker must not hold requests for the default minute.
            "request.timeout.ms": 5_000,
            "socket.timeout.ms": 5_000,
            "retry.backoff.ms": 50,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            "topic.metadata.refresh.interval.ms": 2_000,
            "queue.buffering.max.messages": 100_000,
            "error_cb": on_error,
        }
    )
    seq = 0
    started = time.monotonic()
    while not stop.is_set() and not fatal:
        if len(producer) >= IN_FLIGHT_MAX or seq >= (time.monotonic() - started) * RATE_MAX:
            producer.poll(POLL_S)
            continue
        try:
            producer.produce(
                topic,
                key=f"k{seq % KEYS}".encode(),
                value=str(seq).encode(),
                on_delivery=on_delivery,
            )
        except BufferError:
            producer.poll(POLL_S)
            continue
        except KafkaException as err:
            # The producer refuses new records once it is in a fatal state.
            fatal.append(err.args[0])
            break
        seq += 1
        producer.poll(0)

    undelivered = producer.flush(FLUSH_TIMEOUT_S)
    acks.close()
    names = ",".join(f"{name}:{n}" for name, n in sorted(errors.items()))
    print(
        f"DONE produced={seq} acked={counts['acked']} failed={counts['failed']} "
        f"undelivered={undelivered} errors={names}",
        flush=True,
    )
    if fatal:
        print(f"FATAL {fatal[0]}", flush=True)
        sys.exit(2)


def acknowledged_ends(acks_path, partitions):
    """Per partition, one past the highest acknowledged offset (0 if none)."""
    ends = {p: 0 for p in range(partitions)}
    with open(acks_path) as acks:
        for line in acks:
            fields = line.split()
            if len(fields) == 3:
                partition, offset = int(fields[0]), int(fields[1])
                ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends


def consume(bootstrap, topic, partitions, acks_path):
    targets = acknowledged_ends(acks_path, partitions)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "eddy-cluster-checker-read-back",
            "group.id": "eddy-cluster-checker-read-back",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # A reset re-reads from the start; repeated offsets are dropped below.
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "socket.timeout.ms": 10_000,
            "topic.metadata.refresh.interval.ms": 2_000,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seen = {}
    next_offset = {p: 0 for p in range(partitions)}
    end_at = {}
    complete = False
    deadline = time.monotonic() + CONSUME_WAIT_S
    while time.monotonic() < deadline:
        complete = all(
            next_offset[p] >= targets[p] and end_at.get(p) == next_offset[p]
            for p in range(partitions)
        )
        if complete:
            break
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                end_at[msg.partition()] = msg.offset()
            else:
                print(f"consumer error: {msg.error()}", file=sys.stderr, flush=True)
            continue
        partition, offset, seq = msg.partition(), msg.offset(), int(msg.value())
        previous = seen.get((partition, offset))
        if previous is not None:
            if previous != seq:
                print(f"CONFLICT {partition} {offset} {previous} {seq}")
            continue
        seen[(partition, offset)] = seq
        next_offset[partition] = max(next_offset[partition], offset + 1)
        print(f"R {partition} {offset} {seq}")
    consumer.close()
    print(f"END complete={'true' if complete else 'false'}", flush=True)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 6 and sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(
            "usage: checker.py produce BOOTSTRAP TOPIC ACKS_FILE\n"
            "       checker.py consume BOOTSTRAP TOPIC PARTITIONS ACKS_FILE"
        )


if __name__ == "__main__":
    main()
