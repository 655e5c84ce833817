"""A consumer group's runs across a coordinator failover (confluent-kafka): a producer of
keyed records, and a consumer that processes records up to given offsets, committing
synchronously after each batch.

Usage:
  group_consumer.py produce BOOTSTRAP TOPIC COUNT
  group_consumer.py consume BOOTSTRAP TOPIC GROUP PROCESSED_FILE STOPS

produce: sends COUNT records (key "key-<i mod KEYS>", value "value-<i>") with acks=all and
idempotence, then flushes; prints "A <partition> <offset>" per acknowledged record and
"DONE acked=<n>". Exits non-zero with "FAIL ..." if a record is not acknowledged.

consume: STOPS is "<partition>:<offset>,..." for every partition of TOPIC. Joins GROUP
(enable.auto.commit=false, auto.offset.reset=earliest), first printing the offsets the group
has committed as "C0 <partition> <offset>" (-1 for none). Processes the records of each
partition below its stop offset: each processed record is appended to PROCESSED_FILE as
"<partition> <offset>" (flushed), and after each batch the offset after the last processed
record of each partition in it is committed synchronously. A partition is paused once it
reaches its stop offset (records fetched past it are not processed, so they are not
committed); when every partition has reached its stop, the group's committed offsets are
printed as "C <partition> <offset>", the consumer is closed (it leaves the group) and "END
complete=true processed=<n>" is printed. If RUN_WAIT_S pass first: "END complete=false".
Exits non-zero with "FAIL ..." if a commit fails for good.
"""

import sys
import time

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

KEYS = 101
FLUSH_TIMEOUT_S = 60
RUN_WAIT_S = 90
BATCH_MAX = 100
POLL_S = 0.5
COMMITTED_TIMEOUT_S = 20
COMMIT_ATTEMPTS_MAX = 20
COMMIT_RETRY_S = 0.5


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def produce(bootstrap, topic, count):
    acked = []
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.partition(), msg.offset()))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "eddy-cluster-groups-producer",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60_000,
        }
    )
    for i in range(count):
        while True:
            try:
                producer.produce(
                    topic,
                    key=f"key-{i % KEYS}".encode(),
                    value=f"value-{i}".encode(),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    undelivered = producer.flush(FLUSH_TIMEOUT_S)
    for partition, offset in acked:
        print(f"A {partition} {offset}")
    print(f"DONE acked={len(acked)}", flush=True)
    if errors or undelivered or len(acked) != count:
        fail(f"acked {len(acked)} of {count}, undelivered {undelivered}, errors {errors[:5]}")


def parse_stops(text):
    stops = {}
    for item in text.split(","):
        partition, offset = item.split(":")
        stops[int(partition)] = int(offset)
    return stops


def committed(consumer, topic, partitions):
    """The group's committed offset per partition (-1 for none)."""
    tps = [TopicPartition(topic, p) for p in partitions]
    out = {}
    for tp in consumer.committed(tps, timeout=COMMITTED_TIMEOUT_S):
        if tp.error is not None:
            fail(f"committed offsets of partition {tp.partition}: {tp.error}")
        out[tp.partition] = -1 if tp.offset == OFFSET_INVALID else tp.offset
    return out


def commit(consumer, topic, offsets):
    """Commits {partition: offset} synchronously, retrying retriable failures."""
    tps = [TopicPartition(topic, p, o) for p, o in sorted(offsets.items())]
    last = None
    for _ in range(COMMIT_ATTEMPTS_MAX):
        try:
            result = consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as err:
            last = err.args[0]
            if last.retriable() or last.code() in (
                KafkaError.NOT_COORDINATOR,
                KafkaError.COORDINATOR_NOT_AVAILABLE,
                KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                KafkaError._WAIT_COORD,
                KafkaError.REQUEST_TIMED_OUT,
            ):
                print(f"commit retried: {last}", file=sys.stderr, flush=True)
                time.sleep(COMMIT_RETRY_S)
                continue
            fail(f"commit {offsets}: {last}")
        failed = [tp for tp in result if tp.error is not None]
        if failed:
            fail(f"commit {offsets}: per-partition errors {failed}")
        return
    fail(f"commit {offsets} failed {COMMIT_ATTEMPTS_MAX} times, last: {last}")


def consume(bootstrap, topic, group, processed_path, stops):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": f"eddy-cluster-groups-{group}",
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "session.timeout.ms": 10_000,
            "fetch.wait.max.ms": 100,
            "topic.metadata.refresh.interval.ms": 2_000,
        }
    )
    partitions = sorted(stops)
    for partition, offset in sorted(committed(consumer, topic, partitions).items()):
        print(f"C0 {partition} {offset}", flush=True)

    done = set()
    paused = set()
    processed = 0
    out = open(processed_path, "a", buffering=1)
    consumer.subscribe([topic])
    deadline = time.monotonic() + RUN_WAIT_S
    while len(done) < len(partitions) and time.monotonic() < deadline:
        batch = consumer.consume(num_messages=BATCH_MAX, timeout=POLL_S)
        to_commit = {}
        reached = set()
        for msg in batch:
            partition = msg.partition()
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    if msg.offset() >= stops[partition]:
                        reached.add(partition)
                else:
                    print(f"consumer error: {msg.error()}", file=sys.stderr, flush=True)
                continue
            if partition in done or partition in reached:
                continue
            offset = msg.offset()
            if offset >= stops[partition]:
                reached.add(partition)
                continue
            out.write(f"{partition} {offset}\n")
            processed += 1
            to_commit[partition] = offset + 1
            if offset + 1 >= stops[partition]:
                reached.add(partition)
        out.flush()
        if to_commit:
            commit(consumer, topic, to_commit)
        # Only once what was processed is committed does a partition count as done.
        done |= reached
        newly = [TopicPartition(topic, p) for p in reached - paused]
        if newly:
            consumer.pause(newly)
            paused |= reached
    out.close()
    complete = len(done) == len(partitions)
    if complete:
        for partition, offset in sorted(committed(consumer, topic, partitions).items()):
            print(f"C {partition} {offset}", flush=True)
    consumer.close()
    print(f"END complete={'true' if complete else 'false'} processed={processed}", flush=True)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 7 and sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], parse_stops(sys.argv[6]))
    else:
        sys.exit(
            "usage: group_consumer.py produce BOOTSTRAP TOPIC COUNT\n"
            "       group_consumer.py consume BOOTSTRAP TOPIC GROUP PROCESSED_FILE STOPS"
        )


if __name__ == "__main__":
    main()
