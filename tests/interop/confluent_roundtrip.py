"""confluent-kafka (librdkafka 2.x) against a Brook broker.

- AdminClient: CreateTopics with topic configs (and again, refused as TOPIC_ALREADY_EXISTS),
  DescribeConfigs (values and sources), DeleteRecords (to an offset and to the end),
  ListOffsets (earliest, latest, max-timestamp).
- An idempotent producer (InitProducerId, sequence numbers, acks=all) per codec: lz4, zstd,
  gzip, snappy, one topic each (PREFIX-CODEC). Keyed records, some with headers (repeated
  keys, null values), some with null values, explicit create timestamps, values from a few
  bytes to 10 KiB.
- A consumer on assigned partitions (no group, nothing committed): every record comes back
  once, identical (key, value, headers, timestamp) at the partition and offset its delivery
  report gave, each key in the partition librdkafka's partitioner picks (CRC32 of the key).
- Watermarks and offsets_for_times (a middle timestamp, one after the last record).

Usage: confluent_roundtrip.py BOOTSTRAP PREFIX

Prints one JSON line on stdout: the summary the Rust test (tests/interop.rs) asserts on.
Every failed check is listed in "errors"; the exit code is 1 when there is any.
"""

import json
import sys
import time
import zlib

from confluent_kafka import (OFFSET_END, TIMESTAMP_CREATE_TIME, Consumer, KafkaError, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic, OffsetSpec

CODECS = ("lz4", "zstd", "gzip", "snappy")
PARTITIONS = 3
MESSAGES = 3000  # per codec
KEYS = 50
# Record timestamps: BASE_TS + sequence number, an hour in the past.
BASE_TS = int(time.time() * 1000) - 3_600_000
TIMEOUT_S = 30


def record(codec, seq):
    """The (key, value, headers, timestamp) of record `seq` of a codec's topic."""
    key = b"k%d" % (seq % KEYS)
    if seq % 97 == 13:
        value = None
    elif seq % 500 == 7:
        value = bytes(range(256)) * 40  # 10 KiB, larger than many batches
    else:
        value = b"%s-%d-" % (codec.encode(), seq) + b"payload" * (seq % 40)
    headers = []
    if seq % 3:
        headers = [("seq", b"%d" % seq), ("codec", codec.encode())]
    if seq % 5 == 0:
        headers += [("dup", b"1"), ("dup", b"2"), ("null", None), ("empty", b"")]
    return key, value, headers, BASE_TS + seq


def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    errors = []
    summary = {"errors": errors, "codecs": list(CODECS)}

    def check(ok, what):
        if not ok:
            errors.append(what)
        return ok

    topics = ["%s-%s" % (prefix, c) for c in CODECS]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(t, PARTITIONS, 1, config={"retention.ms": "86400000",
                                              "max.message.bytes": "2000000"})
           for t in topics]
    for t, f in admin.create_topics(new, operation_timeout=10).items():
        try:
            f.result(TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            errors.append("create_topics %s: %s" % (t, e))
    try:
        admin.create_topics([NewTopic(topics[0], PARTITIONS, 1)])[topics[0]].result(TIMEOUT_S)
        summary["duplicate_create_error"] = "none"
    except Exception as e:  # noqa: BLE001 - the expected outcome
        code = e.args[0].code() if e.args and isinstance(e.args[0], KafkaError) else None
        summary["duplicate_create_error"] = KafkaError(code).name() if code is not None else str(e)

    res = ConfigResource(ConfigResource.Type.TOPIC, topics[1])
    configs = admin.describe_configs([res])[res].result(TIMEOUT_S)
    for name, value, source in (("retention.ms", "86400000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
                                ("max.message.bytes", "2000000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
                                ("cleanup.policy", "delete", ConfigSource.DEFAULT_CONFIG)):
        entry = configs.get(name)
        got = None if entry is None else (entry.value, entry.source)
        check(got == (value, source.value),
              "describe_configs %s = %s, expected %s" % (name, got, (value, source.value)))
    summary["described_configs"] = len(configs)

    # (topic, partition, offset) -> (codec, seq), from the delivery reports.
    delivered = {}
    summary["delivered"] = []
    for codec, topic in zip(CODECS, topics):
        producer = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "compression.type": codec,
            "linger.ms": 5,
            "batch.size": 16384,
        })
        ok = [0]

        def on_delivery(err, msg, seq, codec=codec, ok=ok):
            if err is not None:
                errors.append("delivery of %s %d: %s" % (codec, seq, err))
                return
            where = (msg.topic(), msg.partition(), msg.offset())
            check(where not in delivered, "%s delivered twice" % (where,))
            delivered[where] = (codec, seq)
            ok[0] += 1

        for seq in range(MESSAGES):
            key, value, headers, ts = record(codec, seq)
            while True:
                try:
                    producer.produce(topic, key=key, value=value, headers=headers, timestamp=ts,
                                     on_delivery=lambda err, msg, seq=seq: on_delivery(err, msg, seq))
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        left = producer.flush(TIMEOUT_S)
        check(left == 0, "%s: %d messages left in the queue" % (codec, left))
        summary["delivered"].append(ok[0])

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "brook-interop-unused",  # required by the client; assign() never joins
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
    })
    consumer.assign([TopicPartition(t, p, 0) for t in topics for p in range(PARTITIONS)])
    consumed = {}
    identical = {c: 0 for c in CODECS}
    key_partitions = {}
    deadline = time.time() + TIMEOUT_S
    while len(consumed) < len(delivered) and time.time() < deadline:
        for msg in consumer.consume(1000, 1):
            if msg.error():
                errors.append("consume: %s" % msg.error())
                continue
            where = (msg.topic(), msg.partition(), msg.offset())
            if not check(where not in consumed, "%s consumed twice" % (where,)):
                continue
            consumed[where] = msg
            if not check(where in delivered, "%s consumed, never delivered" % (where,)):
                continue
            codec, seq = delivered[where]
            key, value, headers, ts = record(codec, seq)
            got = (msg.key(), msg.value(), msg.headers() or [], msg.timestamp())
            want = (key, value, headers, (TIMESTAMP_CREATE_TIME, ts))
            if check(got == want, "%s %d at %s: %r, expected %r" % (codec, seq, where, got, want)):
                identical[codec] += 1
            key_partitions.setdefault((msg.topic(), msg.key()), set()).add(msg.partition())
    # No more fetches: requests on a connection are answered in order, so ListOffsets would
    # wait behind each long-polling Fetch.
    consumer.unassign()
    summary["consumed"] = [sum(1 for (t, _, _) in consumed if t == topic) for topic in topics]
    summary["identical"] = [identical[c] for c in CODECS]
    check(set(consumed) == set(delivered), "consumed %d records, delivered %d"
          % (len(consumed), len(delivered)))
    summary["keys"] = len(key_partitions)
    for (topic, key), parts in key_partitions.items():
        check(parts == {zlib.crc32(key) % PARTITIONS},
              "%s key %r in partitions %s" % (topic, key, parts))

    # Watermarks: [0, records in the partition] everywhere.
    watermarks_ok = 0
    for topic in topics:
        for p in range(PARTITIONS):
            count = sum(1 for (t, q, _) in delivered if (t, q) == (topic, p))
            got = consumer.get_watermark_offsets(TopicPartition(topic, p), 10)
            if check(got == (0, count), "watermarks of %s-%d: %s, expected %s"
                     % (topic, p, got, (0, count))):
                watermarks_ok += 1
    summary["watermarks_ok"] = watermarks_ok

    # offsets_for_times: the first offset at or after a timestamp (timestamps grow with offsets
    # in each partition), -1 (end) after the last record.
    middle = BASE_TS + MESSAGES // 2
    matched = 0
    for topic in topics:
        future = consumer.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 10 * MESSAGES)], 10)
        check(future[0].offset == -1, "offsets_for_times(%s-0, future) = %d" % (topic, future[0].offset))
        asked = [TopicPartition(topic, p, middle) for p in range(PARTITIONS)]
        for tp in consumer.offsets_for_times(asked, 10):
            want = min((o for (t, p, o), (_, s) in delivered.items()
                        if (t, p) == (topic, tp.partition) and BASE_TS + s >= middle), default=-1)
            if check(tp.offset == want, "offsets_for_times(%s-%d) = %d, expected %d"
                     % (topic, tp.partition, tp.offset, want)):
                matched += 1
    summary["offsets_for_times_matched"] = matched

    # ListOffsets through the AdminClient: latest, and max-timestamp (KIP-734), which is the
    # last record of each partition since timestamps grow with sequence numbers.
    topic = topics[1]
    specs = {"latest": OffsetSpec.latest(), "max_timestamp": OffsetSpec.max_timestamp()}
    listed_ok = 0
    for name, spec in specs.items():
        result = admin.list_offsets({TopicPartition(topic, p): spec for p in range(PARTITIONS)})
        for tp, f in result.items():
            offsets = sorted(o for (t, p, o) in delivered if (t, p) == (topic, tp.partition))
            info = f.result(TIMEOUT_S)
            want = offsets[-1] + 1 if name == "latest" else offsets[-1]
            if check(info.offset == want, "list_offsets %s %s-%d: %d, expected %d"
                     % (name, topic, tp.partition, info.offset, want)):
                listed_ok += 1
    summary["list_offsets_ok"] = listed_ok

    # DeleteRecords: partition 0 of the first topic up to offset 10, partition 1 entirely.
    topic = topics[0]
    high1 = consumer.get_watermark_offsets(TopicPartition(topic, 1), 10)[1]
    result = admin.delete_records([TopicPartition(topic, 0, 10), TopicPartition(topic, 1, OFFSET_END)],
                                  operation_timeout=10)
    lows = {tp.partition: f.result(TIMEOUT_S).low_watermark for tp, f in result.items()}
    summary["delete_records_low_watermarks"] = [lows.get(0), lows.get(1)]
    check(lows.get(1) == high1, "delete_records to the end: low %s, high %d" % (lows.get(1), high1))
    earliest = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.earliest() for p in range(2)})
    summary["earliest_after_delete"] = [f.result(TIMEOUT_S).offset
                                        for _, f in sorted(earliest.items(), key=lambda i: i[0].partition)]
    # A consumer that asks for offset 0 now is out of range and resets to the new start.
    consumer.assign([TopicPartition(topic, 0, 0)])
    first = None
    deadline = time.time() + TIMEOUT_S
    while first is None and time.time() < deadline:
        msg = consumer.poll(1)
        if msg is not None and not msg.error():
            first = msg.offset()
    summary["first_offset_after_delete"] = first
    consumer.close()

    print(json.dumps(summary, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
