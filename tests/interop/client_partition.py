"""Produces one record per key with a client whose partitioner is Java's, for
tests/client_interop.rs, which checks that Brook's default partitioner puts every key in the
same partition.

CLIENT is `kafka-python` (its DefaultPartitioner is Java's murmur2: positive hash modulo the
number of partitions) or `confluent-kafka` (librdkafka with partitioner=murmur2_random, the
Java-compatible one). The keys come on stdin, one per line, in hex; record i has value
b"i". The topic must exist (its partition count is what the partitioner divides by).

Prints one JSON line: {"partitions": [PARTITION of key 0, of key 1, ...], "errors": [...]},
each partition as the client's delivery report gave it; the exit code is 1 on any error.

Usage: client_partition.py CLIENT BOOTSTRAP TOPIC < KEYS
"""

import json
import sys

TIMEOUT_S = 30


def with_kafka_python(bootstrap, topic, keys, errors):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             request_timeout_ms=10_000)
    futures = [producer.send(topic, key=key, value=b"%d" % i) for i, key in enumerate(keys)]
    producer.flush(timeout=TIMEOUT_S)
    partitions = []
    for i, fut in enumerate(futures):
        try:
            partitions.append(fut.get(timeout=TIMEOUT_S).partition)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            errors.append("key %d: %s" % (i, e))
            partitions.append(None)
    producer.close(timeout=5)
    return partitions


def with_confluent_kafka(bootstrap, topic, keys, errors):
    from confluent_kafka import Producer

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "linger.ms": 5,
    })
    partitions = [None] * len(keys)

    def on_delivery(err, msg, i):
        if err is not None:
            errors.append("key %d: %s" % (i, err))
        else:
            partitions[i] = msg.partition()

    for i, key in enumerate(keys):
        while True:
            try:
                producer.produce(topic, key=key, value=b"%d" % i,
                                 on_delivery=lambda err, msg, i=i: on_delivery(err, msg, i))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(TIMEOUT_S)
    if left:
        errors.append("%d records not delivered" % left)
    return partitions


def main():
    client, bootstrap, topic = sys.argv[1:4]
    keys = [bytes.fromhex(line.strip()) for line in sys.stdin if line.strip() != ""]
    errors = []
    if client == "kafka-python":
        partitions = with_kafka_python(bootstrap, topic, keys, errors)
    elif client == "confluent-kafka":
        partitions = with_confluent_kafka(bootstrap, topic, keys, errors)
    else:
        raise SystemExit("CLIENT must be kafka-python or confluent-kafka")
    print(json.dumps({"partitions": partitions, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
