"""Create topics through kafka-python's admin client (CreateTopics against an eddy node).

Usage: create_topics.py BOOTSTRAP NAME:PARTITIONS [NAME:PARTITIONS ...]

Waits until every new topic is visible in metadata with a leader for each partition, then
checks the partition counts; exits non-zero with a message on any mismatch.
"""

import sys

from kafka.admin import KafkaAdminClient

REQUEST_TIMEOUT_MS = 20_000


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: create_topics.py BOOTSTRAP NAME:PARTITIONS [NAME:PARTITIONS ...]")
    bootstrap = sys.argv[1]
    wanted = {}
    for spec in sys.argv[2:]:
        name, partitions = spec.rsplit(":", 1)
        wanted[name] = int(partitions)

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="eddy-tests-create-topics",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        admin.create_topics(
            {name: {"num_partitions": n, "replication_factor": 1} for name, n in wanted.items()},
            timeout_ms=REQUEST_TIMEOUT_MS,
            wait_for_metadata=True,
        )
        described = {t["name"]: t for t in admin.describe_topics(list(wanted))}
    finally:
        admin.close()

    for name, partitions in wanted.items():
        topic = described.get(name)
        if topic is None:
            sys.exit(f"topic {name} is missing from metadata after CreateTopics")
        got = len(topic["partitions"])
        if got != partitions:
            sys.exit(f"topic {name} has {got} partitions in metadata, expected {partitions}")
    print("created " + " ".join(f"{n}:{p}" for n, p in wanted.items()))


if __name__ == "__main__":
    main()
