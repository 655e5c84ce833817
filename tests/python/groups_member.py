"""One consumer-group member, driven by a Rust integration test (tests/groups_*.rs).

Usage: groups_member.py LIB BOOTSTRAP TOPIC GROUP CLIENT_ID [INSTANCE_ID]

LIB is `kafka-python` or `confluent`. The member subscribes to TOPIC in GROUP (static when
INSTANCE_ID is given), reads from the earliest offset, and after every non-empty poll
commits synchronously what it read. Auto-commit is off, so a record is committed exactly
when a `committed` event follows the batch that reported it.

Events go to stdout, one JSON object per line, flushed at once:
  {"ev": "started"}                                   subscribed, polling
  {"ev": "assigned", "partitions": [..]}              rebalance callback
  {"ev": "revoked", "partitions": [..]}               rebalance callback
  {"ev": "generation", "generation": G, "member_id": M, "leader": L}
                                                      (kafka-python only) when it changes
  {"ev": "records", "records": [[partition, offset], ..]}  one poll's records
  {"ev": "committed", "offsets": {"P": OFFSET, ..}}   the commit after that poll succeeded
  {"ev": "commit_failed", "error": "..."}             it failed (records may come again)
  {"ev": "closed"}                                    consumer closed, exiting 0

The session timeout is 6 s (the broker's minimum) unless GROUPS_MEMBER_SESSION_TIMEOUT_MS
says otherwise.

Commands on stdin, one per line: `close` closes the consumer (a dynamic member leaves the
group) and exits; end of input does the same, so the member never outlives its test.
"""

import json
import os
import queue
import sys
import threading
import time

SESSION_TIMEOUT_MS = int(os.environ.get("GROUPS_MEMBER_SESSION_TIMEOUT_MS", "6000"))
HEARTBEAT_INTERVAL_MS = 1_000
# Also the rebalance timeout: how long a rebalance waits for members to rejoin.
MAX_POLL_INTERVAL_MS = 30_000
POLL_TIMEOUT_MS = 200
POLL_RECORDS_MAX = 50
RUN_TIME_MAX_S = 300


def emit(event, **fields):
    fields["ev"] = event
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


def read_commands(commands):
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put("close")


class KafkaPythonMember:
    def __init__(self, bootstrap, topic, group, client_id, instance_id):
        from kafka import KafkaConsumer
        from kafka.consumer.subscription_state import ConsumerRebalanceListener

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                emit("revoked", partitions=sorted(tp.partition for tp in revoked))

            def on_partitions_assigned(self, assigned):
                emit("assigned", partitions=sorted(tp.partition for tp in assigned))

        config = dict(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        )
        if instance_id:
            config["group_instance_id"] = instance_id
        self.consumer = KafkaConsumer(**config)
        self.consumer.subscribe([topic], listener=Listener())
        self.generation = None

    def poll(self):
        batches = self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=POLL_RECORDS_MAX)
        metadata = self.consumer.group_metadata()
        current = (metadata.generation_id, metadata.member_id)
        if metadata.generation_id >= 0 and current != self.generation:
            self.generation = current
            # Whether this member computed the assignment; kafka-python keeps it private.
            leader = bool(getattr(self.consumer._coordinator, "_is_leader", False))
            emit("generation", generation=current[0], member_id=current[1], leader=leader)
        return [(r.partition, r.offset) for records in batches.values() for r in records]

    def commit(self):
        self.consumer.commit()
        return {
            str(tp.partition): self.consumer.position(tp)
            for tp in self.consumer.assignment()
        }

    def close(self):
        self.consumer.close(autocommit=False)


class ConfluentMember:
    def __init__(self, bootstrap, topic, group, client_id, instance_id):
        from confluent_kafka import Consumer

        config = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": client_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
        }
        if instance_id:
            config["group.instance.id"] = instance_id
        self.consumer = Consumer(config)

        def on_assign(_consumer, partitions):
            emit("assigned", partitions=sorted(p.partition for p in partitions))

        def on_revoke(_consumer, partitions):
            emit("revoked", partitions=sorted(p.partition for p in partitions))

        self.consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)

    def poll(self):
        messages = self.consumer.consume(
            num_messages=POLL_RECORDS_MAX, timeout=POLL_TIMEOUT_MS / 1000
        )
        records = []
        for m in messages:
            if m.error():
                emit("poll_error", error=str(m.error()))
                continue
            records.append((m.partition(), m.offset()))
        return records

    def commit(self):
        committed = self.consumer.commit(asynchronous=False)
        # Partitions this member has not read from come back with an invalid offset.
        return {str(tp.partition): tp.offset for tp in committed or [] if tp.offset >= 0}

    def close(self):
        self.consumer.close()


def main():
    if len(sys.argv) not in (6, 7):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    lib, bootstrap, topic, group, client_id = sys.argv[1:6]
    instance_id = sys.argv[6] if len(sys.argv) == 7 else None
    members = {"kafka-python": KafkaPythonMember, "confluent": ConfluentMember}
    if lib not in members:
        print(f"unknown client library {lib}", file=sys.stderr)
        sys.exit(2)
    commands = queue.Queue()
    threading.Thread(target=read_commands, args=(commands,), daemon=True).start()
    member = members[lib](bootstrap, topic, group, client_id, instance_id)
    emit("started")
    deadline = time.monotonic() + RUN_TIME_MAX_S
    while time.monotonic() < deadline:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = None
        if command == "close":
            break
        records = member.poll()
        if not records:
            continue
        emit("records", records=records)
        try:
            emit("committed", offsets=member.commit())
        except Exception as err:  # the commit failing is an observation, not a crash
            emit("commit_failed", error=repr(err))
    member.close()
    emit("closed")


if __name__ == "__main__":
    main()
