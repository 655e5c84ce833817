"""confluent-kafka (librdkafka 2.16) reads one partition from the beginning to its high
watermark with manual assignment (no group), and prints each record as
"offset|key|value". Any consumer error (a corrupt record, a stall past the deadline) is
a failure: the point is that a real consumer gets through the whole log.

Usage: confluent_read_all.py BOOTSTRAP TOPIC PARTITION
"""

import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

READ_DEADLINE_S = 60


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    bootstrap, topic, partition = sys.argv[1], sys.argv[2], int(sys.argv[3])
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "eddy-tests-read-all",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "socket.timeout.ms": 10000,
        }
    )
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    deadline = time.monotonic() + READ_DEADLINE_S
    next_offset = low
    while next_offset < high:
        if time.monotonic() > deadline:
            fail(f"stalled at offset {next_offset} of [{low}, {high})")
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail(f"consumer error at offset {next_offset}: {msg.error()}")
        key = (msg.key() or b"").decode()
        value = (msg.value() or b"").decode()
        print(f"{msg.offset()}|{key}|{value}")
        next_offset = msg.offset() + 1
    consumer.close()


if __name__ == "__main__":
    main()
