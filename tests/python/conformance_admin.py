"""Authorized operations as confluent-kafka's AdminClient asks for them
(include_authorized_operations=True), for tests/conformance_groups.rs. Prints
"TOPIC <sorted operation names>", "CLUSTER <…>", "GROUP <…>".

Usage: conformance_admin.py BOOTSTRAP TOPIC GROUP
"""

import sys

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient

TIMEOUT_S = 30


def names(ops):
    return ",".join(sorted(op.name for op in (ops or [])))


def main():
    bootstrap, topic, group = sys.argv[1:4]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = admin.describe_topics(
        TopicCollection([topic]), include_authorized_operations=True, request_timeout=TIMEOUT_S
    )
    print(f"TOPIC {names(topics[topic].result().authorized_operations)}")
    cluster = admin.describe_cluster(include_authorized_operations=True, request_timeout=TIMEOUT_S)
    print(f"CLUSTER {names(cluster.result().authorized_operations)}")
    groups = admin.describe_consumer_groups(
        [group], include_authorized_operations=True, request_timeout=TIMEOUT_S
    )
    print(f"GROUP {names(groups[group].result().authorized_operations)}")


if __name__ == "__main__":
    main()
