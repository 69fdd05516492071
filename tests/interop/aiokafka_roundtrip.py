"""aiokafka (asyncio Kafka client) against a Brook broker.

- AIOKafkaAdminClient: create_topics, list_topics, describe_configs; at the end
  list_consumer_groups, describe_consumer_groups and list_consumer_group_offsets.
- AIOKafkaProducer with acks='all', enable_idempotence=True and gzip: keyed records with
  headers (a repeated header key among them), null values and explicit timestamps, in many
  small batches; the RecordMetadata of every send says where the record went.
- An assigned consumer (no group): beginning_offsets, end_offsets, offsets_for_times, seek and
  read at an offset, position after seek_to_beginning and seek_to_end, checked against those
  offsets.
- A consumer group with manual commits: consumer A reads a quarter of the records, committing
  after every getmany; consumer B joins, which rebalances the group (both listeners see it);
  then both read on until every record has been committed once. A record counts once its
  commit succeeded (a commit refused during a rebalance means it is read again). Every record
  must arrive exactly once, identical, and each partition must resume where the commits left
  it. committed() then reads the commits back, from a member and from a fresh consumer.

Usage: aiokafka_roundtrip.py BOOTSTRAP TOPIC

Prints one JSON line on stdout: the summary the Rust test (tests/interop.rs) asserts on. Every
check that fails is listed in "errors"; the exit code is 1 when there is any.
"""

import asyncio
import json
import logging
import sys
import time

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import CommitFailedError, KafkaError

PARTITIONS = 4
MESSAGES = 1200
KEYS = 37
# Record timestamps: BASE_TS + 10 * sequence number, an hour in the past.
BASE_TS = int(time.time() * 1000) - 3_600_000
DEADLINE_S = 25


def record(i):
    headers = [("seq", str(i).encode())]
    if i % 4 == 0:
        headers += [("dup", b"x"), ("dup", b"y-%d" % i)]
    value = None if i % 50 == 0 else ("v-%d-%s" % (i, "ab" * (i % 23))).encode()
    return ("k%d" % (i % KEYS)).encode(), value, headers, BASE_TS + 10 * i


class Listener(ConsumerRebalanceListener):
    def __init__(self, name, events, member):
        self.name = name
        self.events = events
        self.member = member
        self.assigned = None
        # The group's commits for the partitions of the latest assignment, when it came.
        self.committed_at_assignment = {}

    async def on_partitions_revoked(self, revoked):
        # Runs before the member rejoins: wait for a poll that is still committing, and
        # commit nothing more until the new assignment is in. Otherwise a commit with the
        # next generation could move a partition that now belongs to the other member.
        async with self.member.lock:
            self.member.rebalancing = True
        self.events.append([self.name, "revoked", sorted(tp.partition for tp in revoked)])

    async def on_partitions_assigned(self, assigned):
        self.committed_at_assignment = {
            tp.partition: await self.member.consumer.committed(tp) for tp in assigned}
        self.assigned = sorted(tp.partition for tp in assigned)
        self.events.append([self.name, "assigned", self.assigned])
        self.member.rebalancing = False


class Member:
    """A group consumer that commits after every getmany and keeps what it committed."""

    def __init__(self, bootstrap, topic, group, name, events):
        self.name = name
        self.lock = asyncio.Lock()
        self.rebalancing = False
        self.listener = Listener(name, events, self)
        self.read = []  # (partition, offset, record) of committed records
        self.refused_commits = 0
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id="interop-" + name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=300,
            fetch_max_wait_ms=200,
            # Small fetches: several partitions advance side by side.
            max_partition_fetch_bytes=2048,
        )
        self.topic = topic

    async def start(self):
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=self.listener)

    async def poll(self):
        # Not under the lock: getmany waits for an assignment, which needs the listener.
        batches = await self.consumer.getmany(timeout_ms=200, max_records=40)
        async with self.lock:
            if batches and not self.rebalancing:
                await self._process(batches)

    async def _process(self, batches):
        got = [(tp.partition, m.offset, (m.key, m.value, [tuple(h) for h in m.headers],
                                         m.timestamp))
               for tp, msgs in batches.items() for m in msgs]
        offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batches.items()}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError):
            # A rebalance moved on: these records will be read again, here or by the other.
            self.refused_commits += 1
            return
        self.read.extend(got)


async def main(summary):
    bootstrap, topic = sys.argv[1], sys.argv[2]
    group = topic + "-group"
    errors = summary["errors"]

    def check(ok, what):
        if not ok:
            errors.append(what)
        return ok

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="interop-admin")
    await admin.start()
    await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    check(topic in await admin.list_topics(), "list_topics")
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)])
    entries = {e[0]: e[1] for e in described[0].resources[0][4]}
    summary["described_configs"] = len(entries)
    summary["cleanup_policy"] = entries.get("cleanup.policy")

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, compression_type="gzip",
                                linger_ms=5, max_batch_size=4096)
    await producer.start()
    futures = []
    for i in range(MESSAGES):
        key, value, headers, ts = record(i)
        futures.append(await producer.send(topic, value=value, key=key, headers=headers,
                                           timestamp_ms=ts))
    sent = {}  # (partition, offset) -> sequence number
    for i, fut in enumerate(futures):
        md = await fut
        sent[(md.partition, md.offset)] = i
    await producer.stop()
    ends = [0] * PARTITIONS
    for p, o in sent:
        ends[p] = max(ends[p], o + 1)
    summary["produced"] = len(sent)
    summary["ends"] = ends
    check(all(sorted(o for (q, o) in sent if q == p) == list(range(ends[p]))
              for p in range(PARTITIONS)), "the producer's offsets are not 0..end")

    # Positions, with an assigned consumer.
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    c.assign(tps)
    begin = await c.beginning_offsets(tps)
    end = await c.end_offsets(tps)
    summary["beginning_offsets"] = [begin[tp] for tp in tps]
    summary["end_offsets"] = [end[tp] for tp in tps]
    ts = BASE_TS + 10 * 600
    by_time = await c.offsets_for_times({tp: ts for tp in tps})
    want = [min((o for (q, o), i in sent.items() if q == p and i >= 600), default=None)
            for p in range(PARTITIONS)]
    summary["offsets_for_times"] = [by_time[tp].offset if by_time[tp] else None for tp in tps]
    summary["offsets_for_times_expected"] = want
    summary["offsets_for_times_timestamps_ok"] = sum(
        1 for tp in tps if by_time[tp]
        and by_time[tp].timestamp == record(sent[(tp.partition, by_time[tp].offset)])[3])
    future = await c.offsets_for_times({tp: BASE_TS + 3_600_000 * 2 for tp in tps})
    summary["offsets_for_future_times"] = [future[tp] for tp in tps]
    seek_matched = 0
    for tp in tps:
        mid = ends[tp.partition] // 2
        c.seek(tp, mid)
        msg = await asyncio.wait_for(c.getone(tp), 10)
        if msg.offset == mid and msg.value == record(sent[(tp.partition, mid)])[1]:
            seek_matched += 1
    summary["seek_matched"] = seek_matched
    await c.seek_to_end(*tps)
    summary["positions_at_end"] = [await c.position(tp) for tp in tps]
    await c.seek_to_beginning(*tps)
    summary["positions_at_beginning"] = [await c.position(tp) for tp in tps]
    await c.stop()

    # The group.
    events = []
    a = Member(bootstrap, topic, group, "a", events)
    b = Member(bootstrap, topic, group, "b", events)
    deadline = time.monotonic() + DEADLINE_S
    await a.start()
    while len(a.read) < MESSAGES // 4 and time.monotonic() < deadline:
        await a.poll()
    summary["a_before_rebalance"] = len(a.read)
    await b.start()

    def rebalanced():
        return (a.listener.assigned and b.listener.assigned
                and sorted(a.listener.assigned + b.listener.assigned) == list(range(PARTITIONS)))

    # A keeps polling (as an application would) while B joins.
    while not rebalanced() and time.monotonic() < deadline:
        await asyncio.gather(a.poll(), asyncio.sleep(0.05))
    check(rebalanced(), "no rebalance to two members: %s" % events)
    summary["assigned"] = {"a": a.listener.assigned, "b": b.listener.assigned}

    def total():
        return len(a.read) + len(b.read)

    while total() < MESSAGES and time.monotonic() < deadline:
        await asyncio.gather(a.poll(), b.poll())
    grace = time.monotonic() + 1.5  # anything more would be a duplicate
    while time.monotonic() < grace:
        await asyncio.gather(a.poll(), b.poll())

    summary["events"] = events
    summary["refused_commits"] = a.refused_commits + b.refused_commits
    summary["consumed_by"] = {"a": len(a.read), "b": len(b.read)}
    seen = {}
    duplicates = identical = 0
    for p, o, got in a.read + b.read:
        if (p, o) in seen:
            duplicates += 1
            continue
        seen[(p, o)] = got
        i = sent.get((p, o))
        if i is not None and got == record(i):
            identical += 1
        elif len(errors) < 10:
            errors.append("at %d:%d read %r, sent %r" % (p, o, got, i is not None and record(i)))
    summary["consumed"] = len(seen)
    summary["duplicates"] = duplicates
    summary["identical"] = identical
    # B started each partition it was given where A's commits had left it.
    b_first = {}
    for p, o, _ in b.read:
        b_first.setdefault(p, o)
    at_assignment = b.listener.committed_at_assignment
    summary["b_first_offsets"] = b_first
    summary["committed_at_b_assignment"] = at_assignment
    summary["b_resumed_at_commits"] = bool(b_first) and all(
        o == (at_assignment[p] or 0) for p, o in b_first.items())

    def describe_group():
        return admin.describe_consumer_groups([group])

    def described(responses):
        return [[g["error_code"], g["group"], g["state"], g["protocol_type"], g["protocol"],
                 len(g["members"])]
                for r in responses for g in r.to_object()["groups"]]

    summary["described_running"] = described(await describe_group())

    summary["committed_by_member"] = [await a.consumer.committed(tp) for tp in tps]
    await a.consumer.stop()
    await b.consumer.stop()
    fresh = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    await fresh.start()
    summary["committed_by_fresh"] = [await fresh.committed(tp) for tp in tps]
    await fresh.stop()

    summary["listed"] = [list(g) for g in await admin.list_consumer_groups() if g[0] == group]
    summary["described_empty"] = described(await describe_group())
    offsets = await admin.list_consumer_group_offsets(group)
    summary["admin_offsets"] = [offsets[tp].offset if tp in offsets else None for tp in tps]
    await admin.close()


def run():
    summary = {"errors": [], "version": aiokafka.__version__}
    try:
        asyncio.run(asyncio.wait_for(main(summary), 35))
    except BaseException as e:  # noqa: B036 - a timeout or a client error: report it
        summary["errors"].append("%s: %s" % (type(e).__name__, e))
    print(json.dumps(summary))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(run())
