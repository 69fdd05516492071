"""kafka-python against a Brook broker: CreateTopics, keyed Produce (gzip and none, acks=all),
Fetch through assigned partitions (no consumer group), ListOffsets (earliest, latest and by
timestamp).

Usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC

Prints one JSON line on stdout: the summary the Rust test (tests/interop.rs) asserts on. Every
check that fails is listed in "errors"; the exit code is 1 when there is any.
"""

import json
import logging
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.partitioner.default import murmur2

PARTITIONS = 3
MESSAGES = 300
KEYS = 30
# Record timestamps: BASE_TS + sequence number, an hour in the past.
BASE_TS = int(time.time() * 1000) - 3_600_000
DEADLINE_S = 30


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    errors = []
    summary = {"errors": errors}

    def check(ok, what):
        if not ok:
            errors.append(what)

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="interop-admin",
                             request_timeout_ms=10_000)
    summary["api_version"] = ".".join(map(str, admin.config["api_version"]))
    response = admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=10_000)
    summary["create_topics_errors"] = [list(e[:2]) for e in response.topic_errors]
    admin.close()

    # Half the messages gzip-compressed, half not, each through its own producer.
    sent = {}
    for codec, seqs in (("gzip", range(0, MESSAGES // 2)), (None, range(MESSAGES // 2, MESSAGES))):
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                 compression_type=codec, linger_ms=5,
                                 request_timeout_ms=10_000)
        futures = []
        for seq in seqs:
            key = "key-%d" % (seq % KEYS)
            value = "value-%d" % seq
            futures.append((seq, producer.send(topic, key=key.encode(), value=value.encode(),
                                               timestamp_ms=BASE_TS + seq)))
        producer.flush(timeout=20)
        for seq, fut in futures:
            md = fut.get(timeout=10)
            sent[seq] = (md.partition, md.offset)
        producer.close(timeout=5)
    summary["produced"] = len(sent)

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             consumer_timeout_ms=2_000, request_timeout_ms=11_000,
                             fetch_max_wait_ms=100)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    records = []
    deadline = time.time() + DEADLINE_S
    while len(records) < MESSAGES and time.time() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    summary["consumed"] = len(records)

    # Keys, values and timestamps come back as sent, at the offsets the producer was told.
    by_partition = {p: [] for p in range(PARTITIONS)}
    key_partitions = {}
    for r in records:
        seq = int(r.value.decode().split("-")[1])
        by_partition[r.partition].append((r.offset, seq, r.timestamp))
        key_partitions.setdefault(r.key, set()).add(r.partition)
        check(r.key.decode() == "key-%d" % (seq % KEYS), "key of seq %d is %r" % (seq, r.key))
        check(r.timestamp == BASE_TS + seq, "timestamp of seq %d is %d" % (seq, r.timestamp))
        check(sent.get(seq) == (r.partition, r.offset),
              "seq %d consumed at %s, acked at %s" % (seq, (r.partition, r.offset), sent.get(seq)))
    check(sorted(int(r.value.decode().split("-")[1]) for r in records) == list(range(MESSAGES)),
          "consumed sequence numbers are not exactly 0..%d" % MESSAGES)

    # Per partition: offsets 0..n-1 in order, and sequence numbers in the order they were sent.
    summary["partition_counts"] = [len(by_partition[p]) for p in range(PARTITIONS)]
    for p, rows in by_partition.items():
        check([o for o, _, _ in rows] == list(range(len(rows))),
              "partition %d offsets are not 0..%d" % (p, len(rows)))
        seqs = [s for _, s, _ in rows]
        check(seqs == sorted(seqs), "partition %d is out of order" % p)

    # One partition per key, the one the Java client's murmur2 partitioner picks.
    summary["keys"] = len(key_partitions)
    for key, parts in key_partitions.items():
        expected = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
        check(parts == {expected}, "key %r in partitions %s, expected %d" % (key, parts, expected))

    # ListOffsets: earliest, latest, and by timestamp.
    beginning = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    summary["beginning_offsets"] = [beginning[tp] for tp in tps]
    summary["end_offsets"] = [end[tp] for tp in tps]
    check(summary["beginning_offsets"] == [0] * PARTITIONS, "beginning offsets")
    check(summary["end_offsets"] == summary["partition_counts"], "end offsets != counts")
    middle = BASE_TS + MESSAGES // 2
    by_time = consumer.offsets_for_times({tp: middle for tp in tps})
    matched = 0
    for tp in tps:
        rows = by_partition[tp.partition]
        # The first offset whose timestamp is at or after `middle` (timestamps grow with offsets).
        want = next(((o, ts) for o, _, ts in rows if ts >= middle), None)
        got = by_time[tp]
        got = None if got is None else (got.offset, got.timestamp)
        check(got == want, "offsets_for_times(p%d) = %s, expected %s" % (tp.partition, got, want))
        matched += got == want
    summary["offsets_for_times_matched"] = matched
    future = consumer.offsets_for_times({tps[0]: BASE_TS + 10 * MESSAGES})
    check(future[tps[0]] is None, "offsets_for_times after the last record: %s" % future[tps[0]])
    consumer.close()

    print(json.dumps(summary, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(main())
