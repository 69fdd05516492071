"""confluent-kafka (librdkafka) consumer groups against a Brook broker.

Usage:
  confluent_group.py BOOTSTRAP TOPIC first    # create, produce, two consumers, one leaves
  confluent_group.py BOOTSTRAP TOPIC resume   # after a broker restart: the group goes on

`first` creates TOPIC with 6 partitions, produces MESSAGES numbered records with an
idempotent producer, then runs two consumers of one group (threads, each its own client).
Both commit synchronously after every record they process, and on revocation. Consumer B
closes (leaves the group) after a third of the records; consumer A goes on alone after the
rebalance and stops at two thirds, committing before it closes. `resume` joins the same
group with one consumer and reads until every record has been seen, then describes, lists
and deletes the (now empty) group with the AdminClient.

Prints one JSON line: the records (sequence numbers) each consumer processed, the offsets
the group had committed when the phase ended, the first offset each partition was read from
in this phase, and "errors". The Rust test (tests/interop.rs) asserts on it.
"""

import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 6
MESSAGES = 6000
GROUP = "brook-interop-group"


def consumer_config(bootstrap, name):
    return {
        "bootstrap.servers": bootstrap,
        "group.id": GROUP,
        "client.id": name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 60000,
    }


class Member:
    """One consumer: processes records and commits after each one."""

    def __init__(self, bootstrap, topic, name, errors):
        self.name = name
        self.errors = errors
        self.seen = []
        self.first_offsets = {}
        self.consumer = Consumer(consumer_config(bootstrap, name))
        self.consumer.subscribe([topic], on_revoke=self.on_revoke)

    def on_revoke(self, consumer, partitions):
        # Every processed record was committed right after it: nothing is left to commit.
        pass

    def poll_one(self, timeout=1.0):
        msg = self.consumer.poll(timeout)
        if msg is None:
            return False
        if msg.error():
            self.errors.append(f"{self.name}: {msg.error()}")
            return False
        seq = int(msg.value().decode().split("-")[1])
        self.first_offsets.setdefault(msg.partition(), msg.offset())
        self.seen.append(seq)
        tp = TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)
        for attempt in range(20):
            try:
                self.consumer.commit(offsets=[tp], asynchronous=False)
                break
            except KafkaException as e:
                # REBALANCE_IN_PROGRESS and friends: retry after the rebalance.
                if attempt == 19:
                    self.errors.append(f"{self.name}: commit failed: {e}")
                time.sleep(0.1)
        return True


def committed(bootstrap, topic):
    c = Consumer(consumer_config(bootstrap, "probe"))
    got = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    c.close()
    return {tp.partition: tp.offset for tp in got}


def first(bootstrap, topic, errors):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).items():
        f.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "linger.ms": 5})
    for i in range(MESSAGES):
        producer.produce(topic, key=b"k%d" % i, value=b"v-%d" % i)
    if producer.flush(30):
        errors.append("producer did not flush")

    a = Member(bootstrap, topic, "consumer-a", errors)
    b = Member(bootstrap, topic, "consumer-b", errors)
    total = lambda: len(a.seen) + len(b.seen)  # noqa: E731
    deadline = time.time() + 60
    stop = threading.Event()

    def run_b():
        while not stop.is_set() and total() < MESSAGES // 3 and time.time() < deadline:
            b.poll_one(0.2)
        b.consumer.close()  # LeaveGroup: A takes over B's partitions

    tb = threading.Thread(target=run_b)
    tb.start()
    while total() < 2 * MESSAGES // 3 and time.time() < deadline:
        a.poll_one(0.2)
    stop.set()
    tb.join()
    a.consumer.close()
    if total() < 2 * MESSAGES // 3:
        errors.append(f"only {total()} records consumed before the deadline")
    return {"a": a.seen, "b": b.seen}


def resume(bootstrap, topic, errors, already):
    c = Member(bootstrap, topic, "consumer-c", errors)
    deadline = time.time() + 60
    while len(c.seen) < already and time.time() < deadline:
        c.poll_one(0.5)
    # Anything beyond the remainder would be a duplicate: poll a little longer for it.
    end = time.time() + 2
    while time.time() < end:
        c.poll_one(0.2)
    c.consumer.close()
    return {"c": c.seen, "first_offsets": c.first_offsets}


def admin_checks(bootstrap, topic, errors):
    """The group as the AdminClient sees it, then its deletion."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups().result(30)
    ids = sorted(g.group_id for g in listed.valid)
    described = admin.describe_consumer_groups([GROUP])[GROUP].result(30)
    offsets = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(GROUP)])[GROUP].result(30)
    admin.delete_consumer_groups([GROUP])[GROUP].result(30)
    after = sorted(g.group_id for g in admin.list_consumer_groups().result(30).valid)
    return {
        "listed": ids,
        "state": str(described.state),
        "members": len(described.members),
        "admin_offsets": {tp.partition: tp.offset for tp in offsets.topic_partitions
                          if tp.topic == topic},
        "after_delete": after,
    }


def main():
    bootstrap, topic, phase = sys.argv[1], sys.argv[2], sys.argv[3]
    errors = []
    if phase == "first":
        out = first(bootstrap, topic, errors)
    else:
        remaining = int(sys.argv[4])
        out = resume(bootstrap, topic, errors, remaining)
    out["committed"] = committed(bootstrap, topic)
    if phase != "first":
        out.update(admin_checks(bootstrap, topic, errors))
    out["errors"] = errors
    print(json.dumps(out))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
