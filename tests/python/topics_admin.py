"""Topic administration through kafka-python (3.0) against an eddy node.

Usage:
  topics_admin.py create BOOTSTRAP TOPIC [KEY=VALUE ...]
      Create TOPIC with one partition and the given configs; prints "created TOPIC".
  topics_admin.py assign BOOTSTRAP TOPIC PARTITION=NODE[,NODE...] ...
      Create TOPIC with that manual replica assignment; prints "PARTITION <p> LEADER <l>
      REPLICAS <r,…>" per partition, or "ERROR <code> <name> <message>" if refused.
  topics_admin.py alter BOOTSTRAP TOPIC KEY=VALUE [KEY=VALUE ...]
      Set configs (IncrementalAlterConfigs); prints "altered TOPIC".
  topics_admin.py delete-records BOOTSTRAP TOPIC PARTITION BEFORE_OFFSET
      DeleteRecords; prints "LOW_WATERMARK <n>", or "ERROR <code> <name>" if the broker
      refused (exit status 0 either way: the test judges).
  topics_admin.py offsets BOOTSTRAP TOPIC PARTITION
      ListOffsets through a consumer's beginning_offsets/end_offsets; prints
      "EARLIEST <n> LATEST <m>".

Exits non-zero with a message on anything unexpected.
"""

import sys

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError

REQUEST_TIMEOUT_MS = 20_000


def configs(pairs):
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"config {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def admin_client(bootstrap):
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="eddy-tests-topics-admin",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


def create(bootstrap, topic, pairs):
    admin = admin_client(bootstrap)
    try:
        admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs=configs(pairs))],
            timeout_ms=REQUEST_TIMEOUT_MS,
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    print(f"created {topic}")


def assign(bootstrap, topic, specs):
    """Creates TOPIC with a manual replica assignment: specs PARTITION=NODE,NODE..."""
    assignments = {}
    for spec in specs:
        partition, nodes = spec.split("=", 1)
        assignments[int(partition)] = [int(n) for n in nodes.split(",")]
    admin = admin_client(bootstrap)
    try:
        admin.create_topics(
            [NewTopic(topic, -1, -1, replica_assignments=assignments)],
            timeout_ms=REQUEST_TIMEOUT_MS,
        )
        described = admin.describe_topics([topic])[0]
    except KafkaError as err:
        print(f"ERROR {getattr(err, 'errno', -1)} {type(err).__name__} {err}")
        return
    finally:
        admin.close()
    # kafka-python names the DescribeTopics fields as the protocol does.
    for p in sorted(described["partitions"], key=lambda p: p["partition_index"]):
        replicas = ",".join(map(str, p["replica_nodes"]))
        print(f"PARTITION {p['partition_index']} LEADER {p['leader_id']} REPLICAS {replicas}")


def alter(bootstrap, topic, pairs):
    if not pairs:
        sys.exit("alter needs at least one KEY=VALUE")
    admin = admin_client(bootstrap)
    try:
        result = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs(pairs))],
            incremental=True,
        )
    finally:
        admin.close()
    print(f"altered {topic} {result}")


def delete_records(bootstrap, topic, partition, before):
    admin = admin_client(bootstrap)
    try:
        result = admin.delete_records({TopicPartition(topic, partition): before})
    except KafkaError as err:
        print(f"ERROR {getattr(err, 'errno', -1)} {type(err).__name__}")
        return
    finally:
        admin.close()
    answer = result[TopicPartition(topic, partition)]
    print(f"LOW_WATERMARK {answer['low_watermark']}")


def offsets(bootstrap, topic, partition):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="eddy-tests-topics-offsets",
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS + 1000,
    )
    try:
        tp = TopicPartition(topic, partition)
        earliest = consumer.beginning_offsets([tp], timeout_ms=REQUEST_TIMEOUT_MS)[tp]
        latest = consumer.end_offsets([tp], timeout_ms=REQUEST_TIMEOUT_MS)[tp]
    finally:
        consumer.close()
    print(f"EARLIEST {earliest} LATEST {latest}")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    command, bootstrap, topic, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if command == "create":
        create(bootstrap, topic, rest)
    elif command == "assign":
        assign(bootstrap, topic, rest)
    elif command == "alter":
        alter(bootstrap, topic, rest)
    elif command == "delete-records" and len(rest) == 2:
        delete_records(bootstrap, topic, int(rest[0]), int(rest[1]))
    elif command == "offsets" and len(rest) == 1:
        offsets(bootstrap, topic, int(rest[0]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
