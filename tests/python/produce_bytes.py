"""Records with exact key and value bytes through kafka-python, for the CLI's consume tests.

Usage: produce_bytes.py BOOTSTRAP TOPIC RECORD...

Each RECORD is KEYHEX:VALUEHEX (hex of the bytes; "-" for a null key or value). The
records go, in order, to partition 0 with acks=all. Prints "PRODUCED <n>" once every one
is acknowledged; exits non-zero with a message starting with "FAIL" otherwise.
"""

import sys

from kafka import KafkaProducer

REQUEST_TIMEOUT_MS = 20_000
FLUSH_TIMEOUT_S = 60


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def unhex(text):
    return None if text == "-" else bytes.fromhex(text)


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    bootstrap, topic, records = sys.argv[1], sys.argv[2], sys.argv[3:]
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id="eddy-tests-produce-bytes",
    )
    futures = []
    for record in records:
        key, _, value = record.partition(":")
        futures.append(producer.send(topic, key=unhex(key), value=unhex(value), partition=0))
    producer.flush(timeout=FLUSH_TIMEOUT_S)
    for future in futures:
        try:
            future.get(timeout=FLUSH_TIMEOUT_S)
        except Exception as err:  # every failure is the test's failure
            fail(f"not acknowledged: {err!r}")
    producer.close()
    print(f"PRODUCED {len(records)}")


main()
