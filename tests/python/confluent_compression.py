"""confluent-kafka (librdkafka 2.16) against an eddy node: one producer per compression
codec writes to its own topic, and a consumer with manual assignment (no group
membership, no commits) reads everything back.

Usage: confluent_compression.py BOOTSTRAP RECORDS CODEC [CODEC ...]

Each codec uses topic "cf-<codec>" (auto-created, one partition). Prints "OK <codec>
records=<n>" per codec; exits non-zero with a message starting with "FAIL" on the first
mismatch.
"""

import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

FLUSH_TIMEOUT_S = 60
CONSUME_WAIT_S = 60
PRODUCE_QUEUE_WAIT_S = 30


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expected_record(codec, index):
    key = f"{codec}-key-{index}".encode()
    # Repetitive values so that librdkafka keeps the compressed batch.
    value = f"{codec} value {index} ".encode() + b"compressible " * (index % 20 + 4)
    headers = [("codec", codec.encode()), ("index", str(index).encode())]
    return key, value, headers


def produce(bootstrap, codec, topic, count):
    errors = []
    acked = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(f"{msg.key()}: {err}")
        else:
            acked.append((msg.partition(), msg.offset()))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": f"eddy-tests-confluent-{codec}",
            "compression.type": codec,
            "acks": "all",
            "linger.ms": 20,
            "message.timeout.ms": 30000,
            "socket.timeout.ms": 10000,
        }
    )
    for index in range(count):
        key, value, headers = expected_record(codec, index)
        deadline = time.monotonic() + PRODUCE_QUEUE_WAIT_S
        while True:
            try:
                producer.produce(
                    topic, key=key, value=value, headers=headers, partition=0,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                if time.monotonic() > deadline:
                    fail(f"{codec}: local produce queue stayed full for {PRODUCE_QUEUE_WAIT_S}s")
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining:
        fail(f"{codec}: {remaining} records still undelivered after {FLUSH_TIMEOUT_S}s")
    if errors:
        fail(f"{codec}: {len(errors)} delivery errors, first: {errors[0]}")
    offsets = sorted(offset for _, offset in acked)
    if offsets != list(range(count)):
        fail(f"{codec}: acked offsets are not 0..{count}: first ones {offsets[:10]}")


def consume(bootstrap, codec, topic, count):
    # librdkafka's Consumer requires a group.id; it is never used for membership or
    # commits because partitions are assigned by hand and auto-commit is off.
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": f"eddy-tests-confluent-{codec}-consumer",
            "group.id": "eddy-tests-unused-group",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "fetch.wait.max.ms": 200,
            "socket.timeout.ms": 10000,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        next_offset = 0
        deadline = time.monotonic() + CONSUME_WAIT_S
        while next_offset < count:
            if time.monotonic() > deadline:
                fail(f"{codec}: consumed {next_offset} of {count} within {CONSUME_WAIT_S}s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                fail(f"{codec}: consumer error {msg.error()}")
            if msg.offset() != next_offset:
                fail(f"{codec}: got offset {msg.offset()}, expected {next_offset}")
            key, value, headers = expected_record(codec, next_offset)
            got = (msg.key(), msg.value(), msg.headers())
            if got != (key, value, headers):
                fail(f"{codec}: record {next_offset} is {got}, expected {(key, value, headers)}")
            next_offset += 1
    finally:
        consumer.close()
    return next_offset


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: confluent_compression.py BOOTSTRAP RECORDS CODEC [CODEC ...]")
    bootstrap = sys.argv[1]
    count = int(sys.argv[2])
    for codec in sys.argv[3:]:
        topic = f"cf-{codec}"
        produce(bootstrap, codec, topic, count)
        consumed = consume(bootstrap, codec, topic, count)
        print(f"OK {codec} records={consumed}", flush=True)


if __name__ == "__main__":
    main()
