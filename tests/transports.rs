//! One client test suite, run on both transports: TCP to a broker on port 0, and the
//! in-process transport of `brook::embedded` to the same kind of broker with no socket at
//! all (the issue: "an application that embeds brook-broker talks to it without sockets.
//! The same test suite passes on both").
//!
//! Each scenario is an `async fn(Env)` asserting exact outcomes, so a transport that
//! answers differently fails its instantiation. `client_suite!` below turns every scenario
//! into two tests, `tcp::<name>` and `in_process::<name>`, each with a broker of its own.
//! To add a scenario: write `async fn name(env: Env)` (the helpers are in
//! `tests/client_suite/mod.rs`) and add `name` to the list.

use std::collections::BTreeMap;
use std::slice::from_ref;
use std::time::Duration;

use brook_client::admin::PartitionLag;
use brook_client::consumer::OffsetAndTimestamp;
use brook_client::{ConfigResource, Consumer, ErrorCode, NewTopic, OffsetSpec, ProducerRecord};
use brook_protocol::record::{Compression, Header, TimestampType};

mod client_suite;
use client_suite::*;

/// Instantiates each scenario once per transport.
macro_rules! client_suite {
    ($($scenario:ident),* $(,)?) => {
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::run(super::Transport::Tcp, super::$scenario).await;
                }
            )*
        }
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::run(super::Transport::InProcess, super::$scenario).await;
                }
            )*
        }
    };
}

client_suite! {
    admin,
    round_trip_with_every_codec,
    large_records_round_trip,
    keyed_records_land_where_java_puts_them,
    idempotent_producer_writes_each_record_once_in_order,
    consumer_seeks_looks_up_times_and_pauses,
    commit_sync_then_committed,
    auto_offset_reset_earliest_latest_none,
    consumer_group_lag,
    delete_records_then_consume_from_the_new_log_start,
    acks_zero_produce,
    group_members_share_partitions_and_rebalance,
}

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .try_into()
        .unwrap()
}

/// A record of `topic` with a text value.
fn text(topic: &str, value: &str) -> ProducerRecord {
    ProducerRecord::new(topic, value.as_bytes().to_vec().into())
}

/// Writes `values` to `tp` (in order, acks=all) with timestamps `T0 + i s`.
async fn produce_values(env: &Env, topic: &str, partition: i32, values: &[String]) {
    let producer = env.producer(&[("linger.ms", "0")]).await;
    let sent: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            producer.send(
                text(topic, v)
                    .with_partition(partition)
                    .with_timestamp(T0 + i as i64 * 1000),
            )
        })
        .collect();
    for s in sent {
        s.await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Topics, configs, offsets and deletion through the admin client.
async fn admin(env: Env) {
    let admin = env.admin().await;
    let created = admin
        .create_topics(
            &[NewTopic::new("orders", 3, 1).config("retention.ms", "60000")],
            false,
        )
        .await
        .unwrap();
    assert!(created["orders"].is_ok(), "{created:?}");
    let again = admin
        .create_topics(&[NewTopic::new("orders", 3, 1)], false)
        .await
        .unwrap();
    assert_eq!(
        again["orders"].as_ref().unwrap_err().code,
        ErrorCode::TOPIC_ALREADY_EXISTS
    );
    let described = admin.describe_topics(&["orders"]).await.unwrap();
    assert_eq!(described["orders"].as_ref().unwrap().partitions.len(), 3);
    let configs = admin
        .describe_configs(&[ConfigResource::Topic("orders".into())])
        .await
        .unwrap();
    let entries = configs.values().next().unwrap().as_ref().unwrap();
    let retention = entries
        .iter()
        .find(|e| e.name == "retention.ms")
        .and_then(|e| e.value.clone());
    assert_eq!(retention.as_deref(), Some("60000"));
    let offsets = admin
        .list_offsets(&[(tp("orders", 0), OffsetSpec::Latest)])
        .await
        .unwrap();
    assert_eq!(offsets[&tp("orders", 0)].as_ref().unwrap().offset, 0);
    assert_eq!(admin.list_topics(false).await.unwrap(), ["orders"]);
    admin.delete_topics(&["orders"]).await.unwrap();
    assert!(admin.list_topics(false).await.unwrap().is_empty());
}

/// The `i`th record of the round trip: keys, null values, headers (none, null values,
/// repeated keys, binary) and timestamps (given, or the producer's clock) all vary, and
/// values are large enough for the codecs to matter.
fn varied_record(topic: &str, i: usize) -> ProducerRecord {
    let mut r = ProducerRecord::tombstone(topic).with_partition(0);
    if !i.is_multiple_of(3) {
        r = r.with_key(format!("key-{i}").into_bytes().into());
    }
    if !i.is_multiple_of(5) {
        let value = format!("value-{i}-").repeat(1 + (i % 7) * 40);
        r.value = Some(value.into_bytes().into());
    }
    r = match i % 4 {
        0 => r,
        1 => r.with_header("h1", Some(b"a")),
        2 => r.with_header("h1", Some(b"")).with_header("h2", None),
        _ => r
            .with_header("dup", Some(b"1"))
            .with_header("dup", Some(b"2"))
            .with_header("bin", Some(&[0, 255, 1])),
    };
    if i.is_multiple_of(2) {
        r = r.with_timestamp(T0 + i as i64 * 1000);
    }
    r
}

/// Producer to consumer with each codec, checked record for record, and on the wire.
async fn round_trip_with_every_codec(env: Env) {
    const N: usize = 60;
    for codec in Compression::ALL {
        let topic = format!("round-trip-{}", codec.name());
        env.create_topic(&topic, 1).await;
        let producer = env
            .producer(&[
                ("compression.type", codec.name()),
                ("linger.ms", "20"),
                ("batch.size", "65536"),
            ])
            .await;
        let before = now_ms();
        let records: Vec<ProducerRecord> = (0..N).map(|i| varied_record(&topic, i)).collect();
        let sent: Vec<_> = records.iter().map(|r| producer.send(r.clone())).collect();
        let mut written = Vec::new();
        for (i, s) in sent.into_iter().enumerate() {
            let md = s
                .await
                .unwrap_or_else(|e| panic!("{codec:?} record {i}: {e}"));
            assert_eq!((md.partition, md.offset), (0, i as i64), "{codec:?}");
            written.push(md);
        }
        producer.close(Duration::from_secs(10)).await.unwrap();
        let after = now_ms();

        // Batched, and compressed with the codec asked for.
        let batches = env.batches(&tp(&topic, 0)).await;
        assert!(
            batches.len() < N,
            "{codec:?}: one batch per record: {batches:?}"
        );
        assert_eq!(
            batches
                .iter()
                .map(|b| b.records_count as usize)
                .sum::<usize>(),
            N
        );
        for b in &batches {
            assert_eq!(b.compression().unwrap(), codec, "{b:?}");
        }

        let mut consumer = env.consumer(&[("auto.offset.reset", "earliest")]).await;
        consumer.assign(&[tp(&topic, 0)]);
        let got = poll_until(&mut consumer, N).await;
        for (i, (r, sent)) in got.iter().zip(&records).enumerate() {
            let what = format!("{codec:?} record {i}");
            assert_eq!(
                (r.topic.as_str(), r.partition),
                (topic.as_str(), 0),
                "{what}"
            );
            assert_eq!(r.offset, i as i64, "{what}");
            assert_eq!(r.key, sent.key, "{what}");
            assert_eq!(r.value, sent.value, "{what}");
            assert_eq!(r.headers, sent.headers, "{what}");
            assert_eq!(r.timestamp_type, TimestampType::CreateTime, "{what}");
            assert_eq!(r.timestamp, written[i].timestamp, "{what}");
            match sent.timestamp {
                Some(t) => assert_eq!(r.timestamp, t, "{what}"),
                None => assert!(
                    (before..=after).contains(&r.timestamp),
                    "{what}: {} not in {before}..={after}",
                    r.timestamp
                ),
            }
        }
        // The records of the varied set that make the cases above real.
        assert!(got.iter().any(|r| r.value.is_none() && r.key.is_some()));
        assert!(got.iter().any(|r| r.key.is_none()));
        assert!(got
            .iter()
            .any(|r| r.headers.contains(&Header::new("h2", None))));
    }
}

/// Records near `max.request.size` (and beyond `max.partition.fetch.bytes` in one fetch),
/// of incompressible bytes, whole and unchanged.
async fn large_records_round_trip(env: Env) {
    const SIZES: [usize; 4] = [700_000, 1, 900_000, 300_000];
    env.create_topic("large", 1).await;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let values: Vec<Vec<u8>> = SIZES
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (seed >> 56) as u8
                })
                .collect()
        })
        .collect();
    for codec in ["none", "zstd"] {
        let producer = env
            .producer(&[("compression.type", codec), ("linger.ms", "0")])
            .await;
        for v in &values {
            producer
                .send(ProducerRecord::new("large", v.clone().into()).with_partition(0))
                .await
                .unwrap_or_else(|e| panic!("{codec}: {} bytes: {e}", v.len()));
        }
        producer.close(Duration::from_secs(10)).await.unwrap();
    }
    let mut consumer = env
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("max.partition.fetch.bytes", "100000"),
        ])
        .await;
    consumer.assign(&[tp("large", 0)]);
    let got = poll_until(&mut consumer, 2 * SIZES.len()).await;
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        let expected = &values[i % SIZES.len()];
        assert_eq!(r.value.as_deref().map(<[u8]>::len), Some(expected.len()));
        assert!(
            r.value.as_deref() == Some(&expected[..]),
            "record {i} differs"
        );
    }
}

/// Keys and the 32-bit murmur2 hash Java's `Utils.murmur2` gives them (Kafka's
/// `UtilsTest.testMurmur2` and the Java-computed vectors of the partitioner's tests).
const JAVA_MURMUR2: &[(&[u8], i32)] = &[
    (b"21", -973_932_308),
    (b"foobar", -790_332_482),
    (b"a-little-bit-long-string", -985_981_536),
    (b"a-little-bit-longer-string", -1_486_304_829),
    (
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        -58_897_971,
    ),
    (b"abc", 479_470_107),
    (b"1", -1_993_445_489),
    (b"12", 126_087_238),
    (b"123", -267_702_483),
    (b"1234", -1_614_185_708),
    (b"12345", -1_188_365_604),
    (&[], 275_646_681),
    (&[0xff], -311_467_685),
    (&[0x80, 0xff], -80_095_470),
    (&[0xfe, 0x81, 0x90], 604_088_052),
    (&[0xff, 0xff, 0xff, 0xff], 644_171_429),
    (&[0xc3, 0xa9, 0xe2, 0x82, 0xac], 1_912_689_889),
    (&[0x01, 0x80, 0x02, 0x90, 0x03, 0xa0, 0x04], 1_465_329_699),
];

/// The default partitioner: a key always lands in `(murmur2(key) & 0x7fffffff) % n`, as
/// with Java's client.
async fn keyed_records_land_where_java_puts_them(env: Env) {
    const PARTITIONS: i32 = 7;
    env.create_topic("keyed", PARTITIONS).await;
    let expected = |hash: i32| (hash & 0x7fff_ffff) % PARTITIONS;
    let mut where_: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
    for round in 0..3 {
        // A producer per round: the partition does not depend on the producer either.
        let producer = env.producer(&[("linger.ms", "5")]).await;
        let sent: Vec<_> = JAVA_MURMUR2
            .iter()
            .map(|(key, _)| {
                producer
                    .send(text("keyed", &format!("round {round}")).with_key(key.to_vec().into()))
            })
            .collect();
        for ((key, hash), s) in JAVA_MURMUR2.iter().zip(sent) {
            let md = s.await.unwrap();
            assert_eq!(md.partition, expected(*hash), "key {key:?}, round {round}");
            where_.insert(key.to_vec(), md.partition);
        }
        producer.close(Duration::from_secs(10)).await.unwrap();
    }
    // The consumer finds every record where the producer said.
    let mut consumer = env.consumer(&[("auto.offset.reset", "earliest")]).await;
    consumer.assign(&(0..PARTITIONS).map(|p| tp("keyed", p)).collect::<Vec<_>>());
    let got = poll_until(&mut consumer, 3 * JAVA_MURMUR2.len()).await;
    for r in &got {
        let key = r.key.as_deref().unwrap().to_vec();
        assert_eq!(Some(&r.partition), where_.get(&key), "{r:?}");
    }
}

/// enable.idempotence with acks=all and five requests in flight: every record once, in
/// send order, offsets consecutive; on the wire one producer id and epoch, and sequences
/// that continue from batch to batch.
async fn idempotent_producer_writes_each_record_once_in_order(env: Env) {
    const PARTITIONS: i32 = 3;
    const N: usize = 3000;
    env.create_topic("idempotent", PARTITIONS).await;
    let producer = env
        .producer(&[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "5"),
            ("linger.ms", "1"),
            ("batch.size", "1024"),
        ])
        .await;
    let sent: Vec<_> = (0..N)
        .map(|i| {
            producer
                .send(text("idempotent", &format!("r{i}")).with_partition(i as i32 % PARTITIONS))
        })
        .collect();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, s) in sent.into_iter().enumerate() {
        let md = s.await.unwrap();
        let p = i as i32 % PARTITIONS;
        let expected = next.entry(p).or_insert(0);
        assert_eq!((md.partition, md.offset), (p, *expected), "record {i}");
        *expected += 1;
    }
    producer.close(Duration::from_secs(10)).await.unwrap();

    let per_partition = N / PARTITIONS as usize;
    let mut producer_ids = Vec::new();
    for p in 0..PARTITIONS {
        let batches = env.batches(&tp("idempotent", p)).await;
        assert!(batches.len() > 1, "small batches expected: {batches:?}");
        let (mut offset, mut sequence) = (0i64, 0i32);
        for b in &batches {
            assert!(b.has_producer_id(), "{b:?}");
            assert_eq!(b.base_offset, offset, "{b:?}");
            assert_eq!(b.base_sequence, sequence, "{b:?}");
            offset += i64::from(b.records_count);
            sequence += b.records_count;
            producer_ids.push((b.producer_id, b.producer_epoch));
        }
        assert_eq!(offset, per_partition as i64);
    }
    producer_ids.dedup();
    assert_eq!(producer_ids.len(), 1, "one producer id: {producer_ids:?}");

    let mut consumer = env.consumer(&[("auto.offset.reset", "earliest")]).await;
    consumer.assign(
        &(0..PARTITIONS)
            .map(|p| tp("idempotent", p))
            .collect::<Vec<_>>(),
    );
    let got = poll_until(&mut consumer, N).await;
    for p in 0..PARTITIONS {
        let mine: Vec<_> = got.iter().filter(|r| r.partition == p).cloned().collect();
        let expected: Vec<String> = (0..N)
            .filter(|i| *i as i32 % PARTITIONS == p)
            .map(|i| format!("r{i}"))
            .collect();
        assert_eq!(values_of(&mine), expected, "partition {p}");
        let offsets: Vec<i64> = mine.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..per_partition as i64).collect::<Vec<_>>());
    }
}

/// seek, seek_to_beginning, seek_to_end, position, beginning/end offsets,
/// offsets_for_times, pause and resume.
async fn consumer_seeks_looks_up_times_and_pauses(env: Env) {
    env.create_topic("positions", 2).await;
    produce_values(&env, "positions", 0, &numbered("a", 10)).await;
    produce_values(&env, "positions", 1, &numbered("b", 10)).await;
    let (p0, p1) = (tp("positions", 0), tp("positions", 1));
    let both = [p0.clone(), p1.clone()];
    let mut consumer = env.consumer(&[("auto.offset.reset", "earliest")]).await;
    consumer.assign(&both);
    assert_eq!(consumer.assignment(), both);
    assert_eq!(consumer.position(&p0).await.unwrap(), 0);
    assert_eq!(consumer.position(&p1).await.unwrap(), 0);
    assert_eq!(
        consumer.beginning_offsets(&both).await.unwrap(),
        BTreeMap::from([(p0.clone(), 0), (p1.clone(), 0)])
    );
    assert_eq!(
        consumer.end_offsets(&both).await.unwrap(),
        BTreeMap::from([(p0.clone(), 10), (p1.clone(), 10)])
    );

    consumer.seek(&p0, 5).unwrap();
    assert_eq!(consumer.position(&p0).await.unwrap(), 5);
    let got = poll_until(&mut consumer, 15).await;
    let from_p0: Vec<_> = got.iter().filter(|r| r.partition == 0).cloned().collect();
    assert_eq!(values_of(&from_p0), numbered("a", 10)[5..]);
    assert_eq!(
        from_p0.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (5..10).collect::<Vec<_>>()
    );
    assert_eq!(consumer.position(&p0).await.unwrap(), 10);
    assert_eq!(consumer.position(&p1).await.unwrap(), 10);
    assert_eq!(consumer.positions(), [(p0.clone(), 10), (p1.clone(), 10)]);

    consumer.seek_to_beginning(from_ref(&p0)).unwrap();
    consumer.seek_to_end(from_ref(&p1)).unwrap();
    assert_eq!(consumer.position(&p0).await.unwrap(), 0);
    assert_eq!(consumer.position(&p1).await.unwrap(), 10);

    // Timestamps are T0 + i s in both partitions.
    let found = consumer
        .offsets_for_times(&[(p0.clone(), T0 + 3_500), (p1.clone(), T0 + 100_000)])
        .await
        .unwrap();
    assert_eq!(
        found,
        BTreeMap::from([
            (
                p0.clone(),
                Some(OffsetAndTimestamp {
                    offset: 4,
                    timestamp: T0 + 4_000
                })
            ),
            (p1.clone(), None),
        ])
    );
    let found = consumer
        .offsets_for_times(&[(p1.clone(), 0)])
        .await
        .unwrap();
    assert_eq!(
        found[&p1],
        Some(OffsetAndTimestamp {
            offset: 0,
            timestamp: T0
        })
    );
    assert!(consumer
        .offsets_for_times(&[(p1.clone(), -5)])
        .await
        .is_err());

    // Paused: nothing from p0, while p1 goes on.
    consumer.pause(from_ref(&p0)).unwrap();
    assert_eq!(consumer.paused(), from_ref(&p0));
    consumer.seek(&p1, 7).unwrap();
    let got = poll_until(&mut consumer, 3).await;
    assert_eq!(offsets_of(&got), [(1, 7), (1, 8), (1, 9)]);
    poll_nothing(&mut consumer, Duration::from_millis(500)).await;
    assert_eq!(consumer.position(&p0).await.unwrap(), 0);
    consumer.resume(from_ref(&p0)).unwrap();
    assert!(consumer.paused().is_empty());
    let got = poll_until(&mut consumer, 10).await;
    assert_eq!(values_of(&got), numbered("a", 10));

    // Not assigned: refused.
    assert!(consumer.seek(&tp("positions", 2), 0).is_err());
    assert!(consumer.pause(&[tp("elsewhere", 0)]).is_err());
}

/// commit_sync, committed, the admin's view, and a new consumer of the group starting
/// from the commits.
async fn commit_sync_then_committed(env: Env) {
    env.create_topic("commits", 3).await;
    for p in 0..3 {
        produce_values(&env, "commits", p, &numbered(&format!("p{p}-"), 5)).await;
    }
    let all: Vec<_> = (0..3).map(|p| tp("commits", p)).collect();
    let consumer = env.consumer(&[("group.id", "committers")]).await;
    consumer
        .commit_sync(&[(all[0].clone(), 3), (all[1].clone(), 5)])
        .await
        .unwrap();
    let committed = consumer.committed(&all).await.unwrap();
    assert_eq!(
        committed
            .iter()
            .map(|(tp, o)| (tp.clone(), o.offset))
            .collect::<Vec<_>>(),
        [(all[0].clone(), 3), (all[1].clone(), 5)]
    );
    let by_admin = env
        .admin()
        .await
        .list_consumer_group_offsets("committers", None)
        .await
        .unwrap();
    assert_eq!(by_admin, committed);
    assert!(consumer.commit_sync(&[(all[2].clone(), -1)]).await.is_err());

    // A consumer of the group starts from the commits; p2 has none: latest.
    let mut next = env
        .consumer(&[("group.id", "committers"), ("auto.offset.reset", "latest")])
        .await;
    next.assign(&all);
    assert_eq!(next.position(&all[0]).await.unwrap(), 3);
    assert_eq!(next.position(&all[1]).await.unwrap(), 5);
    assert_eq!(next.position(&all[2]).await.unwrap(), 5);
    let got = poll_until(&mut next, 2).await;
    assert_eq!(values_of(&got), ["p0-3", "p0-4"]);
    next.commit_sync(&next.positions()).await.unwrap();
    let committed = next.committed(&all).await.unwrap();
    assert_eq!(
        committed.values().map(|o| o.offset).collect::<Vec<_>>(),
        [5, 5, 5]
    );
    next.commit_async(&[(all[0].clone(), 1)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.committed(&all[..1]).await.unwrap()[&all[0]].offset, 1);
}

/// auto.offset.reset for a partition without a position, and after an out-of-range fetch.
async fn auto_offset_reset_earliest_latest_none(env: Env) {
    env.create_topic("resets", 1).await;
    produce_values(&env, "resets", 0, &numbered("r", 5)).await;
    let p = tp("resets", 0);

    let mut earliest = env.consumer(&[("auto.offset.reset", "earliest")]).await;
    earliest.assign(from_ref(&p));
    assert_eq!(earliest.position(&p).await.unwrap(), 0);
    assert_eq!(
        values_of(&poll_until(&mut earliest, 5).await),
        numbered("r", 5)
    );

    let mut latest = env.consumer(&[("auto.offset.reset", "latest")]).await;
    latest.assign(from_ref(&p));
    assert_eq!(latest.position(&p).await.unwrap(), 5);
    poll_nothing(&mut latest, Duration::from_millis(300)).await;
    let producer = env.producer(&[]).await;
    for v in ["new-5", "new-6"] {
        producer.send(text("resets", v)).await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await.unwrap();
    let got = poll_until(&mut latest, 2).await;
    assert_eq!(offsets_of(&got), [(0, 5), (0, 6)]);
    assert_eq!(values_of(&got), ["new-5", "new-6"]);

    let mut none = env.consumer(&[("auto.offset.reset", "none")]).await;
    none.assign(from_ref(&p));
    let e = none.position(&p).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE), "{e}");
    let e = none.poll(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE), "{e}");
    // With a commit, `none` needs no reset.
    let mut grouped = env
        .consumer(&[("auto.offset.reset", "none"), ("group.id", "resetters")])
        .await;
    grouped.commit_sync(&[(p.clone(), 2)]).await.unwrap();
    grouped.assign(from_ref(&p));
    assert_eq!(grouped.position(&p).await.unwrap(), 2);
    assert_eq!(poll_until(&mut grouped, 5).await[0].offset, 2);

    // Past the log end: out of range, reset by the policy.
    earliest.seek(&p, 100).unwrap();
    let got = poll_until(&mut earliest, 7).await;
    assert_eq!(got[0].offset, 0);
    latest.seek(&p, 100).unwrap();
    // Long enough for a prefetch in flight (fetch.max.wait.ms) and the fetch at 100.
    poll_nothing(&mut latest, Duration::from_millis(1500)).await;
    assert_eq!(latest.position(&p).await.unwrap(), 7);
    none.seek(&p, 100).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let e = loop {
        match none.poll(Duration::from_millis(200)).await {
            Err(e) => break e,
            Ok(got) => assert!(got.is_empty(), "{got:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no OFFSET_OUT_OF_RANGE"
        );
    };
    assert_eq!(e.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE), "{e}");
}

/// Admin::consumer_group_lag: log end minus committed, per committed partition.
async fn consumer_group_lag(env: Env) {
    env.create_topic("lagging", 2).await;
    produce_values(&env, "lagging", 0, &numbered("a", 10)).await;
    produce_values(&env, "lagging", 1, &numbered("b", 4)).await;
    let admin = env.admin().await;
    assert!(admin
        .consumer_group_lag("laggers")
        .await
        .unwrap()
        .is_empty());
    let consumer = env.consumer(&[("group.id", "laggers")]).await;
    consumer
        .commit_sync(&[(tp("lagging", 0), 7), (tp("lagging", 1), 4)])
        .await
        .unwrap();
    let lag = |p: i32, committed: i64, end: i64| PartitionLag {
        partition: tp("lagging", p),
        committed: Some(committed),
        log_end_offset: end,
        lag: Some(end - committed),
    };
    assert_eq!(
        admin.consumer_group_lag("laggers").await.unwrap(),
        [lag(0, 7, 10), lag(1, 4, 4)]
    );
    produce_values(&env, "lagging", 1, &numbered("c", 5)).await;
    assert_eq!(
        admin.consumer_group_lag("laggers").await.unwrap(),
        [lag(0, 7, 10), lag(1, 4, 9)]
    );
}

/// DeleteRecords moves the log start; consumers and ListOffsets see the new one.
async fn delete_records_then_consume_from_the_new_log_start(env: Env) {
    env.create_topic("trimmed", 1).await;
    produce_values(&env, "trimmed", 0, &numbered("t", 10)).await;
    let p = tp("trimmed", 0);
    let admin = env.admin().await;
    let deleted = admin.delete_records(&[(p.clone(), 6)]).await.unwrap();
    assert_eq!(deleted[&p], Ok(6));
    let listed = admin
        .list_offsets(&[(p.clone(), OffsetSpec::Earliest)])
        .await
        .unwrap();
    assert_eq!(listed[&p].as_ref().unwrap().offset, 6);
    let listed = admin
        .list_offsets(&[(p.clone(), OffsetSpec::Latest)])
        .await
        .unwrap();
    assert_eq!(listed[&p].as_ref().unwrap().offset, 10);

    let mut consumer = env.consumer(&[("auto.offset.reset", "earliest")]).await;
    consumer.assign(from_ref(&p));
    assert_eq!(
        consumer.beginning_offsets(from_ref(&p)).await.unwrap()[&p],
        6
    );
    assert_eq!(consumer.position(&p).await.unwrap(), 6);
    let got = poll_until(&mut consumer, 4).await;
    assert_eq!(values_of(&got), numbered("t", 10)[6..]);
    assert_eq!(got[0].offset, 6);
    // Below the log start: out of range, reset to the new log start.
    consumer.seek(&p, 2).unwrap();
    let got = poll_until(&mut consumer, 4).await;
    assert_eq!(got[0].offset, 6);

    // Past the high watermark: refused; -1: everything.
    let deleted = admin.delete_records(&[(p.clone(), 20)]).await.unwrap();
    assert_eq!(
        deleted[&p].as_ref().unwrap_err().code,
        ErrorCode::OFFSET_OUT_OF_RANGE
    );
    let deleted = admin.delete_records(&[(p.clone(), -1)]).await.unwrap();
    assert_eq!(deleted[&p], Ok(10));
    assert_eq!(
        consumer.beginning_offsets(from_ref(&p)).await.unwrap()[&p],
        10
    );
}

/// acks=0: no answers, offsets unknown (-1), yet every record is written, in order.
async fn acks_zero_produce(env: Env) {
    const N: usize = 100;
    env.create_topic("fire-and-forget", 2).await;
    let producer = env.producer(&[("acks", "0"), ("linger.ms", "2")]).await;
    assert!(!producer.config().enable_idempotence);
    let sent: Vec<_> = (0..N)
        .map(|i| {
            producer.send(text("fire-and-forget", &format!("f{i}")).with_partition(i as i32 % 2))
        })
        .collect();
    for (i, s) in sent.into_iter().enumerate() {
        let md = s.await.unwrap();
        assert_eq!((md.partition, md.offset), (i as i32 % 2, -1), "record {i}");
    }
    producer.close(Duration::from_secs(10)).await.unwrap();

    let mut consumer = env.consumer(&[("auto.offset.reset", "earliest")]).await;
    consumer.assign(&[tp("fire-and-forget", 0), tp("fire-and-forget", 1)]);
    let got = poll_until(&mut consumer, N).await;
    for p in 0..2 {
        let mine: Vec<_> = got.iter().filter(|r| r.partition == p).cloned().collect();
        let expected: Vec<String> = (0..N)
            .filter(|i| *i as i32 % 2 == p)
            .map(|i| format!("f{i}"))
            .collect();
        assert_eq!(values_of(&mine), expected);
        assert_eq!(
            mine.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..(N / 2) as i64).collect::<Vec<_>>()
        );
    }
}

/// Two members of a consumer group (cooperative-sticky) split a topic, commit what they
/// processed, and the survivor takes everything back when the other closes: nothing is
/// lost and, with commits after processing and on revocation, nothing is read twice.
async fn group_members_share_partitions_and_rebalance(env: Env) {
    env.create_topic("shared", 4).await;
    let producer = env.producer(&[("linger.ms", "0")]).await;
    let send = |range: std::ops::Range<usize>| {
        let futures: Vec<_> = range
            .map(|i| {
                let mut r = ProducerRecord::new("shared", format!("v{i}").into());
                r.partition = Some((i % 4) as i32);
                producer.send(r)
            })
            .collect();
        async move {
            for f in futures {
                f.await.unwrap();
            }
        }
    };
    send(0..400).await;
    let props = [
        ("group.id", "sharing"),
        ("auto.offset.reset", "earliest"),
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("heartbeat.interval.ms", "100"),
        ("max.poll.records", "40"),
        ("fetch.max.wait.ms", "50"),
    ];
    let mut a = env.consumer(&props).await;
    let mut b = env.consumer(&props).await;
    a.subscribe(&["shared"]).unwrap();
    let mut seen: Vec<String> = Vec::new();
    async fn poll_once(c: &mut Consumer, seen: &mut Vec<String>) {
        let records = c.poll(Duration::from_millis(30)).await.unwrap();
        if !records.is_empty() {
            seen.extend(values_of(&records));
            // Refused while the group rebalances (as by Kafka): then the positions of
            // the partitions that move are committed when they are revoked
            // (enable.auto.commit), and the others at the next commit.
            if let Err(e) = c.commit_sync(&c.positions()).await {
                assert!(
                    e.code() == Some(ErrorCode::REBALANCE_IN_PROGRESS)
                        || e.code() == Some(ErrorCode::ILLEGAL_GENERATION),
                    "{e}"
                );
            }
        }
    }
    // a alone reads a part, then b joins and they split the partitions two and two.
    while seen.len() < 100 {
        poll_once(&mut a, &mut seen).await;
    }
    assert_eq!(a.assignment().len(), 4);
    b.subscribe(&["shared"]).unwrap();
    let mut rounds = 0;
    loop {
        poll_once(&mut a, &mut seen).await;
        poll_once(&mut b, &mut seen).await;
        let (x, y) = (a.assignment(), b.assignment());
        if x.len() == 2 && y.len() == 2 && x.iter().all(|tp| !y.contains(tp)) {
            break;
        }
        rounds += 1;
        assert!(rounds < 2_000, "no 2/2 split: {x:?} {y:?}");
    }
    send(400..600).await;
    while seen.len() < 600 {
        poll_once(&mut a, &mut seen).await;
        poll_once(&mut b, &mut seen).await;
        rounds += 1;
        assert!(rounds < 4_000, "only {} of 600 read", seen.len());
    }
    // b leaves; a takes its partitions back from b's commits.
    b.close().await.unwrap();
    send(600..800).await;
    while seen.len() < 800 || a.assignment().len() < 4 {
        poll_once(&mut a, &mut seen).await;
        rounds += 1;
        assert!(rounds < 6_000, "only {} of 800 read", seen.len());
    }
    let mut want: Vec<String> = (0..800).map(|i| format!("v{i}")).collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want, "every record once");
    // The group settles with a alone (a follow-up rebalance may still be running).
    let admin = env.admin().await;
    let mut settled = None;
    for _ in 0..200 {
        poll_once(&mut a, &mut seen).await;
        let d = admin.describe_groups(&["sharing"]).await.unwrap();
        let d = d["sharing"].as_ref().unwrap().clone();
        if d.state == "Stable" {
            settled = Some(d);
            break;
        }
    }
    let d = settled.expect("the group settles");
    assert_eq!(
        (d.members.len(), d.protocol.as_str()),
        (1, "cooperative-sticky")
    );
    assert_eq!(seen.len(), 800, "nothing more to read");
    a.close().await.unwrap();
    producer.close(Duration::from_secs(5)).await.unwrap();
}
