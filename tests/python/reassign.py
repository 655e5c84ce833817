"""Partition reassignments through kafka-python's admin client (KIP-455), for
tests/cluster_reassign.rs.

Usage:
  reassign.py alter BOOTSTRAP TOPIC PARTITION NODE[,NODE...]|cancel
      Prints "RESULT <error class name>" ("RESULT None" when accepted).
  reassign.py list BOOTSTRAP
      Prints "ONGOING <topic> <partition> <replicas> <adding> <removing>" per move in
      flight (comma-separated node ids), then "LISTED <n>".
"""

import sys

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient


def admin_client(bootstrap):
    return KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="eddy-tests-reassign", request_timeout_ms=20_000
    )


def ids(nodes):
    return ",".join(str(n) for n in nodes) or "-"


def main():
    command, bootstrap = sys.argv[1], sys.argv[2]
    admin = admin_client(bootstrap)
    try:
        if command == "alter":
            topic, partition, nodes = sys.argv[3], int(sys.argv[4]), sys.argv[5]
            target = None if nodes == "cancel" else [int(n) for n in nodes.split(",")]
            result = admin.alter_partition_reassignments({TopicPartition(topic, partition): target})
            error = result.get(TopicPartition(topic, partition), "MISSING")
            print(f"RESULT {getattr(error, '__name__', error)}")
        elif command == "list":
            ongoing = admin.list_partition_reassignments()
            for tp, r in sorted(ongoing.items()):
                print(
                    f"ONGOING {tp.topic} {tp.partition} {ids(r['replicas'])} "
                    f"{ids(r['adding_replicas'])} {ids(r['removing_replicas'])}"
                )
            print(f"LISTED {len(ongoing)}")
        else:
            sys.exit(__doc__)
    finally:
        admin.close()


if __name__ == "__main__":
    main()
