"""Topic configs as Kafka's admin clients change them, for tests/conformance_configs.rs.
Every line printed is "KEY VALUE…"; the Rust test judges.

Usage:
  conformance_configs.py create BOOTSTRAP TOPIC KEY=VALUE...
      kafka-python CreateTopics with these configs; prints "CREATED" or
      "CREATE_ERROR <error class>", then "CONFIG <key> <value>" for each key given, as
      DescribeConfigs reports it.
  conformance_configs.py legacy-alter BOOTSTRAP TOPIC KEY=VALUE...
      kafka-python's non-incremental AlterConfigs (API 33): prints "ALTERED" or
      "ALTER_ERROR <error class>", then "CONFIG <key> <value> <source>" for cleanup.policy
      and retention.ms.
  conformance_configs.py list-ops BOOTSTRAP TOPIC
      confluent-kafka incremental_alter_configs: APPEND compact to cleanup.policy, SUBTRACT
      delete, APPEND to retention.ms (not a list); prints "APPEND <value or error>",
      "SUBTRACT <value or error>", "APPEND_RETENTION <error name or OK>".
"""

import sys

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError

REQUEST_TIMEOUT_MS = 20_000


def pairs(args):
    return dict(a.split("=", 1) for a in args)


def admin_client(bootstrap):
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="eddy-tests-conformance-configs",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


def described(admin, topic):
    """The topic's configs as DescribeConfigs reports them: name -> (value, source code)."""
    result = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
    )
    out = {}
    for name, config in result["topic"][topic].items():
        source = config.get("config_source")
        source = getattr(source, "value", source)
        out[name] = (config.get("value"), source)
    return out


def create(bootstrap, topic, args):
    configs = pairs(args)
    admin = admin_client(bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
        print("CREATED")
    except KafkaError as err:
        print(f"CREATE_ERROR {type(err).__name__} {err}")
        admin.close()
        return
    now = described(admin, topic)
    for key in configs:
        value = now.get(key, ("MISSING", None))[0]
        print(f"CONFIG {key} {value}")
    admin.close()


def legacy_alter(bootstrap, topic, args):
    admin = admin_client(bootstrap)
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=pairs(args))],
            incremental=False,
        )
        print("ALTERED")
    except KafkaError as err:
        print(f"ALTER_ERROR {type(err).__name__} {err}")
    now = described(admin, topic)
    for key in ("cleanup.policy", "retention.ms"):
        value, source = now.get(key, ("MISSING", None))
        print(f"CONFIG {key} {value} {source}")
    admin.close()


def list_ops(bootstrap, topic):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource as CResource,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def alter(name, value, op):
        resource = CResource(
            CResource.Type.TOPIC,
            topic,
            incremental_configs=[ConfigEntry(name, value, incremental_operation=op)],
        )
        future = admin.incremental_alter_configs([resource])[resource]
        try:
            future.result(timeout=30)
            return "OK"
        except KafkaException as err:
            return err.args[0].name()

    def value_of(name):
        resource = CResource(CResource.Type.TOPIC, topic)
        configs = admin.describe_configs([resource])[resource].result(timeout=30)
        return configs[name].value

    outcome = alter("cleanup.policy", "compact", AlterConfigOpType.APPEND)
    print(f"APPEND {value_of('cleanup.policy') if outcome == 'OK' else outcome}")
    outcome = alter("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT)
    print(f"SUBTRACT {value_of('cleanup.policy') if outcome == 'OK' else outcome}")
    print(f"APPEND_RETENTION {alter('retention.ms', '5', AlterConfigOpType.APPEND)}")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    command, bootstrap, topic, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if command == "create":
        create(bootstrap, topic, args)
    elif command == "legacy-alter":
        legacy_alter(bootstrap, topic, args)
    elif command == "list-ops":
        list_ops(bootstrap, topic)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
