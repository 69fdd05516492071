"""confluent-kafka reads every record of a topic, for tests/client_interop.rs, which compares
what it saw with what Brook's Rust producer sent.

An assign()ed consumer (no group, nothing committed) reads each partition from offset 0 up
to its high watermark, taken before the read. Every record is printed as one JSON line, in
the order the client delivered it, with bytes as hex so that nothing is lost:

    {"p": PARTITION, "o": OFFSET, "k": HEX|null, "v": HEX|null,
     "h": [[NAME, HEX|null], ...], "ts": TIMESTAMP, "tstype": TYPE}

(TYPE is librdkafka's: 1 CreateTime, 2 LogAppendTime). The last line is a JSON summary
{"summary": true, "errors": [...], "read": N, "watermarks": [[LOW, HIGH], ...]}; the exit code
is 1 when there is any error.

Usage: client_read.py BOOTSTRAP TOPIC PARTITIONS
"""

import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition

TIMEOUT_S = 30


def hexed(b):
    return None if b is None else b.hex()


def main():
    bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
    errors = []
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "brook-client-interop-unused",  # required by the client; assign() never joins
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
    })
    # Watermarks before the assignment: requests on a connection are answered in order, so a
    # ListOffsets would wait behind each long-polling Fetch.
    watermarks = [consumer.get_watermark_offsets(TopicPartition(topic, p), TIMEOUT_S)
                  for p in range(partitions)]
    ends = {p: high for p, (_, high) in enumerate(watermarks)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    next_offset = {p: 0 for p in range(partitions)}
    read = 0
    deadline = time.time() + TIMEOUT_S
    while any(next_offset[p] < ends[p] for p in ends) and time.time() < deadline:
        for msg in consumer.consume(1000, 1):
            if msg.error():
                errors.append("consume: %s" % msg.error())
                continue
            p, o = msg.partition(), msg.offset()
            if o != next_offset[p]:
                errors.append("partition %d: offset %d after %d" % (p, o, next_offset[p] - 1))
            next_offset[p] = o + 1
            tstype, ts = msg.timestamp()
            print(json.dumps({
                "p": p,
                "o": o,
                "k": hexed(msg.key()),
                "v": hexed(msg.value()),
                "h": [[name, hexed(value)] for name, value in (msg.headers() or [])],
                "ts": ts,
                "tstype": tstype,
            }, sort_keys=True))
            read += 1
    for p in ends:
        if next_offset[p] < ends[p]:
            errors.append("partition %d: read up to %d of %d within %d s"
                          % (p, next_offset[p], ends[p], TIMEOUT_S))
    consumer.close()
    print(json.dumps({"summary": True, "errors": errors, "read": read,
                      "watermarks": [list(w) for w in watermarks]}, sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
