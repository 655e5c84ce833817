"""Keyed records through kafka-python.

Usage:
  keyed.py produce BOOTSTRAP TOPIC < lines
      Each line "KEY<TAB>VALUE" is sent by an idempotent producer (acks=all) with
      kafka-python's default partitioner (murmur2 of the key, as Kafka's Java producer), so
      two topics written by it are co-partitioned. Prints "PRODUCED <n>" once every record
      is acknowledged; exits non-zero with a message starting with "FAIL" otherwise.
  keyed.py read BOOTSTRAP TOPIC
      Reads every partition of TOPIC from the beginning to its end offset at the start;
      prints "RECORD <partition> KEY<TAB>VALUE" per record, then "READ <n>".
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

REQUEST_TIMEOUT_MS = 20_000
FLUSH_TIMEOUT_S = 60
READ_TIMEOUT_S = 60


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def produce(bootstrap, topic):
    records = []
    for line in sys.stdin.read().split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("\t")
        if not sep:
            fail(f"line {line!r} is not KEY<TAB>VALUE")
        records.append((key, value))
    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id="eddy-tests-keyed",
    )
    futures = [
        producer.send(topic, key=key.encode(), value=value.encode()) for key, value in records
    ]
    producer.flush(timeout=FLUSH_TIMEOUT_S)
    for future in futures:
        try:
            future.get(timeout=FLUSH_TIMEOUT_S)
        except Exception as err:  # every failure is the test's failure
            fail(f"not acknowledged: {err!r}")
    producer.close()
    print(f"PRODUCED {len(records)}")


def read(bootstrap, topic):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        client_id="eddy-tests-keyed-read",
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS + 1000,
    )
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        fail(f"{topic} has no partitions")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    count = 0
    deadline = time.monotonic() + READ_TIMEOUT_S
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        if time.monotonic() > deadline:
            fail(f"{topic} not read to {ends} in {READ_TIMEOUT_S} s")
        for tp, messages in consumer.poll(timeout_ms=500).items():
            for m in messages:
                if m.offset >= ends[tp]:
                    continue
                key = (m.key or b"").decode()
                value = (m.value or b"").decode()
                print(f"RECORD {tp.partition} {key}\t{value}")
                count += 1
    consumer.close()
    print(f"READ {count}")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("produce", "read"):
        fail(__doc__)
    command, bootstrap, topic = sys.argv[1:]
    if command == "produce":
        produce(bootstrap, topic)
    else:
        read(bootstrap, topic)


main()
