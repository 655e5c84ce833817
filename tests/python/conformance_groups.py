"""Consumer-group semantics as confluent-kafka (librdkafka) sees them, for
tests/conformance_groups.rs. Every line printed is "KEY VALUE…"; the Rust test judges.

Usage:
  conformance_groups.py offset-delete BOOTSTRAP SUBSCRIBED OTHER GROUP
      A member subscribes to SUBSCRIBED (one partition) and commits offset 1 on it and on
      OTHER (a topic it does not subscribe to). While it is in the group, OffsetDelete of
      both partitions prints "LIVE <topic> <error name or OK>" each; after it closes,
      OffsetDelete of the subscribed one prints "CLOSED <topic> <…>"; then
      "COMMITTED <topic> <offset>" for what is left.
  conformance_groups.py static-fence BOOTSTRAP TOPIC GROUP SESSION_MS
      Consumer A joins as static member "fenced-instance" and gets the partition; consumer
      B joins with the same group.instance.id. Prints "A_ASSIGNED", "B_ASSIGNED", then
      "A_FATAL <error>" if A got a fatal error, or "A_NO_FATAL" after 20 s; B polls on and
      prints "B_STILL_ASSIGNED <partitions>", closes; then DeleteGroups is retried until
      it succeeds or SESSION_MS + 20 s pass: "DELETED <seconds after B closed>" or
      "NOT_DELETED <last error>".
"""

import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka import ConsumerGroupTopicPartitions  # noqa: E402

TIMEOUT_S = 30
FENCE_WAIT_S = 20


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def consumer(bootstrap, group, client_id, extra=None):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    config.update(extra or {})
    return Consumer(config)


def is_fatal(msg):
    """Whether a polled event is librdkafka's fatal error (code _FATAL, or flagged)."""
    if msg is None or not msg.error():
        return False
    return msg.error().fatal() or msg.error().code() == KafkaError._FATAL


def wait_assigned(c, deadline_s):
    """Polls until `c` has an assignment; returns it (or fails)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        msg = c.poll(0.2)
        if is_fatal(msg):
            fail(f"fatal error before the assignment: {msg.error()}")
        if c.assignment():
            return c.assignment()
    fail("no assignment in time")


def delete_offsets(bootstrap, group, tps):
    """OffsetDelete of `tps` through kafka-python's admin client (confluent-kafka's Python
    binding has none); each topic's error name, or NO_ERROR."""
    from kafka import TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="conformance-offset-delete")
    try:
        result = admin.delete_group_offsets(
            group, [KTopicPartition(tp.topic, tp.partition) for tp in tps]
        )
        return {tp.topic: error.__name__ for tp, error in result.items()}
    except Exception as err:  # a top-level error names the whole request
        return {tp.topic: type(err).__name__ for tp in tps}
    finally:
        admin.close()


def offset_delete(bootstrap, subscribed, other, group):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    c = consumer(bootstrap, group, "offset-delete-member")
    c.subscribe([subscribed])
    wait_assigned(c, TIMEOUT_S)
    c.commit(
        offsets=[TopicPartition(subscribed, 0, 1), TopicPartition(other, 0, 1)],
        asynchronous=False,
    )
    live = delete_offsets(bootstrap, group, [TopicPartition(subscribed, 0), TopicPartition(other, 0)])
    for topic in (subscribed, other):
        print(f"LIVE {topic} {live.get(topic, 'MISSING')}")
    c.close()
    closed = delete_offsets(bootstrap, group, [TopicPartition(subscribed, 0)])
    print(f"CLOSED {subscribed} {closed.get(subscribed, 'MISSING')}")
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    for tp in futures[group].result().topic_partitions:
        print(f"COMMITTED {tp.topic} {tp.offset}")


def static_fence(bootstrap, topic, group, session_ms):
    static = {"group.instance.id": "fenced-instance", "session.timeout.ms": session_ms}
    a = consumer(bootstrap, group, "static-a", static)
    a.subscribe([topic])
    wait_assigned(a, TIMEOUT_S)
    print("A_ASSIGNED", flush=True)
    b = consumer(bootstrap, group, "static-b", static)
    b.subscribe([topic])
    fatal = None
    deadline = time.monotonic() + FENCE_WAIT_S
    b_assigned = False
    while time.monotonic() < deadline and fatal is None:
        msg = a.poll(0.1)
        if is_fatal(msg):
            fatal = msg.error()
        bm = b.poll(0.1)
        if is_fatal(bm):
            fail(f"the newer member B got a fatal error: {bm.error()}")
        if b.assignment() and not b_assigned:
            b_assigned = True
            print("B_ASSIGNED", flush=True)
    print(f"A_FATAL {fatal}" if fatal is not None else "A_NO_FATAL", flush=True)
    # B keeps the partition while A stays down.
    end = time.monotonic() + 5
    while time.monotonic() < end:
        bm = b.poll(0.2)
        if is_fatal(bm):
            fail(f"the newer member B got a fatal error: {bm.error()}")
    print(f"B_STILL_ASSIGNED {sorted(tp.partition for tp in b.assignment())}", flush=True)
    try:
        a.close()
    except KafkaException:
        pass  # a fenced consumer's close reports the fatal error again
    b.close()
    closed = time.monotonic()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    last = None
    while time.monotonic() < closed + session_ms / 1000 + 20:
        try:
            admin.delete_consumer_groups([group], request_timeout=TIMEOUT_S)[group].result()
            print(f"DELETED {time.monotonic() - closed:.1f}")
            return
        except KafkaException as err:
            last = err.args[0]
        time.sleep(0.5)
    print(f"NOT_DELETED {last}")


def main():
    if len(sys.argv) < 2:
        fail(__doc__)
    command, args = sys.argv[1], sys.argv[2:]
    if command == "offset-delete" and len(args) == 4:
        offset_delete(*args)
    elif command == "static-fence" and len(args) == 4:
        static_fence(args[0], args[1], args[2], int(args[3]))
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
