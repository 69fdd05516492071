#!/usr/bin/env python3
"""End-to-end throughput of a Brook broker driven by a real Kafka client (confluent-kafka,
which bundles librdkafka). A benchmark program, not a test: it prints figures and fails
only if records go missing or a client reports an error.

Usage:

    cargo build --release            # this script builds nothing
    python3 scripts/bench/broker.py $CARGO_TARGET_DIR/release/brook \\
        [--mib 2048] [--partitions 1,16] [--producers 2] [--consumers 2] [--no-warmup] \\
        [--tmp-dir DIR] [--perf OUTDIR [--perf-all]] [--set KEY=VALUE ...] \\
        [--producer-conf KEY=VALUE ...] [--consumer-conf KEY=VALUE ...] [--json]

What it does, in one run:

1. Measures a raw sequential disk write of the same volume (--mib) in a fresh temporary
   directory (under --tmp-dir): `write()` of 1 MiB chunks WITHOUT fsync, because the broker
   does not fsync per write by default either (Kafka's `flush.messages`/`flush.ms` are
   off); the fsync that follows is timed and printed for information only. Three runs:
   the first writes to fresh memory (see "fresh memory" below), the baseline for the
   ratios is the median.
2. Starts `brook server --listen 127.0.0.1:0 --data-dir <tmp>/data` (the address is taken
   from the `kafka_listener=ADDR` log line).
3. For each partition count in --partitions (after one warm-up round with the first count,
   unless --no-warmup): creates the topic, produces --mib MiB of 1 KiB records (no key; each
   value half random bytes, half compressible text) with --producers client processes
   (acks=1, compression none, batch.size 1 MiB, linger.ms 20; each process owns a share of
   the partitions, or, with fewer partitions than processes, several append to one),
   waits for every delivery, checks the log end offsets, then consumes everything with
   --consumers client processes that use assign() with explicit partitions and start
   offsets (no consumer group: group.id is set because librdkafka requires it, but nothing
   uses it). With fewer partitions than consumers a partition is split into offset ranges,
   so every record is still consumed exactly once. The topic of the previous round is
   deleted just before producing starts.
4. Prints produce and consume MB/s (1 MB = 10^6 bytes of record values), their ratio to
   the raw write, and where the CPU went: broker CPU (utime+stime of all its threads, from
   /proc/<pid>/stat) and client CPU (os.times() of each client process), in cores (CPU
   seconds per wall second; the machine has os.cpu_count() of them).

Client tuning (defaults; override with --producer-conf / --consumer-conf): producers
queue up to 256 MiB and report only failed deliveries; consumers fetch up to 16 MiB per
request and 4 MiB per partition, take 10000 messages per consume() call (--consume-batch)
and run with Python's cyclic GC off; client processes get GLIBC_TUNABLES
(--client-malloc) that stop glibc from returning and re-mapping their buffers.

Fresh memory: on a Firecracker VM with free page reporting (this machine), memory the
guest frees goes back to the host and the next first touch of each page costs a host
fault, so writing to pages that were never used (or were freed a while ago) is several
times slower than rewriting recycled ones: the first raw write shows it (about 450 MB/s
against several GB/s), and so does the warm-up round. The measured rounds delete the
previous topic right before producing, so they mostly recycle its page-cache pages.

The server is stopped (SIGTERM, then SIGKILL after 30 s) at the end, whatever happens.

--perf OUTDIR additionally runs `perf record -e cpu-clock -g -p <broker pid>` during each
phase (OUTDIR/<topic>-<phase>.data) and prints the top symbols of each profile; with
--perf-all it records the whole machine (`-a`: clients too) and names the process of each.
--json prints the figures as one JSON line at the end as well.
"""

import argparse
import gc
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

RECORD = 1024
BROKER_ENV = dict(os.environ)  # before the client tunables below
MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
PERF_ALL = False  # --perf-all: profile the whole machine, not just the broker
# glibc returns freed memory above trim_threshold to the kernel and maps big blocks (up to
# the dynamic mmap threshold) afresh; librdkafka's fetch buffers and Python's message
# batches then pay page faults and page zeroing on every use (and on this VM the host backs
# each new page again). Keeping them is what a long-running client does in practice.
CLIENT_MALLOC = "glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=33554432"


# ----------------------------------------------------------------------------------------
# The server


class Server:
    def __init__(self, binary, data_dir, settings):
        cmd = [binary, "server", "--listen", "127.0.0.1:0", "--data-dir", data_dir]
        for s in settings:
            cmd += ["--set", s]
        env = dict(BROKER_ENV, NO_COLOR="1")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self.lines = []
        found = threading.Event()
        self.addr = None

        def pump():
            for raw in self.proc.stdout:
                line = re.sub(r"\x1b\[[0-9;]*m", "", raw.decode(errors="replace")).rstrip()
                self.lines.append(line)
                del self.lines[:-200]
                m = re.search(r'kafka_listener="?([^\s",}]+)', line)
                if m and self.addr is None:
                    self.addr = m.group(1)
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(30):
            self.stop()
            raise RuntimeError("no kafka_listener= line from the server:\n" + "\n".join(self.lines))

    @property
    def pid(self):
        return self.proc.pid

    def cpu_seconds(self):
        """utime + stime of the broker process (all threads), in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


# ----------------------------------------------------------------------------------------
# Client processes (started with `spawn`: librdkafka threads in the parent must not be forked)


def values_pool(n=256):
    text = (b"brook benchmark record, the compressible half of a one-KiB value. " * 16)
    half = RECORD // 2
    return [os.urandom(half) + text[i % 64:i % 64 + RECORD - half] for i in range(n)]


def produce_worker(bootstrap, topic, partitions, count, conf, barrier, results):
    from confluent_kafka import KafkaException, Producer

    errors = []

    def on_delivery(err, _msg):
        if err is not None and len(errors) < 10:
            errors.append(str(err))

    config = {
        "bootstrap.servers": bootstrap,
        "acks": 1,
        "compression.type": "none",
        "linger.ms": 20,
        "batch.size": 1 << 20,
        "batch.num.messages": 100000,
        "queue.buffering.max.kbytes": 256 * 1024,
        "queue.buffering.max.messages": 1000000,
        "message.max.bytes": 8 << 20,
        "enable.idempotence": False,
        "delivery.report.only.error": True,
        "on_delivery": on_delivery,
    }
    config.update(conf)
    p = Producer(config)
    p.list_topics(topic, timeout=30)
    values = values_pool()
    mask = len(values) - 1
    produce, poll = p.produce, p.poll
    nparts = len(partitions)
    barrier.wait()  # ready
    barrier.wait()  # go
    cpu0, t0 = os.times(), time.perf_counter()
    try:
        for i in range(count):
            # Runs of 1024 records per partition: one batch's worth, fewer Python lookups.
            part = partitions[(i >> 10) % nparts]
            v = values[i & mask]
            while True:
                try:
                    produce(topic, v, partition=part)
                    break
                except BufferError:
                    poll(0.0005)
        left = p.flush(300)
        if left:
            errors.append(f"{left} messages not delivered")
    except KafkaException as e:
        errors.append(str(e))
    t1, cpu1 = time.perf_counter(), os.times()
    results.put({"start": t0, "end": t1, "records": count, "errors": errors,
                 "cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)})


def consume_worker(bootstrap, topic, ranges, conf, batch, barrier, results):
    """ranges: [(partition, start offset, end offset)], read [start, end) of each."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    # Millions of short-lived Message objects would trigger the cyclic GC over and over;
    # nothing here makes cycles.
    gc.disable()

    config = {
        "bootstrap.servers": bootstrap,
        "group.id": "brook-bench-unused",  # required by librdkafka; no group API is used
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        # Below glibc's largest mmap threshold (32 MiB), so librdkafka's receive buffers
        # are reused rather than mapped and zeroed afresh for every response.
        "fetch.max.bytes": 16 << 20,
        "max.partition.fetch.bytes": 4 << 20,
        "fetch.wait.max.ms": 100,
        "queued.max.messages.kbytes": 256 * 1024,
        "queued.min.messages": 1000000,
        "receive.message.max.bytes": 128 << 20,
    }
    config.update(conf)
    c = Consumer(config)
    want = sum(e - s for _, s, e in ranges)
    c.assign([TopicPartition(topic, p, s) for p, s, _ in ranges])
    consume = c.consume
    errors = []
    got = 0
    # One range: it may end before the log does, so count by offset. Several (whole
    # partitions, to their ends): count messages.
    single = len(ranges) == 1
    start0, end0 = ranges[0][1], ranges[0][2]
    barrier.wait()  # ready
    barrier.wait()  # go
    cpu0, t0 = os.times(), time.perf_counter()
    last_progress = t0
    while got < want:
        msgs = consume(num_messages=batch, timeout=0.5)
        if not msgs:
            if time.perf_counter() - last_progress > 30:
                errors.append(f"no progress for 30 s at {got}/{want} records")
                break
            continue
        last_progress = time.perf_counter()
        bad = [m for m in msgs if m.error() is not None]
        if bad:
            errors += [str(m.error()) for m in bad if m.error().code() != KafkaError._PARTITION_EOF]
            msgs = [m for m in msgs if m.error() is None]
            if not msgs:
                continue
        if single:
            got = min(msgs[-1].offset() + 1, end0) - start0
        else:
            got += len(msgs)
        if len(errors) > 10:
            break
    t1, cpu1 = time.perf_counter(), os.times()
    c.close()
    results.put({"start": t0, "end": t1, "records": got, "errors": errors[:10],
                 "cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)})


def run_phase(ctx, server, target, jobs, perf_out, before_start=None):
    """Runs one client process per job (args tuples for `target`), all released together
    once they are connected and `before_start` has run. Returns wall time, records, client
    CPU s, broker CPU s, errors."""
    barrier = ctx.Barrier(len(jobs) + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*job, barrier, results)) for job in jobs]
    for p in procs:
        p.start()
    perf = None
    try:
        barrier.wait(timeout=120)  # every client is ready
        if before_start is not None:
            before_start()
        barrier.wait(timeout=120)  # go
        if perf_out:
            target = ["-a"] if PERF_ALL else ["-p", str(server.pid)]
            perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g",
                                     *target, "-o", perf_out],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        broker0 = server.cpu_seconds()
        out = [results.get(timeout=1800) for _ in procs]
        broker1 = server.cpu_seconds()
    finally:
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    wall = max(r["end"] for r in out) - min(r["start"] for r in out)
    return {
        "wall": wall,
        "records": sum(r["records"] for r in out),
        "client_cpu": sum(r["cpu"] for r in out),
        "broker_cpu": broker1 - broker0,
        "errors": [e for r in out for e in r["errors"]],
    }


def perf_top(path, n=25):
    try:
        fields = "overhead,comm,dso,sym" if PERF_ALL else "overhead,sym"
        out = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children",
                              "--fields", fields, "-g", "none", "--percent-limit", "0.7"],
                             capture_output=True, text=True, timeout=300).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"(perf report failed: {e})"
    rows = [l for l in out.splitlines() if l.strip() and not l.startswith("#")]
    return "\n".join(rows[:n])


# ----------------------------------------------------------------------------------------
# Baseline


def raw_write(directory, mib, name="raw-write.bin"):
    """Sequential write() of `mib` MiB in 1 MiB chunks, no fsync; then the fsync, timed apart.
    Returns (MB/s of the writes, seconds of the fsync)."""
    path = os.path.join(directory, name)
    chunk = os.urandom(MIB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        t0 = time.perf_counter()
        for _ in range(mib):
            os.write(fd, chunk)
        t1 = time.perf_counter()
        os.fsync(fd)
        t2 = time.perf_counter()
    finally:
        os.close(fd)
        os.unlink(path)
    return mib * MIB / (t1 - t0) / 1e6, t2 - t1


# ----------------------------------------------------------------------------------------


def split_jobs(partitions, offsets, workers):
    """[(partition, start, end)] per worker: whole partitions if there are enough, else
    each partition cut into equal offset ranges."""
    if partitions >= workers:
        return [[(p, 0, offsets[p]) for p in range(w, partitions, workers)] for w in range(workers)]
    per = workers // partitions
    jobs = []
    for p in range(partitions):
        n = offsets[p]
        for k in range(per):
            jobs.append([(p, n * k // per, n * (k + 1) // per)])
    return jobs


def parse_conf(items):
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("brook", help="path of a release `brook` binary")
    ap.add_argument("--mib", type=int, default=2048, help="MiB produced per topic (default 2048)")
    ap.add_argument("--partitions", default="1,16", help="comma-separated partition counts")
    ap.add_argument("--producers", type=int, default=2, help="producer processes (default 2)")
    ap.add_argument("--consumers", type=int, default=2, help="consumer processes (default 2)")
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the warm-up round (fresh memory; printed, marked [warm-up])")
    ap.add_argument("--tmp-dir", default=None, help="where the data directory goes")
    ap.add_argument("--perf", metavar="OUTDIR", help="perf record the broker in each phase")
    ap.add_argument("--perf-all", action="store_true",
                    help="with --perf: profile every process (clients too), not just the broker")
    ap.add_argument("--set", action="append", default=[], help="broker setting KEY=VALUE")
    ap.add_argument("--producer-conf", action="append", help="librdkafka producer KEY=VALUE")
    ap.add_argument("--consumer-conf", action="append", help="librdkafka consumer KEY=VALUE")
    ap.add_argument("--consume-batch", type=int, default=10000,
                    help="num_messages of each Consumer.consume() call (default 10000)")
    ap.add_argument("--client-malloc", default=CLIENT_MALLOC,
                    help="GLIBC_TUNABLES for the client processes ('' for glibc's defaults)")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args()

    from confluent_kafka import Consumer, TopicPartition, libversion
    from confluent_kafka.admin import AdminClient, NewTopic

    global PERF_ALL
    PERF_ALL = args.perf_all
    if args.client_malloc:
        os.environ["GLIBC_TUNABLES"] = args.client_malloc  # inherited by the clients only
    ctx = mp.get_context("spawn")
    tmp = tempfile.mkdtemp(prefix="brook-bench-", dir=args.tmp_dir)
    if args.perf:
        os.makedirs(args.perf, exist_ok=True)
    server = admin = None
    report = {"mib": args.mib, "record_bytes": RECORD, "cores": CORES,
              "producers": args.producers, "consumers": args.consumers,
              "librdkafka": libversion()[0], "topics": []}
    try:
        # On this kind of VM (Firecracker with free page reporting) memory freed by the guest
        # goes back to the host, and the first touch of a page costs a host fault: the first
        # write of a volume runs several times slower than a rewrite. Both are printed; the
        # ratios use the warm figure (the median of the three runs), the conservative one.
        runs = [raw_write(tmp, args.mib) for _ in range(3)]
        raw_mbs, fsync_s = sorted(runs)[1]
        report["raw_write_mbs"] = raw_mbs
        report["raw_write_runs_mbs"] = [r[0] for r in runs]
        print(f"raw write:  {raw_mbs:8.1f} MB/s  (median of "
              f"{', '.join(f'{r[0]:.0f}' for r in runs)}, the first on fresh memory; "
              f"{args.mib} MiB in 1 MiB write()s, no fsync; the fsync after took "
              f"{fsync_s:.2f} s)  in {tmp}")
        server = Server(args.brook, os.path.join(tmp, "data"), args.set)
        print(f"broker:     pid {server.pid} on {server.addr}; librdkafka {libversion()[0]}; "
              f"{CORES} cores; {args.producers} producer / {args.consumers} consumer processes; "
              f"client GLIBC_TUNABLES={args.client_malloc or '(none)'}")
        admin = AdminClient({"bootstrap.servers": server.addr, "log_level": 3})
        count = args.mib * MIB // RECORD
        counts = [int(x) for x in args.partitions.split(",")]
        rounds = ([] if args.no_warmup else [(counts[0], True)]) + [(n, False) for n in counts]
        previous = None
        for round_no, (nparts, warmup) in enumerate(rounds):
            topic = f"bench-{round_no}-{nparts}p" + ("-warmup" if warmup else "")
            for f in admin.create_topics([NewTopic(topic, nparts, 1)]).values():
                f.result(30)

            def delete_previous(previous=previous):
                # Right before producing, so the new segments reuse the pages it frees.
                if previous is not None:
                    for f in admin.delete_topics([previous]).values():
                        f.result(30)

            producers = min(args.producers, count)
            if nparts >= producers:
                shares = [list(range(w, nparts, producers)) for w in range(producers)]
            else:
                shares = [[w % nparts] for w in range(producers)]
            jobs = [(server.addr, topic, share, count * (w + 1) // producers - count * w // producers,
                     parse_conf(args.producer_conf)) for w, share in enumerate(shares)]
            perf = os.path.join(args.perf, f"{topic}-produce.data") if args.perf else None
            prod = run_phase(ctx, server, produce_worker, jobs, perf, delete_previous)

            probe = Consumer({"bootstrap.servers": server.addr, "group.id": "brook-bench-unused"})
            offsets = [probe.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                       for p in range(nparts)]
            probe.close()
            stored = sum(offsets)
            if stored != count:
                prod["errors"].append(f"{stored} records in the log, {count} produced")
            jobs = [(server.addr, topic, ranges, parse_conf(args.consumer_conf), args.consume_batch)
                    for ranges in split_jobs(nparts, offsets, args.consumers)]
            perf = os.path.join(args.perf, f"{topic}-consume.data") if args.perf else None
            cons = run_phase(ctx, server, consume_worker, jobs, perf)
            if cons["records"] != stored:
                cons["errors"].append(f"{cons['records']} records consumed, {stored} stored")
            rss = server.rss_mib()
            previous = topic

            row = {"partitions": nparts, "warmup": warmup}
            for name, ph in (("produce", prod), ("consume", cons)):
                mbs = ph["records"] * RECORD / ph["wall"] / 1e6
                busy = (ph["broker_cpu"] + ph["client_cpu"]) or 1e-9
                row[name] = {
                    "mbs": mbs, "ratio_to_raw_write": mbs / raw_mbs, "seconds": ph["wall"],
                    "broker_cpu_s": ph["broker_cpu"], "client_cpu_s": ph["client_cpu"],
                    "broker_cores": ph["broker_cpu"] / ph["wall"],
                    "client_cores": ph["client_cpu"] / ph["wall"],
                    "broker_share": ph["broker_cpu"] / busy, "errors": ph["errors"],
                }
                r = row[name]
                label = f"{nparts:>3} partition{'s' if nparts > 1 else ' '} {name}"
                print(f"{label:>22}: {mbs:8.1f} MB/s  ({r['ratio_to_raw_write']:.2f} x raw write)"
                      f"  {ph['records']} records in {ph['wall']:.2f} s;  CPU: broker "
                      f"{r['broker_cores']:.2f} + clients {r['client_cores']:.2f} of {CORES} "
                      f"cores (broker {100 * r['broker_share']:.0f}% of the CPU used)"
                      + ("  [warm-up, fresh memory]" if warmup else ""))
                for e in ph["errors"][:5]:
                    print(f"           ERROR: {e}")
            print(f"{'':>22}  broker RSS {rss:.0f} MiB")
            report["topics"].append(row)
        if args.perf:
            for name in sorted(os.listdir(args.perf)):
                if name.endswith(".data"):
                    print(f"\n--- perf: {name} ({'all processes' if PERF_ALL else 'broker'}, "
                          f"cpu-clock, self time) ---")
                    print(perf_top(os.path.join(args.perf, name)))
        if args.json:
            print(json.dumps(report))
    finally:
        del admin  # closes its connections before the broker goes
        if server is not None:
            rc = server.stop()
            if rc not in (0, None):
                print(f"broker exited with {rc}; last log lines:\n" + "\n".join(server.lines[-20:]))
        shutil.rmtree(tmp, ignore_errors=True)
    failed = any(t[p]["errors"] for t in report["topics"] for p in ("produce", "consume"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
