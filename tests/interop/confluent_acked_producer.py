"""A confluent-kafka producer that streams numbered records and writes down each one the broker
acknowledged, for the crash tests in tests/interop.rs (which kill the broker under it).

Record `seq` has key b"k<seq % KEYS>" and value b"seq-<seq>". For every successful delivery
report the line "<seq> <partition> <offset>" is appended to ACKED_FILE and flushed at once,
so the file survives the script being killed; failed deliveries go to stderr.

MODE is `idempotent` (enable.idempotence=true, which librdkafka pairs with acks=all, the same
as acks=1 on a one-broker cluster) or `acks1` (acks=1, not idempotent). COUNT records are sent
at about RATE a second (0: as fast as the client takes them); then the script waits for the
outstanding deliveries and prints one JSON summary line.

Usage: confluent_acked_producer.py BOOTSTRAP TOPIC ACKED_FILE MODE COUNT RATE [SOCKET_TIMEOUT_MS]

A short SOCKET_TIMEOUT_MS makes the client give up on requests a stalled broker still holds,
reconnect and send those batches again, with their sequence numbers, after the broker may
have appended them: the duplicates an idempotent broker must recognise.
"""

import json
import os
import sys
import time

from confluent_kafka import Producer

KEYS = 20


def main():
    bootstrap, topic, acked_file, mode, count, rate = sys.argv[1:7]
    count, rate = int(count), float(rate)
    socket_timeout_ms = int(sys.argv[7]) if len(sys.argv) > 7 else 60_000
    config = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 2,
        # Small batches: many produce requests in flight when the broker dies.
        "batch.size": 2048,
        "message.timeout.ms": 40_000,
        "socket.timeout.ms": socket_timeout_ms,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
    }
    if "PRODUCER_DEBUG" in os.environ:
        config["debug"] = os.environ["PRODUCER_DEBUG"]
    if mode == "idempotent":
        config["enable.idempotence"] = True
    elif mode == "acks1":
        config["acks"] = 1
    else:
        raise SystemExit("MODE must be idempotent or acks1")
    producer = Producer(config)
    acked = open(acked_file, "a", encoding="ascii")
    state = {"acked": 0, "failed": 0, "errors": []}

    def on_delivery(err, msg):
        if err is not None:
            state["failed"] += 1
            if len(state["errors"]) < 20:
                state["errors"].append("%s: %s" % (msg.value().decode(), err))
            print("failed %s: %s" % (msg.value().decode(), err), file=sys.stderr, flush=True)
            return
        seq = int(msg.value().split(b"-")[1])
        acked.write("%d %d %d\n" % (seq, msg.partition(), msg.offset()))
        acked.flush()
        state["acked"] += 1

    start = time.time()
    for seq in range(count):
        if rate > 0:
            ahead = start + seq / rate - time.time()
            if ahead > 0:
                producer.poll(ahead)
        while True:
            try:
                producer.produce(topic, key=b"k%d" % (seq % KEYS), value=b"seq-%d" % seq,
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(60)
    acked.close()
    print(json.dumps({"mode": mode, "produced": count, "acked": state["acked"],
                      "failed": state["failed"], "left": left, "errors": state["errors"]},
                     sort_keys=True))
    return 0 if state["acked"] == count and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
