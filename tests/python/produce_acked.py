"""Produce records with acks=1 through kafka-python and report each acknowledgement.

Usage: produce_acked.py BOOTSTRAP TOPIC COUNT MODE

MODE "pipelined": send all COUNT records to partition 0, wait for every acknowledgement,
and fail if any is missing. MODE "sync": one record at a time, each waited for before the
next, stopping at the first failure (used while the broker is being killed).

Record i has key "dur-<i>" and value "durable-value-<i>-" followed by padding. Prints
"ACK <i> <partition> <offset>" per acknowledged record as soon as it is known, then
"DONE acked=<n>" (pipelined) or "STOPPED acked=<n> reason=<error>" (sync, on failure).
"""

import sys

from kafka import KafkaProducer

REQUEST_TIMEOUT_MS = 10_000
ACK_WAIT_S = 15
# In sync mode a single record waits at most this long: the broker is killed on purpose
# and the run should notice quickly.
SYNC_ACK_WAIT_S = 5


def record(index):
    return f"dur-{index}".encode(), f"durable-value-{index}-".encode() + b"p" * (index % 64)


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in ("pipelined", "sync"):
        sys.exit("usage: produce_acked.py BOOTSTRAP TOPIC COUNT pipelined|sync")
    bootstrap, topic, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

    # acks=1 is what the durability contract is about: the leader acknowledges once the
    # record is in its log. Idempotence needs acks=all, so it is off here.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="eddy-tests-durability",
        acks=1,
        enable_idempotence=False,
        retries=0 if mode == "sync" else 5,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_block_ms=REQUEST_TIMEOUT_MS,
        reconnect_backoff_max_ms=1000,
    )
    acked = 0
    if mode == "pipelined":
        futures = []
        for index in range(count):
            key, value = record(index)
            futures.append(producer.send(topic, key=key, value=value, partition=0))
        producer.flush(timeout=60)
        for index, future in enumerate(futures):
            metadata = future.get(timeout=ACK_WAIT_S)
            print(f"ACK {index} {metadata.partition} {metadata.offset}")
            acked += 1
        print(f"DONE acked={acked}", flush=True)
        producer.close(timeout=10)
        return

    for index in range(count):
        key, value = record(index)
        try:
            metadata = producer.send(topic, key=key, value=value, partition=0).get(
                timeout=SYNC_ACK_WAIT_S
            )
        except Exception as err:  # Any failure ends the run: the broker is gone.
            print(f"STOPPED acked={acked} reason={type(err).__name__}", flush=True)
            producer.close(timeout=1)
            return
        print(f"ACK {index} {metadata.partition} {metadata.offset}", flush=True)
        acked += 1
    print(f"DONE acked={acked}", flush=True)
    producer.close(timeout=10)


if __name__ == "__main__":
    main()
