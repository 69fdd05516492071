"""confluent-kafka writes records that Brook's Rust consumer must read back identically, for
tests/client_interop.rs.

For each CODEC an idempotent producer with compression.type=CODEC sends COUNT records to the
existing topic PREFIX-CODEC: binary (non-UTF-8) keys, some repeated, some null; binary values,
some null, some empty, a few of 64 KiB; headers on most records (repeated names, null and empty
values, binary values); an explicit CreateTime timestamp on every record. Each delivered record
is printed as one JSON line, bytes in hex, with where its delivery report put it:

    {"t": TOPIC, "p": PARTITION, "o": OFFSET, "seq": SEQ, "k": HEX|null, "v": HEX|null,
     "h": [[NAME, HEX|null], ...], "ts": TIMESTAMP}

The last line is a JSON summary {"summary": true, "errors": [...], "delivered": N}; the exit
code is 1 when there is any error.

Usage: client_write.py BOOTSTRAP PREFIX COUNT CODEC...
"""

import json
import sys
import time

from confluent_kafka import Producer

TIMEOUT_S = 30
# Timestamps: BASE_TS + sequence number, a day in the past.
BASE_TS = int(time.time() * 1000) - 86_400_000


def hexed(b):
    return None if b is None else b.hex()


def record(codec_no, seq):
    """(key, value, headers, timestamp) of record `seq`."""
    if seq % 9 == 4:
        key = None
    else:
        key = b"\xffkey\x00" + bytes([seq % 31, 0x80 + codec_no])
    if seq % 17 == 5:
        value = None
    elif seq % 23 == 6:
        value = b""
    elif seq % 101 == 50:
        value = bytes((i * 7 + seq) % 256 for i in range(65536))
    else:
        value = bytes((seq * 13 + i) % 256 for i in range(seq % 300)) + b"\xc3\x28 seq %d" % seq
    headers = []
    if seq % 4:
        headers.append(("seq", b"%d" % seq))
    if seq % 4 == 1:
        headers += [("dup", b"a"), ("null", None), ("dup", b"b"), ("empty", b""),
                    ("bin", bytes([0xfe, 0x00, seq % 256, 0x0a]))]
    return key, value, headers, BASE_TS + seq


def main():
    bootstrap, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    codecs = sys.argv[4:]
    errors = []
    delivered = 0
    for codec_no, codec in enumerate(codecs):
        topic = "%s-%s" % (prefix, codec)
        producer = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "compression.type": codec,
            "linger.ms": 5,
            "batch.size": 16384,
        })
        lines = []

        def on_delivery(err, msg, seq):
            if err is not None:
                errors.append("%s record %d: %s" % (topic, seq, err))
                return
            lines.append((seq, msg.partition(), msg.offset()))

        for seq in range(count):
            key, value, headers, ts = record(codec_no, seq)
            while True:
                try:
                    producer.produce(topic, key=key, value=value, headers=headers, timestamp=ts,
                                     on_delivery=lambda err, msg, seq=seq: on_delivery(err, msg,
                                                                                      seq))
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        left = producer.flush(TIMEOUT_S)
        if left:
            errors.append("%s: %d records not delivered" % (topic, left))
        for seq, partition, offset in lines:
            key, value, headers, ts = record(codec_no, seq)
            print(json.dumps({"t": topic, "p": partition, "o": offset, "seq": seq,
                              "k": hexed(key), "v": hexed(value),
                              "h": [[n, hexed(v)] for n, v in headers], "ts": ts},
                             sort_keys=True))
        delivered += len(lines)
    print(json.dumps({"summary": True, "errors": errors, "delivered": delivered},
                     sort_keys=True))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
