"""kafka-python against a cluster through one node: an acks=all producer writes COUNT keyed
records to an existing (empty) topic, then a consumer with manual assignment reads every
partition back from the beginning.

Usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC COUNT

Record i has key "kp-<i mod KEYS>" and value "kp-value-<i>". Every acknowledged record
must be read back at its acknowledged partition and offset with its key and value, each
partition's offsets must be contiguous from 0, and nothing else may be in the topic. Prints
"OK produced=<n> consumed=<n> partitions=<p>" (p = partitions that got records); exits
non-zero with a message starting with "FAIL" on the first mismatch.
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

KEYS = 50
REQUEST_TIMEOUT_MS = 20_000
FLUSH_TIMEOUT_S = 60
ACK_WAIT_S = 30
METADATA_WAIT_S = 20
CONSUME_WAIT_S = 60
CLIENT_ID = "eddy-cluster-kafka-python"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def record(index):
    return f"kp-{index % KEYS}".encode(), f"kp-value-{index}".encode()


def produce(bootstrap, topic, count):
    """Returns {(partition, offset): index} of the acknowledged records."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        acks="all",
        linger_ms=5,
        retries=5,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    futures = []
    for index in range(count):
        key, value = record(index)
        futures.append(producer.send(topic, key=key, value=value))
    producer.flush(timeout=FLUSH_TIMEOUT_S)
    placed = {}
    for index, future in enumerate(futures):
        metadata = future.get(timeout=ACK_WAIT_S)
        where = (metadata.partition, metadata.offset)
        if where in placed:
            fail(f"records {placed[where]} and {index} both acknowledged at {where}")
        placed[where] = index
    producer.close(timeout=10)
    return placed


def partitions_of(consumer, topic):
    deadline = time.monotonic() + METADATA_WAIT_S
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return sorted(partitions)
        if time.monotonic() > deadline:
            fail(f"no partitions of {topic} in metadata within {METADATA_WAIT_S}s")
        time.sleep(0.2)


def consume(bootstrap, topic, placed):
    ends = {}
    for partition, offset in placed:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    if sum(ends.values()) != len(placed):
        fail(f"acknowledged offsets are not contiguous from 0: ends {ends}, {len(placed)} acked")
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in partitions_of(consumer, topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end_offsets = consumer.end_offsets(partitions)
        for tp in partitions:
            if end_offsets[tp] != ends.get(tp.partition, 0):
                fail(f"{tp} ends at {end_offsets[tp]}, acks reached {ends.get(tp.partition, 0)}")
        next_offset = {tp.partition: 0 for tp in partitions}
        deadline = time.monotonic() + CONSUME_WAIT_S
        while any(next_offset[p] < ends.get(p, 0) for p in next_offset):
            if time.monotonic() > deadline:
                fail(f"read only up to {next_offset} of {ends} within {CONSUME_WAIT_S}s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for rec in records:
                    want = next_offset[tp.partition]
                    if rec.offset != want:
                        fail(f"{tp}: read offset {rec.offset}, expected {want}")
                    index = placed.get((tp.partition, rec.offset))
                    if index is None:
                        fail(f"{tp} offset {rec.offset} holds a record that was never acked")
                    got = (rec.key, rec.value)
                    if got != record(index):
                        fail(f"{tp} offset {rec.offset}: {got}, expected {record(index)}")
                    next_offset[tp.partition] += 1
    finally:
        consumer.close()
    return sum(next_offset.values()), len(ends)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC COUNT")
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    placed = produce(bootstrap, topic, count)
    consumed, used = consume(bootstrap, topic, placed)
    if consumed != count:
        fail(f"consumed {consumed} records, produced {count}")
    print(f"OK produced={count} consumed={consumed} partitions={used}")


if __name__ == "__main__":
    main()
