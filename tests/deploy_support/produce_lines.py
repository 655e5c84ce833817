"""Text lines through kafka-python, keyed so they spread over the topic's partitions.

Usage: produce_lines.py BOOTSTRAP TOPIC FIRST_INDEX < lines

Line i of standard input (i from 0) is sent with key "line-<FIRST_INDEX + i>" and the line
as its value, by an idempotent producer (acks=all) with kafka-python's default partitioner
(murmur2 of the key, as Kafka's Java producer). Prints "PARTITION <p> <n>" per partition
that received records, then "PRODUCED <n>" once every record is acknowledged; exits
non-zero with a message starting with "FAIL" otherwise.
"""

import sys
from collections import Counter

from kafka import KafkaProducer

REQUEST_TIMEOUT_MS = 20_000
FLUSH_TIMEOUT_S = 60


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    bootstrap, topic, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lines = [line for line in sys.stdin.read().split("\n") if line]
    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        # A retried batch is written once: a duplicated line would be counted twice.
        enable_idempotence=True,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id="eddy-tests-produce-lines",
    )
    futures = [
        producer.send(topic, key=f"line-{first + i}".encode(), value=line.encode())
        for i, line in enumerate(lines)
    ]
    producer.flush(timeout=FLUSH_TIMEOUT_S)
    partitions = Counter()
    for future in futures:
        try:
            partitions[future.get(timeout=FLUSH_TIMEOUT_S).partition] += 1
        except Exception as err:  # every failure is the test's failure
            fail(f"not acknowledged: {err!r}")
    producer.close()
    for partition in sorted(partitions):
        print(f"PARTITION {partition} {partitions[partition]}")
    print(f"PRODUCED {len(lines)}")


main()
