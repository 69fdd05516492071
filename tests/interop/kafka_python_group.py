"""kafka-python consumer groups against a Brook broker, across a broker restart.

Usage:
  kafka_python_group.py BOOTSTRAP TOPIC first          # create, produce, consume a third
  kafka_python_group.py BOOTSTRAP TOPIC resume COUNT   # after the restart: the rest, admin
  kafka_python_group.py BOOTSTRAP TOPIC live DIR       # one consumer across a restart

`first` creates TOPIC with 3 partitions, produces MESSAGES numbered records (acks=all), then
a KafkaConsumer of the group (enable_auto_commit=False) polls until it has a third of them,
committing explicit offsets after every poll; it reads its commits back with committed(), has
KafkaAdminClient describe the running group, and closes without committing again.

`resume` (the broker was restarted on the same data directory in between) runs a new consumer
of the same group until COUNT more records came, plus a grace period for duplicates,
committing the same way; it records the first offset it read from each partition. Then
KafkaAdminClient: list_consumer_groups, describe_consumer_groups (running, then empty),
list_consumer_group_offsets, delete_consumer_groups (and again: GROUP_ID_NOT_FOUND), and the
offsets once the group is gone.

`live` reads the whole topic in another group, then writes DIR/ready and goes on polling
(and heartbeating) while the broker is restarted on the same address, until DIR/go appears;
then it produces MORE records and reads them, committing as before. A rebalance listener
counts the assignments: the broker rebuilds the group from __consumer_offsets, so the member
goes on without a rebalance.

Prints one JSON line: the sequence numbers of the records consumed, the commits, the admin
views and "errors". The Rust test (tests/interop.rs) asserts on it.
"""

import json
import logging
import os
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

PARTITIONS = 3
MESSAGES = 900
KEYS = 30
GROUP = "kp-interop-group"
LIVE_GROUP = "kp-interop-live"
MORE = 300
DEADLINE_S = 25


class Listener(ConsumerRebalanceListener):
    def __init__(self):
        self.events = []

    def on_partitions_revoked(self, revoked):
        self.events.append(["revoked", sorted(tp.partition for tp in revoked)])

    def on_partitions_assigned(self, assigned):
        self.events.append(["assigned", sorted(tp.partition for tp in assigned)])


def consumer(bootstrap, topic, name, group=GROUP, listener=None):
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=300,
        max_poll_records=50,
        fetch_max_wait_ms=200,
        # Small fetches, so that the partitions advance side by side.
        max_partition_fetch_bytes=1024,
        request_timeout_ms=15_000,
        reconnect_backoff_max_ms=200,
    )
    c.subscribe([topic], listener=listener)
    return c


def consume(c, until, seen, first_offsets, errors):
    """Polls until `until()` holds; commits after every poll."""
    deadline = time.time() + DEADLINE_S
    while not until() and time.time() < deadline:
        batches = c.poll(timeout_ms=200)
        offsets = {}
        for tp, records in batches.items():
            for r in records:
                first_offsets.setdefault(tp.partition, r.offset)
                key, value = r.key.decode(), r.value.decode()
                seq = int(value.split("-")[1])
                if key != "k%d" % (seq % KEYS):
                    errors.append("record %s with key %s" % (value, key))
                seen.append(seq)
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "")
        if offsets:
            c.commit(offsets)


def describe(admin):
    g = admin.describe_consumer_groups([GROUP])[0]
    members = []
    for m in g.members:
        assignment = m.member_assignment
        members.append(sorted(p for _, ps in assignment.assignment for p in ps)
                       if assignment else [])
    return {"error_code": g.error_code, "state": g.state, "protocol_type": g.protocol_type,
            "protocol": g.protocol, "assignments": members}


def live(bootstrap, topic, control):
    errors = []
    out = {"errors": errors}
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    listener = Listener()
    c = consumer(bootstrap, topic, "consumer-live", LIVE_GROUP, listener)
    seen, first_offsets = [], {}
    consume(c, lambda: len(seen) >= MESSAGES, seen, first_offsets, errors)
    out["before"] = len(seen)
    out["committed_before"] = [c.committed(tp) for tp in tps]
    with open(os.path.join(control, "ready"), "w") as f:
        f.write("ready\n")
    # Polling on (nothing is left to read) while the broker goes away and comes back.
    go = os.path.join(control, "go")
    consume(c, lambda: os.path.exists(go), seen, first_offsets, errors)
    out["go"] = os.path.exists(go)
    # Some heartbeats against the new broker before anything more comes.
    settle = time.time() + 1.0
    consume(c, lambda: time.time() > settle, seen, first_offsets, errors)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             request_timeout_ms=10_000)
    futures = [producer.send(topic, key=b"k%d" % (i % KEYS), value=b"seq-%d" % i)
               for i in range(MESSAGES, MESSAGES + MORE)]
    producer.flush(timeout=20)
    for f in futures:
        f.get(timeout=10)
    producer.close(timeout=5)
    consume(c, lambda: len(seen) >= MESSAGES + MORE, seen, first_offsets, errors)
    grace = time.time() + 1.5  # anything more would be a duplicate
    consume(c, lambda: time.time() > grace, seen, first_offsets, errors)
    out["consumed"] = seen
    out["events"] = listener.events
    out["end_offsets"] = [c.end_offsets(tps)[tp] for tp in tps]
    out["committed"] = [c.committed(tp) for tp in tps]
    c.close(autocommit=False)
    print(json.dumps(out))
    return 1 if errors else 0


def main():
    bootstrap, topic, phase = sys.argv[1], sys.argv[2], sys.argv[3]
    if phase == "live":
        return live(bootstrap, topic, sys.argv[4])
    errors = []
    started = time.monotonic()
    timings = {}
    out = {"errors": errors, "timings": timings}

    def stage(name):
        timings[name] = round(time.monotonic() - started, 2)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="interop-admin",
                             request_timeout_ms=10_000)
    seen, first_offsets = [], {}
    if phase == "first":
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=10_000)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                 request_timeout_ms=10_000)
        futures = [producer.send(topic, key=b"k%d" % (i % KEYS), value=b"seq-%d" % i)
                   for i in range(MESSAGES)]
        producer.flush(timeout=20)
        ends = [0] * PARTITIONS
        for f in futures:
            md = f.get(timeout=10)
            ends[md.partition] = max(ends[md.partition], md.offset + 1)
        producer.close(timeout=5)
        out["ends"] = ends
        stage("produced")
        c = consumer(bootstrap, topic, "consumer-first")
        consume(c, lambda: len(seen) >= MESSAGES // 3, seen, first_offsets, errors)
        stage("consumed")
    else:
        remaining = int(sys.argv[4])
        c = consumer(bootstrap, topic, "consumer-resume")
        consume(c, lambda: len(seen) >= remaining, seen, first_offsets, errors)
        stage("consumed")
        grace = time.time() + 1.5  # anything more would be a duplicate
        consume(c, lambda: time.time() > grace, seen, first_offsets, errors)
        out["end_offsets"] = [c.end_offsets(tps)[tp] for tp in tps]
        out["listed"] = [list(g) for g in admin.list_consumer_groups() if g[0] == GROUP]
    out["consumed"] = seen
    out["first_offsets"] = first_offsets
    out["committed"] = [c.committed(tp) for tp in tps]
    out["running"] = describe(admin)
    stage("described")
    c.close(autocommit=False)
    stage("closed")
    out["empty"] = describe(admin)
    if phase != "first":
        out["admin_offsets"] = {
            tp.partition: o.offset
            for tp, o in admin.list_consumer_group_offsets(GROUP).items() if tp.topic == topic}
        out["deleted"] = [[g, e.errno] for g, e in admin.delete_consumer_groups([GROUP])]
        out["deleted_again"] = [[g, e.errno] for g, e in admin.delete_consumer_groups([GROUP])]
        out["listed_after_delete"] = [
            g[0] for g in admin.list_consumer_groups() if g[0] == GROUP]
        out["admin_offsets_after_delete"] = {
            tp.partition: o.offset
            for tp, o in admin.list_consumer_group_offsets(GROUP).items() if tp.topic == topic}
    stage("admin")
    admin.close()
    print(json.dumps(out))
    return 1 if errors else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    sys.exit(main())
