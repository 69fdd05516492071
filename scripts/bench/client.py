#!/usr/bin/env python3
"""Brook's Rust client against librdkafka (confluent-kafka) on the same broker, in one run.
A benchmark program, not a test: it prints figures and ratios, and fails only if records go
missing or a client reports an error.

Usage:

    cargo build --release -p brook        # this script builds nothing
    python3 scripts/bench/client.py $CARGO_TARGET_DIR/release/brook \\
        [--mib 1024] [--partitions 1,16] [--producers 1] [--consumers 1] \\
        [--linger-ms 5] [--e2e-mbs 50] [--e2e-seconds 10] [--e2e-warmup 2] \\
        [--e2e-linger-ms 0] \\
        [--no-warmup] [--no-confluent] [--tmp-dir DIR] [--perf OUTDIR] [--json]

The workloads are those of the client benchmark target: 1 KiB records (no key; each value
half random bytes, half compressible text), to one topic of 1 and of 16 partitions (each
--partitions count), acks=1, batch.size 1 MiB, linger.ms --linger-ms, at the maximum rate;
then end to end at --e2e-mbs MB/s (1 MB = 10^6 bytes of record values).

What it does, in one run:

1. Starts `brook server --listen 127.0.0.1:0 --data-dir <tmp>/data` (as broker.py does: a
   fresh temporary directory under --tmp-dir, a free port).
2. Unless --no-warmup, produces --mib MiB once to a topic that is then deleted: on this kind
   of VM the first touch of fresh memory is several times slower (see broker.py), and that
   should not fall on whichever client happens to run first.
3. For each partition count: `brook perf produce` of --mib MiB (--producers producers in
   one process) and `brook perf consume` of it all (--consumers; assign mode, from the
   beginning); then the same with confluent-kafka (--producers producer processes,
   --consumers consumer processes) on a topic of its own. Each producing phase starts right
   after the topic written before it is deleted, so that every client mostly recycles
   page-cache pages rather than touching fresh memory, and once the broker is idle.
4. For each partition count: `brook perf e2e --rate R` and the same with confluent-kafka
   (one producer process pacing records on a schedule, each value stamped with its intended
   send time from CLOCK_MONOTONIC in its first 8 bytes; one consumer process recording
   receive time minus stamp), R = --e2e-mbs MB/s of 1 KiB records, linger.ms
   --e2e-linger-ms, for --e2e-seconds after --e2e-warmup seconds whose records are sent and
   read but not measured (the first seconds after a topic deletion show page-reclaim
   stalls on this kind of VM).
   Latency is corrected for coordinated omission in both (it runs from the intended send
   time on the schedule, not from when the record was actually handed to the client).
5. Prints every figure, the ratio brook/confluent (above 1 is better for Brook for MB/s,
   below 1 for latency), the targets (produce >= 1000 MB/s, consume >= 1200 MB/s,
   end-to-end p99 <= 2 ms), the loopback TCP baseline `brook perf` measured in the same
   run and where the CPU went (client and broker CPU seconds per phase).

Equivalent settings (each the other's name for the same thing): acks=1; batch.size
1048576; linger.ms; Brook's max.request.size and librdkafka's message.max.bytes 8 MiB (the
most one request may carry); Brook's buffer.memory and librdkafka's
queue.buffering.max.kbytes 256 MiB; idempotence off; compression none. Consumers:
fetch.max.bytes 16 MiB, max.partition.fetch.bytes 4 MiB, fetch.max.wait.ms (librdkafka:
fetch.wait.max.ms) 100, and 10000 records per poll (Brook's max.poll.records, the
num_messages of confluent-kafka's consume()). Both clients' processes get the same
GLIBC_TUNABLES as broker.py's clients.

--no-confluent runs only the Brook side. --perf OUTDIR records a profile of each `brook perf`
client process (`perf record -e cpu-clock -F 999 -g`) into OUTDIR/<phase>.data and prints
its top symbols. --json also prints all figures as one JSON line at the end.
"""

import argparse
import gc
import json
import multiprocessing as mp
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker import CLIENT_MALLOC, Server, values_pool, perf_top  # noqa: E402

RECORD = 1024
MIB = 1 << 20
TARGETS = {"produce_mbs": 1000.0, "consume_mbs": 1200.0, "e2e_p99_ms": 2.0}


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------------------------
# Brook: `brook perf`


def brook_perf(binary, server, args, perf_out=None):
    """Runs `brook perf ARGS --json`; returns its figures plus client and broker CPU s."""
    cmd = [binary, "perf", *args, "--bootstrap-server", server.addr, "--no-progress", "--json"]
    if perf_out:
        cmd = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-o", perf_out,
               "--", *cmd]
    cpu0, broker0 = children_cpu(), server.cpu_seconds()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    cpu1, broker1 = children_cpu(), server.cpu_seconds()
    line = next((l for l in reversed(p.stdout.splitlines()) if l.startswith("{")), None)
    figures = json.loads(line) if line else {}
    figures["client_cpu_s"] = cpu1 - cpu0
    figures["broker_cpu_s"] = broker1 - broker0
    figures["errors"] = [] if p.returncode == 0 else [
        f"brook perf {args[0]} exited {p.returncode}: {p.stderr.strip()[-500:]}"]
    return figures


# ----------------------------------------------------------------------------------------
# confluent-kafka (client processes started with `spawn`, as in broker.py)


def producer_config(bootstrap, linger_ms):
    return {
        "bootstrap.servers": bootstrap,
        "acks": 1,
        "compression.type": "none",
        "linger.ms": linger_ms,
        "batch.size": 1 << 20,
        "batch.num.messages": 1000000,
        "message.max.bytes": 8 << 20,
        "queue.buffering.max.kbytes": 256 * 1024,
        "queue.buffering.max.messages": 2000000,
        "enable.idempotence": False,
        "log_level": 3,
    }


CONSUMER_CONFIG = {
    "group.id": "brook-client-bench-unused",  # required by librdkafka; no group API is used
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
    "fetch.max.bytes": 16 << 20,
    "max.partition.fetch.bytes": 4 << 20,
    "fetch.wait.max.ms": 100,
    "queued.max.messages.kbytes": 256 * 1024,
    "queued.min.messages": 1000000,
    "receive.message.max.bytes": 128 << 20,
    "log_level": 3,
}


def ck_produce_worker(bootstrap, topic, count, linger_ms, barrier, results):
    from confluent_kafka import KafkaException, Producer

    errors = []
    acked = [0]

    def on_delivery(err, _msg):
        if err is not None:
            if len(errors) < 10:
                errors.append(str(err))
        else:
            acked[0] += 1

    config = producer_config(bootstrap, linger_ms)
    config["on_delivery"] = on_delivery
    p = Producer(config)
    p.list_topics(topic, timeout=30)
    values = values_pool()
    mask = len(values) - 1
    produce, poll = p.produce, p.poll
    barrier.wait()
    t0 = time.perf_counter()
    try:
        for i in range(count):
            v = values[i & mask]
            while True:
                try:
                    produce(topic, v)
                    break
                except BufferError:
                    poll(0.0005)
            if i & 1023 == 0:
                poll(0)
        left = p.flush(300)
        if left:
            errors.append(f"{left} messages not delivered")
    except KafkaException as e:
        errors.append(str(e))
    t1 = time.perf_counter()
    results.put({"start": t0, "end": t1, "records": acked[0], "errors": errors})


def ck_consume_worker(bootstrap, topic, parts, want, barrier, results):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

    gc.disable()
    c = Consumer(dict(CONSUMER_CONFIG, **{"bootstrap.servers": bootstrap}))
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    errors, got = [], 0
    barrier.wait()
    t0 = last = time.perf_counter()
    end = t0
    while got < want:
        msgs = c.consume(num_messages=10000, timeout=0.5)
        now = time.perf_counter()
        if not msgs:
            if now - last > 30:
                errors.append(f"no progress for 30 s at {got}/{want} records")
                break
            continue
        last = end = now
        for m in msgs:
            if m.error() is not None:
                errors.append(str(m.error()))
            else:
                got += 1
        if len(errors) > 10:
            break
    c.close()
    results.put({"start": t0, "end": end, "records": got, "errors": errors[:10]})


def ck_e2e_producer(bootstrap, topic, rate, seconds, warmup, linger_ms, barrier, results):
    from confluent_kafka import Producer

    errors = []

    def on_delivery(err, _msg):
        if err is not None and len(errors) < 10:
            errors.append(str(err))

    config = producer_config(bootstrap, linger_ms)
    config["on_delivery"] = on_delivery
    p = Producer(config)
    p.list_topics(topic, timeout=30)
    values = [v[16:] for v in values_pool()]
    mask = len(values) - 1
    produce, poll, now_ns = p.produce, p.poll, time.monotonic_ns
    pack = struct.Struct("<QQ").pack  # intended send time, record number
    barrier.wait()  # the consumer is in place
    interval = 1e9 / rate
    start = now_ns()
    total = int(rate * (warmup + seconds))
    i = 0
    while i < total:
        now = now_ns()
        due = min(total, int((now - start) / interval) + 1)
        while i < due:
            intended = start + int(i * interval)
            produce(topic, pack(intended, i) + values[i & mask])
            i += 1
        poll(0)
        wait = start + i * interval - now_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
    left = p.flush(60)
    if left:
        errors.append(f"{left} messages not delivered")
    results.put({"records": total, "errors": errors, "seconds": (now_ns() - start) / 1e9})


def ck_e2e_consumer(bootstrap, topic, parts, want, skip, ready, results):
    """Reads `want` records; the latency of those numbered below `skip` (the warm-up) is
    not recorded."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_END

    gc.disable()
    c = Consumer(dict(CONSUMER_CONFIG, **{"bootstrap.servers": bootstrap}))
    c.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
    # Wait until the assignment has positions (the first fetches are out).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        c.poll(0.1)
        pos = c.position([TopicPartition(topic, p) for p in parts])
        if all(tp.offset >= 0 for tp in pos):
            break
    ready.wait()
    lat, errors, got = [], [], 0
    poll, now_ns, unpack = c.poll, time.monotonic_ns, struct.Struct("<QQ").unpack_from
    last = time.monotonic()
    while got < want:
        m = poll(0.1)
        if m is None:
            if time.monotonic() - last > 30:
                errors.append(f"no progress for 30 s at {got}/{want} records")
                break
            continue
        if m.error() is not None:
            errors.append(str(m.error()))
            continue
        now = now_ns()
        stamp, number = unpack(m.value())
        got += 1
        if number >= skip:
            lat.append(now - stamp)
        last = time.monotonic()
    c.close()
    lat.sort()
    results.put({"latencies_ms": summarize(lat), "records": len(lat), "errors": errors[:10]})


def summarize(sorted_ns):
    if not sorted_ns:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    n = len(sorted_ns)

    def q(x):
        return sorted_ns[min(n - 1, int(x * n))] / 1e6

    return {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": sorted_ns[-1] / 1e6}


def settle(server, limit=15.0):
    """Waits (up to `limit` s) until the broker is idle: under 5% of a core for 0.5 s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        c0 = server.cpu_seconds()
        time.sleep(0.5)
        if server.cpu_seconds() - c0 < 0.025:
            return


def run_procs(ctx, server, jobs):
    """jobs: [(target, args)]; all released together by one barrier once connected.
    Returns their results, the client CPU s and the broker CPU s."""
    barrier = ctx.Barrier(len(jobs) + 1)
    results = ctx.Queue()
    cpu0 = children_cpu()
    procs = [ctx.Process(target=t, args=(*a, barrier, results)) for t, a in jobs]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=120)
        broker0 = server.cpu_seconds()
        out = [results.get(timeout=1800) for _ in procs]
        broker1 = server.cpu_seconds()
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
    return out, children_cpu() - cpu0, broker1 - broker0


def ck_throughput(ctx, server, target, jobs):
    out, client_cpu, broker_cpu = run_procs(ctx, server, [(target, j) for j in jobs])
    wall = max(r["end"] for r in out) - min(r["start"] for r in out)
    records = sum(r["records"] for r in out)
    return {"mbs": records * RECORD / wall / 1e6 if wall > 0 else 0.0, "records": records,
            "seconds": wall, "client_cpu_s": client_cpu, "broker_cpu_s": broker_cpu,
            "errors": [e for r in out for e in r["errors"]]}


def ck_e2e(ctx, server, topic, nparts, rate, seconds, warmup, linger_ms):
    total, skip = int(rate * (warmup + seconds)), int(rate * warmup)
    out, client_cpu, broker_cpu = run_procs(ctx, server, [
        (ck_e2e_consumer, (server.addr, topic, list(range(nparts)), total, skip)),
        (ck_e2e_producer, (server.addr, topic, rate, seconds, warmup, linger_ms)),
    ])
    cons = next(r for r in out if "latencies_ms" in r)
    return {"p50_ms": cons["latencies_ms"]["p50"], "p99_ms": cons["latencies_ms"]["p99"],
            "p999_ms": cons["latencies_ms"]["p999"], "max_ms": cons["latencies_ms"]["max"],
            "records": cons["records"], "client_cpu_s": client_cpu, "broker_cpu_s": broker_cpu,
            "errors": [e for r in out for e in r["errors"]]}


# ----------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("brook", help="path of a release `brook` binary")
    ap.add_argument("--mib", type=int, default=1024, help="MiB produced per topic (default 1024)")
    ap.add_argument("--partitions", default="1,16", help="comma-separated partition counts")
    ap.add_argument("--producers", type=int, default=1, help="producers of each client")
    ap.add_argument("--consumers", type=int, default=1, help="consumers of each client")
    ap.add_argument("--linger-ms", type=int, default=5, help="linger.ms of the throughput runs")
    ap.add_argument("--e2e-mbs", type=float, default=50.0, help="end-to-end rate in MB/s")
    ap.add_argument("--e2e-seconds", type=float, default=10.0, help="length of each e2e run")
    ap.add_argument("--e2e-linger-ms", type=int, default=0, help="linger.ms of the e2e runs")
    ap.add_argument("--e2e-warmup", type=float, default=2.0,
                    help="seconds of each e2e run before latencies are recorded")
    ap.add_argument("--no-warmup", action="store_true", help="skip the warm-up produce")
    ap.add_argument("--no-confluent", action="store_true", help="only run brook perf")
    ap.add_argument("--tmp-dir", default=None, help="where the data directory goes")
    ap.add_argument("--perf", metavar="OUTDIR", help="perf record each brook perf process")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args()

    from confluent_kafka import libversion
    from confluent_kafka.admin import AdminClient, NewTopic

    os.environ["GLIBC_TUNABLES"] = CLIENT_MALLOC  # the broker got its env in broker.py
    ctx = mp.get_context("spawn")
    tmp = tempfile.mkdtemp(prefix="brook-client-bench-", dir=args.tmp_dir)
    if args.perf:
        os.makedirs(args.perf, exist_ok=True)
    count = args.mib * MIB // RECORD
    rate = args.e2e_mbs * 1e6 / RECORD
    counts = [int(x) for x in args.partitions.split(",")]
    report = {"mib": args.mib, "record_bytes": RECORD, "cores": os.cpu_count(),
              "librdkafka": libversion()[0], "producers": args.producers,
              "consumers": args.consumers, "rounds": []}
    server = admin = None
    failed = False

    producer_flags = ["--message-size", str(RECORD), "--random-fraction", "0.5",
                      "--producers", str(args.producers)]
    for kv in ("acks=1", f"batch.size={1 << 20}", f"max.request.size={8 << 20}",
               f"buffer.memory={256 << 20}", "compression.type=none"):
        producer_flags += ["--producer-config", kv]
    consumer_flags = ["--consumers", str(args.consumers)]
    for kv in (f"fetch.max.bytes={16 << 20}", f"max.partition.fetch.bytes={4 << 20}",
               "fetch.max.wait.ms=100", "max.poll.records=10000"):
        consumer_flags += ["--consumer-config", kv]

    def perf_path(name):
        return os.path.join(args.perf, f"{name}.data") if args.perf else None

    def create(name, nparts):
        for f in admin.create_topics([NewTopic(name, nparts, 1)]).values():
            f.result(30)

    def delete(*names):
        for f in admin.delete_topics(list(names)).values():
            f.result(30)

    def row(label, brook, ck, unit, target, higher_is_better=True):
        ratio = (brook / ck) if ck else float("nan")
        ok = (brook >= target) if higher_is_better else (brook <= target)
        ck_txt = f"{ck:10.2f}" if ck is not None else f"{'-':>10}"
        ratio_txt = f"{ratio:8.2f}" if ck else f"{'-':>8}"
        print(f"  {label:<28} brook {brook:10.2f} {unit:<4}  confluent {ck_txt} {unit:<4}  "
              f"brook/confluent {ratio_txt}  target {'<=' if not higher_is_better else '>='} "
              f"{target:g} {unit}: {'met' if ok else 'NOT met'}")

    try:
        server = Server(args.brook, os.path.join(tmp, "data"), [])
        admin = AdminClient({"bootstrap.servers": server.addr, "log_level": 3})
        print(f"broker: pid {server.pid} on {server.addr}; librdkafka {libversion()[0]}; "
              f"{os.cpu_count()} cores; {args.mib} MiB of {RECORD}-byte records per topic; "
              f"{args.producers} producer(s), {args.consumers} consumer(s) per client")

        # Each producing phase starts right after the topic written before it is deleted, so
        # that it mostly recycles that topic's page-cache pages instead of touching fresh
        # memory (see broker.py), whichever client it is; then the broker settles.
        pending = []

        def recycle():
            if pending:
                delete(*pending)
                pending.clear()
            settle(server)

        if not args.no_warmup:
            w = brook_perf(args.brook, server, ["produce", "--topic", "warmup", "--partitions",
                                                str(counts[0]), "--num-records", str(count),
                                                "--baseline", "none", *producer_flags,
                                                "--producer-config",
                                                f"linger.ms={args.linger_ms}"])
            pending.append("warmup")
            print(f"warm-up: brook produce {w.get('produce_mb_per_s', 0):.1f} MB/s "
                  f"(fresh memory; not a figure)")

        for nparts in counts:
            rnd = {"partitions": nparts}
            bt, ct = f"brook-{nparts}p", f"confluent-{nparts}p"
            linger = ["--producer-config", f"linger.ms={args.linger_ms}"]
            recycle()
            rnd["brook_produce"] = brook_perf(
                args.brook, server, ["produce", "--topic", bt, "--partitions", str(nparts),
                                     "--num-records", str(count), *producer_flags, *linger],
                perf_path(f"produce-{nparts}p"))
            rnd["brook_consume"] = brook_perf(
                args.brook, server, ["consume", "--topic", bt, *consumer_flags],
                perf_path(f"consume-{nparts}p"))
            pending.append(bt)
            if not args.no_confluent:
                create(ct, nparts)
                recycle()
                shares = [count * (w + 1) // args.producers - count * w // args.producers
                          for w in range(args.producers)]
                rnd["confluent_produce"] = ck_throughput(
                    ctx, server, ck_produce_worker,
                    [(server.addr, ct, n, args.linger_ms) for n in shares])
                parts = [list(range(w, nparts, args.consumers)) for w in range(args.consumers)]
                parts = [p for p in parts if p]
                # Each consumer reads its partitions to the end: count them by watermarks.
                from confluent_kafka import Consumer, TopicPartition
                probe = Consumer(dict(CONSUMER_CONFIG, **{"bootstrap.servers": server.addr}))
                ends = [probe.get_watermark_offsets(TopicPartition(ct, p), timeout=30)[1]
                        for p in range(nparts)]
                probe.close()
                jobs = [(server.addr, ct, ps, sum(ends[p] for p in ps)) for ps in parts]
                rnd["confluent_consume"] = ck_throughput(ctx, server, ck_consume_worker, jobs)
                pending.append(ct)
            report["rounds"].append(rnd)

        # One producer end to end, as on the confluent side.
        i = producer_flags.index("--producers")
        e2e_flags = producer_flags[:i] + ["--producers", "1"] + producer_flags[i + 2:]
        for rnd in report["rounds"]:
            nparts = rnd["partitions"]
            bt, ct = f"brook-e2e-{nparts}p", f"confluent-e2e-{nparts}p"
            recycle()
            rnd["brook_e2e"] = brook_perf(args.brook, server, [
                "e2e", "--topic", bt, "--partitions", str(nparts), "--rate", f"{rate:.0f}",
                "--duration", str(args.e2e_seconds), "--warmup", str(args.e2e_warmup),
                *e2e_flags, "--producer-config",
                f"linger.ms={args.e2e_linger_ms}", "--consumer-config", "fetch.max.wait.ms=100",
                "--consumer-config", "max.poll.records=10000"], perf_path(f"e2e-{nparts}p"))
            pending.append(bt)
            if not args.no_confluent:
                create(ct, nparts)
                recycle()
                rnd["confluent_e2e"] = ck_e2e(ctx, server, ct, nparts, rate, args.e2e_seconds,
                                              args.e2e_warmup, args.e2e_linger_ms)
                pending.append(ct)
        if pending:
            delete(*pending)

        # ---- the figures
        baseline = None
        print()
        for rnd in report["rounds"]:
            nparts = rnd["partitions"]
            bp, bc, be = rnd["brook_produce"], rnd["brook_consume"], rnd["brook_e2e"]
            cp, cc, ce = (rnd.get("confluent_produce"), rnd.get("confluent_consume"),
                          rnd.get("confluent_e2e"))
            baseline = bp.get("loopback_mb_per_s", baseline)
            print(f"{nparts} partition{'s' if nparts > 1 else ''}:")
            row("produce MB/s", bp.get("produce_mb_per_s", 0.0), cp and cp["mbs"], "MB/s",
                TARGETS["produce_mbs"])
            row("consume MB/s", bc.get("consume_mb_per_s", 0.0), cc and cc["mbs"], "MB/s",
                TARGETS["consume_mbs"])
            row(f"e2e p99 at {args.e2e_mbs:g} MB/s", be.get("e2e_latency_p99_ms", 0.0),
                ce and ce["p99_ms"], "ms", TARGETS["e2e_p99_ms"], higher_is_better=False)
            print(f"  {'produce latency (brook)':<28} p50 {bp.get('produce_latency_p50_ms', 0):.2f}"
                  f"  p99 {bp.get('produce_latency_p99_ms', 0):.2f}"
                  f"  p99.9 {bp.get('produce_latency_p999_ms', 0):.2f}"
                  f"  max {bp.get('produce_latency_max_ms', 0):.2f} ms")
            print(f"  {'e2e latency (brook)':<28} p50 {be.get('e2e_latency_p50_ms', 0):.3f}"
                  f"  p99 {be.get('e2e_latency_p99_ms', 0):.3f}"
                  f"  p99.9 {be.get('e2e_latency_p999_ms', 0):.3f}"
                  f"  max {be.get('e2e_latency_max_ms', 0):.3f} ms"
                  f"  ({be.get('e2e_records', 0)} records at "
                  f"{be.get('produce_msgs_per_s', 0):.0f} msg/s)")
            if ce:
                print(f"  {'e2e latency (confluent)':<28} p50 {ce['p50_ms']:.3f}"
                      f"  p99 {ce['p99_ms']:.3f}  p99.9 {ce['p999_ms']:.3f}"
                      f"  max {ce['max_ms']:.3f} ms  ({ce['records']} records)")
            for name, b, c in (("produce", bp, cp), ("consume", bc, cc), ("e2e", be, ce)):
                line = (f"  {'CPU s, ' + name:<28} brook client {b['client_cpu_s']:.2f} + broker "
                        f"{b['broker_cpu_s']:.2f}")
                if c:
                    line += (f";  confluent client {c['client_cpu_s']:.2f} + broker "
                             f"{c['broker_cpu_s']:.2f}")
                print(line)
            if "produce_mb_per_s_vs_loopback" in bp:
                print(f"  {'vs loopback TCP':<28} produce {bp['produce_mb_per_s_vs_loopback']:.3f}"
                      f"x, consume {bc.get('consume_mb_per_s_vs_loopback', 0):.3f}x")
            for phase in (bp, cp, bc, cc, be, ce):
                for e in (phase or {}).get("errors", [])[:5]:
                    failed = True
                    print(f"  ERROR: {e}")
            if bp.get("produce_records") != count or bc.get("consume_records") != count:
                failed = True
                print(f"  ERROR: brook produced {bp.get('produce_records')} and consumed "
                      f"{bc.get('consume_records')} of {count} records")
            if cc and cc["records"] != count:
                failed = True
                print(f"  ERROR: confluent consumed {cc['records']} of {count} records")
        if baseline:
            print(f"\nloopback TCP copy (measured by brook perf in the same run): "
                  f"{baseline:.1f} MB/s")
        if args.perf:
            for name in sorted(os.listdir(args.perf)):
                if name.endswith(".data"):
                    print(f"\n--- perf: brook perf {name[:-5]} (client process, cpu-clock, "
                          f"self time) ---")
                    print(perf_top(os.path.join(args.perf, name)))
        if args.json:
            print(json.dumps(report))
    finally:
        del admin
        if server is not None:
            rc = server.stop()
            if rc not in (0, None):
                print(f"broker exited with {rc}; last log lines:\n" + "\n".join(server.lines[-20:]))
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
