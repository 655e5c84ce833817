"""An idempotent confluent-kafka (librdkafka) producer writes COUNT records to partition 0
of TOPIC, then a consumer with manual assignment reads the partition back to its end.

Usage: topics_idempotent.py BOOTSTRAP TOPIC COUNT

Record i has key "idem-<i>" and value "value-<i>". Prints "PRODUCED acked=<n>" once
every record is acknowledged (no delivery error allowed) and then "CONSUMED
records=<n> distinct=<d> first=<offset> last=<offset>". Exits non-zero with a message
starting with "FAIL" on a delivery error or a record that was never produced.
"""

import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

FLUSH_TIMEOUT_S = 120
PRODUCE_QUEUE_WAIT_S = 60
CONSUME_WAIT_S = 60


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def produce(bootstrap, topic, count):
    errors = []
    acked = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append(msg.offset())

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "eddy-tests-idempotent",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            # Small batches: many Produce requests in flight (up to 5 with idempotence).
            "batch.num.messages": 200,
            "message.timeout.ms": 90_000,
            "socket.timeout.ms": 10_000,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 200,
            "retry.backoff.ms": 20,
        }
    )
    for i in range(count):
        deadline = time.monotonic() + PRODUCE_QUEUE_WAIT_S
        while True:
            try:
                producer.produce(
                    topic, key=f"idem-{i}".encode(), value=f"value-{i}".encode(),
                    partition=0, on_delivery=on_delivery,
                )
                break
            except BufferError:
                if time.monotonic() > deadline:
                    fail(f"local produce queue stayed full for {PRODUCE_QUEUE_WAIT_S}s")
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining:
        fail(f"{remaining} records undelivered after {FLUSH_TIMEOUT_S}s")
    if errors:
        fail(f"{len(errors)} delivery errors, first: {errors[0]}")
    print(f"PRODUCED acked={len(acked)}", flush=True)


def consume(bootstrap, topic, count):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "eddy-tests-idempotent-consumer",
            # Required by librdkafka; never used: manual assignment, no commits.
            "group.id": "eddy-tests-unused-group",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
        }
    )
    values = []
    offsets = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + CONSUME_WAIT_S
        while True:
            if time.monotonic() > deadline:
                fail(f"consumed {len(values)} records, no end of partition in {CONSUME_WAIT_S}s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    # The producer finished before: the end of the partition is the end.
                    break
                fail(f"consumer error {msg.error()}")
            value = msg.value().decode()
            if msg.key().decode() != "idem-" + value.removeprefix("value-"):
                fail(f"offset {msg.offset()} holds {msg.key()}={msg.value()}")
            values.append(value)
            offsets.append(msg.offset())
    finally:
        consumer.close()
    expected = {f"value-{i}" for i in range(count)}
    unknown = set(values) - expected
    if unknown:
        fail(f"records that were never produced: {sorted(unknown)[:5]}")
    first = offsets[0] if offsets else -1
    last = offsets[-1] if offsets else -1
    print(
        f"CONSUMED records={len(values)} distinct={len(set(values))} first={first} last={last}",
        flush=True,
    )


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: topics_idempotent.py BOOTSTRAP TOPIC COUNT")
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    produce(bootstrap, topic, count)
    consume(bootstrap, topic, count)


if __name__ == "__main__":
    main()
