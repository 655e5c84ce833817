"""Keyed records through confluent-kafka (librdkafka) to partition 0 of one topic, for the
compaction tests and the compaction performance script.

Usage: topics_produce_keyed.py BOOTSTRAP TOPIC [options]

Record g (g = --first .. --first + --count - 1) has key "key-<g mod --keys, 5 digits>" and
value "value-<g>". Then --tombstones null-valued records for keys 0 .. T-1 (same batch
stream), a flush, and, with --marker, one record key "marker" value MARKER in a batch of
its own (produced after the flush). With --keyless, only one record without a key is sent.

Prints "TOMBSTONES_AT <ms>" (wall clock before the first tombstone), "DATA first=<offset>
count=<n>" once every data record and tombstone is
acknowledged (their offsets must be contiguous), "MARKER <offset>", or for --keyless
"DELIVERY_ERROR <code> <name>" / "DELIVERED <offset>". Exits non-zero with a message
starting with "FAIL" on anything unexpected.
"""

import argparse
import sys
import time

from confluent_kafka import Producer

FLUSH_TIMEOUT_S = 120
PRODUCE_QUEUE_WAIT_S = 60


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


class Deliveries:
    def __init__(self):
        self.offsets = []
        self.errors = []

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append(err)
        else:
            self.offsets.append(msg.offset())


def send(producer, topic, key, value, on_delivery):
    deadline = time.monotonic() + PRODUCE_QUEUE_WAIT_S
    while True:
        try:
            producer.produce(topic, key=key, value=value, partition=0, on_delivery=on_delivery)
            return
        except BufferError:
            if time.monotonic() > deadline:
                fail(f"local produce queue stayed full for {PRODUCE_QUEUE_WAIT_S}s")
            producer.poll(0.05)


def flush(producer, deliveries, expected):
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining:
        fail(f"{remaining} records still undelivered after {FLUSH_TIMEOUT_S}s")
    if deliveries.errors:
        fail(f"{len(deliveries.errors)} delivery errors, first: {deliveries.errors[0]}")
    if len(deliveries.offsets) != expected:
        fail(f"{len(deliveries.offsets)} deliveries, expected {expected}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--tombstones", type=int, default=0)
    parser.add_argument("--marker")
    parser.add_argument("--keyless", action="store_true")
    args = parser.parse_args()

    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "client.id": "eddy-tests-produce-keyed",
            "acks": "all",
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
            "message.timeout.ms": 60_000,
            "socket.timeout.ms": 10_000,
            # Fail fast on broker errors: a refused record must not be retried for a minute.
            "retries": 0 if args.keyless else 5,
        }
    )

    if args.keyless:
        result = Deliveries()
        send(producer, args.topic, None, b"no key", result)
        producer.flush(FLUSH_TIMEOUT_S)
        if result.errors:
            err = result.errors[0]
            print(f"DELIVERY_ERROR {err.code()} {err.name()}")
        elif result.offsets:
            print(f"DELIVERED {result.offsets[0]}")
        else:
            fail("the keyless record got no delivery report")
        return

    data = Deliveries()
    for g in range(args.first, args.first + args.count):
        send(producer, args.topic, f"key-{g % args.keys:05d}".encode(), f"value-{g}".encode(), data)
        producer.poll(0)
    if args.tombstones:
        # Every tombstone's timestamp is at or after this wall-clock time.
        print(f"TOMBSTONES_AT {int(time.time() * 1000)}", flush=True)
    for t in range(args.tombstones):
        send(producer, args.topic, f"key-{t:05d}".encode(), None, data)
    expected = args.count + args.tombstones
    flush(producer, data, expected)
    if expected:
        offsets = sorted(data.offsets)
        if offsets != list(range(offsets[0], offsets[0] + expected)):
            fail(f"acknowledged offsets are not contiguous: first {offsets[:5]}")
        print(f"DATA first={offsets[0]} count={expected}", flush=True)

    if args.marker is not None:
        marker = Deliveries()
        send(producer, args.topic, b"marker", args.marker.encode(), marker)
        flush(producer, marker, 1)
        print(f"MARKER {marker.offsets[0]}", flush=True)


if __name__ == "__main__":
    main()
