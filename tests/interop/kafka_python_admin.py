"""kafka-python against a Brook broker: the admin client on topics and configs, and a consumer
that positions itself (no consumer group).

- KafkaAdminClient: create_topics (with topic configs; refused for an existing name, a bad
  config value, an unknown config, zero partitions, a replication factor above the broker
  count), list_topics, describe_topics, describe_configs (values and sources), alter_configs
  (which replaces the whole set, so an unnamed config goes back to its default; refused for a
  bad value and an unknown topic), create_partitions, delete_topics (and again, refused).
- KafkaConsumer on assigned partitions: seek_to_beginning, seek_to_end, position, seek to an
  offset and read from it, offsets_for_times, all checked against the RecordMetadata the
  producer (acks=all) was given.

Usage: kafka_python_admin.py BOOTSTRAP PREFIX

Prints one JSON line on stdout: the summary the Rust test (tests/interop.rs) asserts on. Every
check that fails is listed in "errors"; the exit code is 1 when there is any.
"""

import json
import logging
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import KafkaError

PARTITIONS = 3
MESSAGES = 600
KEYS = 40
# Record timestamps: BASE_TS + 10 * sequence number, an hour in the past.
BASE_TS = int(time.time() * 1000) - 3_600_000
DEADLINE_S = 30
# DescribeConfigs sources (KIP-226).
DYNAMIC_TOPIC_CONFIG = 1
DEFAULT_CONFIG = 5


def error_code(call):
    """Runs an admin call; the Kafka error code it failed with, 0 when it succeeded."""
    try:
        call()
        return 0
    except KafkaError as e:
        return getattr(e, "errno", -1)


def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    errors = []
    summary = {"errors": errors}

    def check(ok, what):
        if not ok:
            errors.append(what)
        return ok

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="interop-admin",
                             request_timeout_ms=10_000)
    compacted, grown, data = prefix + "-compacted", prefix + "-grown", prefix + "-data"
    response = admin.create_topics([
        NewTopic(compacted, 2, 1, topic_configs={"cleanup.policy": "compact",
                                                 "retention.ms": "7200000"}),
        NewTopic(grown, 1, 1),
        NewTopic(data, PARTITIONS, 1),
    ], timeout_ms=10_000)
    summary["create_topics_errors"] = sorted(e[1] for e in response.topic_errors)
    summary["refused_creates"] = [
        error_code(lambda t=t: admin.create_topics([t], timeout_ms=10_000)) for t in (
            NewTopic(compacted, 2, 1),                                          # 36 exists
            NewTopic(prefix + "-bad", 1, 1, topic_configs={"retention.ms": "x"}),  # 40
            NewTopic(prefix + "-bad", 1, 1, topic_configs={"no.such": "1"}),     # 40
            NewTopic(prefix + "-bad", 0, 1),                                     # 37
            NewTopic(prefix + "-bad", 1, 3),                                     # 38
        )]

    listed = set(admin.list_topics())
    check({compacted, grown, data} <= listed, "list_topics: %s" % sorted(listed))
    check(prefix + "-bad" not in listed, "a refused topic was created")

    def describe(topic):
        """{name: (value, source)} of a topic's configs, or the error code."""
        resource = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        err, _, _, _, entries = resource[0].resources[0]
        if err:
            return err
        return {e[0]: (e[1], e[3]) for e in entries}

    before = describe(compacted)
    summary["described_configs"] = len(before)
    check(before.get("cleanup.policy") == ("compact", DYNAMIC_TOPIC_CONFIG),
          "cleanup.policy: %s" % (before.get("cleanup.policy"),))
    check(before.get("retention.ms") == ("7200000", DYNAMIC_TOPIC_CONFIG),
          "retention.ms: %s" % (before.get("retention.ms"),))
    check(before.get("segment.bytes") == ("1073741824", DEFAULT_CONFIG),
          "segment.bytes: %s" % (before.get("segment.bytes"),))

    # AlterConfigs sets the topic's whole config: cleanup.policy, not named, reverts.
    altered = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, compacted,
                                                  configs={"retention.ms": "3600000"})])
    summary["alter_configs_errors"] = [r[0] for r in altered.resources]
    after = describe(compacted)
    summary["altered"] = [after.get("retention.ms"), after.get("cleanup.policy")]
    summary["refused_alters"] = [
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, configs=c)]).resources[0][0]
        for t, c in ((compacted, {"retention.ms": "banana"}),                  # 40
                     (prefix + "-missing", {"retention.ms": "1"}))]             # 3
    check(describe(compacted) == after, "a refused alter_configs changed the configs")
    summary["describe_missing"] = describe(prefix + "-missing")                 # 3

    summary["create_partitions"] = [
        error_code(lambda: admin.create_partitions({grown: NewPartitions(3)})),
        error_code(lambda: admin.create_partitions({grown: NewPartitions(2)})),  # 37
    ]
    meta = admin.describe_topics([grown])
    summary["grown_partitions"] = sorted(p["partition"] for p in meta[0]["partitions"])

    summary["delete_topics"] = [
        error_code(lambda: admin.delete_topics([grown], timeout_ms=10_000)),
        error_code(lambda: admin.delete_topics([grown], timeout_ms=10_000)),     # 3
    ]
    listed = set(admin.list_topics())
    check(grown not in listed and data in listed, "list_topics after delete: %s" % sorted(listed))
    admin.close()

    # Produce; the RecordMetadata says where each record went.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             request_timeout_ms=10_000)
    futures = [(seq, producer.send(data, key=b"key-%d" % (seq % KEYS), value=b"value-%d" % seq,
                                   timestamp_ms=BASE_TS + 10 * seq))
               for seq in range(MESSAGES)]
    producer.flush(timeout=20)
    acked = {}  # (partition, offset) -> seq
    for seq, fut in futures:
        md = fut.get(timeout=10)
        acked[(md.partition, md.offset)] = seq
    producer.close(timeout=5)
    summary["produced"] = len(acked)
    ends = {p: 1 + max((o for q, o in acked if q == p), default=-1) for p in range(PARTITIONS)}

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="none",
                             request_timeout_ms=11_000, fetch_max_wait_ms=100)
    tps = [TopicPartition(data, p) for p in range(PARTITIONS)]
    consumer.assign(tps)

    def read(tp, n):
        """The next n records of tp as (offset, seq, timestamp), from its position."""
        out = []
        deadline = time.time() + DEADLINE_S
        while len(out) < n and time.time() < deadline:
            for r in consumer.poll(timeout_ms=500, max_records=n - len(out)).get(tp, []):
                out.append((r.offset, int(r.value.split(b"-")[1]), r.timestamp))
        return out

    consumer.seek_to_end()
    summary["positions_at_end"] = [consumer.position(tp) for tp in tps]
    check(summary["positions_at_end"] == [ends[p] for p in range(PARTITIONS)],
          "positions after seek_to_end: %s, acked ends %s" % (summary["positions_at_end"], ends))
    consumer.seek_to_beginning()
    summary["positions_at_beginning"] = [consumer.position(tp) for tp in tps]

    # Each partition read whole from the beginning, and again from its middle after a seek.
    read_back = 0
    sought = 0
    for tp in tps:
        p = tp.partition
        consumer.pause(*[t for t in tps if t != tp])
        consumer.resume(tp)
        rows = read(tp, ends[p])
        want = [(o, acked[(p, o)], BASE_TS + 10 * acked[(p, o)]) for o in range(ends[p])]
        if check(rows == want, "partition %d read %d records, not the %d acked"
                 % (p, len(rows), len(want))):
            read_back += len(rows)
        check(consumer.position(tp) == ends[p], "position after reading p%d: %s"
              % (p, consumer.position(tp)))
        middle = ends[p] // 2
        consumer.seek(tp, middle)
        check(consumer.position(tp) == middle, "position after seek: %s" % consumer.position(tp))
        rows = read(tp, ends[p] - middle)
        if check(rows == want[middle:], "p%d from offset %d: %s..." % (p, middle, rows[:2])):
            sought += 1
    summary["read_back"] = read_back
    summary["seek_matched"] = sought

    # offsets_for_times: the first record at or after the timestamp of seq MESSAGES / 2.
    middle_ts = BASE_TS + 10 * (MESSAGES // 2)
    found = consumer.offsets_for_times({tp: middle_ts for tp in tps})
    matched = 0
    for tp in tps:
        want = min(((o, BASE_TS + 10 * s) for (p, o), s in acked.items()
                    if p == tp.partition and BASE_TS + 10 * s >= middle_ts), default=None)
        got = found[tp] and (found[tp].offset, found[tp].timestamp)
        if check(got == want, "offsets_for_times(p%d) = %s, expected %s" % (tp.partition, got, want)):
            matched += 1
    # Between two records' timestamps: the later one.
    tp0 = tps[0]
    first_two = sorted(o for p, o in acked if p == 0)[:2]
    between = BASE_TS + 10 * acked[(0, first_two[0])] + 1
    got = consumer.offsets_for_times({tp0: between})[tp0]
    if check(got is not None and got.offset == first_two[1],
             "offsets_for_times between records: %s, expected offset %d" % (got, first_two[1])):
        matched += 1
    got = consumer.offsets_for_times({tp0: BASE_TS + 100 * MESSAGES})[tp0]
    if check(got is None, "offsets_for_times after the last record: %s" % (got,)):
        matched += 1
    summary["offsets_for_times_matched"] = matched
    consumer.close()

    print(json.dumps(summary, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(main())
