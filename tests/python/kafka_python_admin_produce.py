"""kafka-python against an eddy node: admin create/list/delete, an idempotent acks=all
producer over several partitions, and a manually assigned consumer that reads everything
back with seek.

Usage: kafka_python_admin_produce.py BOOTSTRAP [RECORDS_PER_PARTITION]

Prints one summary line starting with "OK" on success; exits non-zero with a message
starting with "FAIL" on the first mismatch.
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

DATA_TOPIC = "kp-data"
DATA_PARTITIONS = 4
DOOMED_TOPIC = "kp-doomed"
DOOMED_PARTITIONS = 2
REQUEST_TIMEOUT_MS = 20_000
METADATA_WAIT_S = 20
CONSUME_WAIT_S = 60
CLIENT_ID = "eddy-tests-kafka-python"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expected_record(index):
    key = f"key-{index}".encode()
    value = f"value-{index}-".encode() + b"x" * (index % 50)
    headers = [("index", str(index).encode()), ("client", b"kafka-python")]
    return key, value, headers


def admin_round(bootstrap):
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        admin.create_topics(
            {
                DATA_TOPIC: {"num_partitions": DATA_PARTITIONS, "replication_factor": 1},
                DOOMED_TOPIC: {"num_partitions": DOOMED_PARTITIONS, "replication_factor": 1},
            },
            timeout_ms=REQUEST_TIMEOUT_MS,
            wait_for_metadata=True,
        )
        listed = set(admin.list_topics())
        for name in (DATA_TOPIC, DOOMED_TOPIC):
            if name not in listed:
                fail(f"list_topics after create lacks {name}: {sorted(listed)}")
        described = {t["name"]: t for t in admin.describe_topics([DATA_TOPIC, DOOMED_TOPIC])}
        for name, partitions in ((DATA_TOPIC, DATA_PARTITIONS), (DOOMED_TOPIC, DOOMED_PARTITIONS)):
            got = len(described[name]["partitions"])
            if got != partitions:
                fail(f"{name} described with {got} partitions, expected {partitions}")

        admin.delete_topics([DOOMED_TOPIC], timeout_ms=REQUEST_TIMEOUT_MS)
        deadline = time.monotonic() + METADATA_WAIT_S
        while True:
            listed = set(admin.list_topics())
            if DOOMED_TOPIC not in listed:
                break
            if time.monotonic() > deadline:
                fail(f"{DOOMED_TOPIC} still listed {METADATA_WAIT_S}s after DeleteTopics")
            time.sleep(0.2)
        if DATA_TOPIC not in listed:
            fail(f"deleting {DOOMED_TOPIC} also removed {DATA_TOPIC}: {sorted(listed)}")
    finally:
        admin.close()


def produce(bootstrap, per_partition):
    # Idempotence is kafka-python's default; it is spelled out because the test relies on
    # InitProducerId and sequence numbers being exercised.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    pending = []
    for index in range(per_partition * DATA_PARTITIONS):
        partition = index % DATA_PARTITIONS
        key, value, headers = expected_record(index)
        future = producer.send(
            DATA_TOPIC, key=key, value=value, headers=headers, partition=partition
        )
        pending.append((index, partition, index // DATA_PARTITIONS, future))
    producer.flush(timeout=60)
    for index, partition, want_offset, future in pending:
        metadata = future.get(timeout=30)
        if metadata.partition != partition or metadata.offset != want_offset:
            fail(
                f"record {index} acked at {metadata.partition}/{metadata.offset}, "
                f"expected {partition}/{want_offset}"
            )
    producer.close(timeout=10)
    return len(pending)


def check_record(record, partition, offset):
    index = offset * DATA_PARTITIONS + partition
    key, value, headers = expected_record(index)
    got = (record.partition, record.offset, record.key, record.value, list(record.headers))
    want = (partition, offset, key, value, headers)
    if got != want:
        fail(f"record at {partition}/{offset} is {got}, expected {want}")


def consume(bootstrap, per_partition):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        fetch_max_wait_ms=200,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        partitions = [TopicPartition(DATA_TOPIC, p) for p in range(DATA_PARTITIONS)]
        consumer.assign(partitions)
        beginning = consumer.beginning_offsets(partitions)
        end = consumer.end_offsets(partitions)
        for tp in partitions:
            if beginning[tp] != 0 or end[tp] != per_partition:
                fail(f"{tp}: offsets [{beginning[tp]}, {end[tp]}), expected [0, {per_partition})")
            consumer.seek(tp, 0)

        next_offset = {p: 0 for p in range(DATA_PARTITIONS)}
        deadline = time.monotonic() + CONSUME_WAIT_S
        while any(o < per_partition for o in next_offset.values()):
            if time.monotonic() > deadline:
                fail(f"consumed only up to {next_offset} within {CONSUME_WAIT_S}s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset != next_offset[tp.partition]:
                        fail(
                            f"{tp}: got offset {record.offset}, "
                            f"expected {next_offset[tp.partition]} (gap or reorder)"
                        )
                    check_record(record, tp.partition, record.offset)
                    next_offset[tp.partition] += 1
        consumed = sum(next_offset.values())

        # Seeking into the middle of a partition must start exactly there.
        middle = per_partition // 2
        tp = partitions[DATA_PARTITIONS - 1]
        consumer.assign([tp])
        consumer.seek(tp, middle)
        deadline = time.monotonic() + CONSUME_WAIT_S
        first = None
        while first is None:
            if time.monotonic() > deadline:
                fail(f"nothing consumed after seek({tp}, {middle})")
            records = consumer.poll(timeout_ms=500, max_records=1).get(tp, [])
            if records:
                first = records[0]
        if first.offset != middle:
            fail(f"seek({tp}, {middle}) delivered offset {first.offset} first")
        check_record(first, tp.partition, middle)
    finally:
        consumer.close()
    return consumed


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: kafka_python_admin_produce.py BOOTSTRAP [RECORDS_PER_PARTITION]")
    bootstrap = sys.argv[1]
    per_partition = int(sys.argv[2]) if len(sys.argv) == 3 else 500
    admin_round(bootstrap)
    produced = produce(bootstrap, per_partition)
    consumed = consume(bootstrap, per_partition)
    if consumed != produced:
        fail(f"consumed {consumed} records, produced {produced}")
    print(
        f"OK created=2 deleted=1 partitions={DATA_PARTITIONS} "
        f"produced={produced} consumed={consumed} seek=ok"
    )


if __name__ == "__main__":
    main()
