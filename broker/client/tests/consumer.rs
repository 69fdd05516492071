//! The consumer (assign mode) against a real in-process broker.

mod common;

use std::collections::BTreeMap;
use std::slice::from_ref;
use std::sync::atomic::{AtomicI16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brook_client::consumer::{ConsumerConfig, ConsumerRecord, OffsetAndTimestamp};
use brook_client::producer::serializer::StringSerde;
use brook_client::transport::BoxFuture;
use brook_client::{
    Admin, ApiVersions, ClientError, Cluster, Connector, Consumer, ErrorCode, NewTopic,
    TcpConnector, TopicPartition, Transport,
};
use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use brook_protocol::messages::*;
use brook_protocol::record::{BatchBuilder, Compression, Header};
use bytes::Bytes;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// What a test wrote: the fields a consumer must read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<Header>,
}

fn read(r: &ConsumerRecord) -> Written {
    Written {
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key.clone(),
        value: r.value.clone(),
        headers: r.headers.clone(),
    }
}

/// Produces one batch of `n` records in `compression` with a raw Produce request; returns
/// what was written (with the offsets assigned).
async fn produce(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    n: usize,
    compression: Compression,
    ts: i64,
) -> Vec<Written> {
    let mut b = BatchBuilder::new(compression, ts);
    let mut written = Vec::new();
    for i in 0..n {
        let key = (i % 4 != 3).then(|| Bytes::from(format!("{topic}-{partition}-k{i}")));
        let value = (i % 5 != 4).then(|| Bytes::from(format!("value {i} {}", "x".repeat(i))));
        let headers = if i % 2 == 0 {
            vec![
                Header::new("h1", Some(Bytes::from(format!("{i}")))),
                Header::new("nul", None),
            ]
        } else {
            Vec::new()
        };
        b.append(ts + i as i64, key.as_deref(), value.as_deref(), &headers);
        written.push(Written {
            offset: i as i64,
            timestamp: ts + i as i64,
            key,
            value,
            headers,
        });
    }
    let leader = cluster.leader(topic, partition).await.unwrap();
    let req = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(b.build(0).into()),
            }],
        }],
    };
    let (_, r) = cluster.call(leader, 11, req).await.unwrap();
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce to {topic}-{partition}");
    for w in &mut written {
        w.offset += p.base_offset;
    }
    written
}

async fn create(admin: &Admin, topic: &str, partitions: i32) {
    let r = admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
        .await
        .unwrap();
    r[topic].as_ref().unwrap();
}

async fn consumer(b: &common::TestBroker, props: &[(&str, &str)]) -> Consumer {
    let mut config = ConsumerConfig::new(b.bootstrap());
    for (k, v) in props {
        config.set(k, v).unwrap();
    }
    Consumer::connect(config).await.unwrap()
}

fn tps(topic: &str, n: i32) -> Vec<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// Polls until `n` records came (or 10 s passed); checks each poll's size limit.
async fn poll_n(c: &mut Consumer, n: usize, max_per_poll: usize) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        let got = c.poll(Duration::from_millis(500)).await.unwrap();
        assert!(got.len() <= max_per_poll, "{} > {max_per_poll}", got.len());
        out.extend(got);
    }
    out
}

fn by_partition(records: &[ConsumerRecord]) -> BTreeMap<i32, Vec<Written>> {
    let mut m: BTreeMap<i32, Vec<Written>> = BTreeMap::new();
    for r in records {
        m.entry(r.partition).or_default().push(read(r));
    }
    m
}

/// An `inject` code that corrupts the records of a fetch instead.
const CORRUPT: i16 = i16::MIN;

/// A TCP transport that advertises Fetch up to `fetch_max` only, records the highest Fetch
/// version used and counts Fetch and Metadata calls, and answers the next fetches with the
/// error codes in `inject` on every partition.
#[derive(Debug)]
struct CappedTransport {
    inner: Arc<dyn Transport>,
    versions: ApiVersions,
    used: Arc<AtomicI16>,
    fetches: Arc<AtomicUsize>,
    metadata: Arc<AtomicUsize>,
    inject: Arc<Mutex<Vec<i16>>>,
}

impl Transport for CappedTransport {
    fn call(
        &self,
        version: i16,
        body: RequestBody,
    ) -> BoxFuture<'_, Result<ResponseBody, ClientError>> {
        if body.api_key() == FetchRequest::API_KEY {
            self.used.fetch_max(version, Ordering::Relaxed);
            self.fetches.fetch_add(1, Ordering::Relaxed);
            if let Some(code) = self.inject.lock().unwrap().pop() {
                return Box::pin(async move {
                    let mut r = self.inner.call(version, body).await?;
                    if let ResponseBody::Fetch(f) = &mut r {
                        for t in &mut f.responses {
                            for p in &mut t.partitions {
                                if code == CORRUPT {
                                    // Flip the last byte of the records: a CRC mismatch.
                                    if let Some(r) = p.records.take() {
                                        let mut v = r.to_vec();
                                        if let Some(last) = v.last_mut() {
                                            *last ^= 0xff;
                                        }
                                        p.records = Some(v.into());
                                    }
                                } else {
                                    p.error_code = code;
                                    p.records = None;
                                }
                            }
                        }
                    }
                    Ok(r)
                });
            }
        }
        if body.api_key() == MetadataRequest::API_KEY {
            self.metadata.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.call(version, body)
    }
    fn send(&self, version: i16, body: RequestBody) -> BoxFuture<'_, Result<(), ClientError>> {
        self.inner.send(version, body)
    }
    fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
    fn peer(&self) -> &str {
        self.inner.peer()
    }
}

#[derive(Debug)]
struct CappedConnector {
    tcp: TcpConnector,
    fetch_max: i16,
    used: Arc<AtomicI16>,
    fetches: Arc<AtomicUsize>,
    metadata: Arc<AtomicUsize>,
    inject: Arc<Mutex<Vec<i16>>>,
}

impl Connector for CappedConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, ClientError>> {
        Box::pin(async move {
            let inner = self.tcp.connect(host, port).await?;
            let mut versions = inner.api_versions().clone();
            for r in &mut versions.ranges {
                if r.0 == FetchRequest::API_KEY {
                    r.2 = r.2.min(self.fetch_max);
                }
            }
            let t: Arc<dyn Transport> = Arc::new(CappedTransport {
                inner,
                versions,
                used: self.used.clone(),
                fetches: self.fetches.clone(),
                metadata: self.metadata.clone(),
                inject: self.inject.clone(),
            });
            Ok(t)
        })
    }
}

#[tokio::test]
async fn reads_every_record_of_every_codec_in_order_by_topic_id() {
    assert!(read_every_record(i16::MAX).await >= 13);
}

#[tokio::test]
async fn reads_every_record_of_every_codec_in_order_by_topic_name() {
    assert_eq!(read_every_record(12).await, 12);
}

/// Writes batches in every codec to 3 partitions and reads them back with Fetch up to
/// `fetch_max`; returns the Fetch version used.
async fn read_every_record(fetch_max: i16) -> i16 {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "orders", 3).await;
    let ts = now_ms();
    let mut expected: BTreeMap<i32, Vec<Written>> = BTreeMap::new();
    for partition in 0..3 {
        for (i, codec) in Compression::ALL.into_iter().enumerate() {
            let w = produce(admin.cluster(), "orders", partition, 10 + 7 * i, codec, ts).await;
            expected.entry(partition).or_default().extend(w);
        }
    }
    let total: usize = expected.values().map(Vec::len).sum();

    let used = Arc::new(AtomicI16::new(-1));
    let connector = CappedConnector {
        tcp: TcpConnector::default(),
        fetch_max,
        used: used.clone(),
        fetches: Arc::default(),
        metadata: Arc::default(),
        inject: Arc::default(),
    };
    let cluster = Cluster::connect(&b.bootstrap(), Arc::new(connector))
        .await
        .unwrap();
    let config = ConsumerConfig::from_properties([
        ("auto.offset.reset", "earliest"),
        ("max.poll.records", "13"),
    ])
    .unwrap();
    let mut c = Consumer::with_cluster(Arc::new(cluster), config);
    c.assign(&tps("orders", 3));
    assert_eq!(c.assignment(), tps("orders", 3));
    let got = poll_n(&mut c, total, 13).await;
    assert_eq!(got.len(), total);
    assert!(got.iter().all(|r| r.topic == "orders"));
    assert_eq!(by_partition(&got), expected);
    // Nothing more, and the positions are at the ends.
    assert!(c.poll(Duration::from_millis(100)).await.unwrap().is_empty());
    for p in 0..3 {
        let tp = TopicPartition::new("orders", p);
        let end = expected[&p].len() as i64;
        assert_eq!(c.position(&tp).await.unwrap(), end);
        assert_eq!(c.end_offsets(from_ref(&tp)).await.unwrap()[&tp], end);
        assert_eq!(c.beginning_offsets(from_ref(&tp)).await.unwrap()[&tp], 0);
    }
    // The deserialize helper.
    let first = got
        .iter()
        .find(|r| r.key.is_some() && r.value.is_some())
        .unwrap();
    let (k, v): (Option<String>, Option<String>) =
        first.deserialize(&StringSerde, &StringSerde).unwrap();
    assert_eq!(k.as_deref().map(str::as_bytes), first.key.as_deref());
    assert_eq!(v.as_deref().map(str::as_bytes), first.value.as_deref());
    used.load(Ordering::Relaxed)
}

#[tokio::test]
async fn max_poll_records_and_a_position_inside_a_batch() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "t", 1).await;
    let w = produce(admin.cluster(), "t", 0, 50, Compression::Zstd, now_ms()).await;
    let tp = TopicPartition::new("t", 0);
    let mut c = consumer(&b, &[("max.poll.records", "1")]).await;
    c.assign(from_ref(&tp));
    c.seek(&tp, 17).unwrap();
    assert_eq!(c.position(&tp).await.unwrap(), 17);
    let got = poll_n(&mut c, 1, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(read(&got[0]), w[17]);
    assert_eq!(c.position(&tp).await.unwrap(), 18);
    // The rest, one per poll, from the same prefetched batch.
    let rest = poll_n(&mut c, 32, 1).await;
    assert_eq!(rest.iter().map(read).collect::<Vec<_>>(), w[18..].to_vec());
}

#[tokio::test]
async fn seeks_and_positions() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "s", 2).await;
    let w0 = produce(admin.cluster(), "s", 0, 20, Compression::Lz4, now_ms()).await;
    let w1 = produce(admin.cluster(), "s", 1, 5, Compression::Gzip, now_ms()).await;
    let (p0, p1) = (TopicPartition::new("s", 0), TopicPartition::new("s", 1));
    let mut c = consumer(&b, &[]).await; // auto.offset.reset=latest
    c.assign(&tps("s", 2));
    assert_eq!(c.position(&p0).await.unwrap(), 20);
    assert_eq!(c.position(&p1).await.unwrap(), 5);
    assert!(c.poll(Duration::from_millis(200)).await.unwrap().is_empty());

    c.seek_to_beginning(from_ref(&p0)).unwrap();
    assert_eq!(c.position(&p0).await.unwrap(), 0);
    let got = poll_n(&mut c, 20, 500).await;
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), w0);

    c.seek(&p1, 2).unwrap();
    let got = poll_n(&mut c, 3, 500).await;
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), w1[2..].to_vec());

    c.seek(&p0, 5).unwrap();
    c.seek_to_end(from_ref(&p0)).unwrap();
    assert_eq!(c.position(&p0).await.unwrap(), 20);
    assert!(c.poll(Duration::from_millis(200)).await.unwrap().is_empty());

    // Not assigned.
    let other = TopicPartition::new("s", 9);
    assert!(c.seek(&other, 0).is_err());
    assert!(c.position(&other).await.is_err());
}

#[tokio::test]
async fn offsets_for_times_finds_the_first_record_at_or_after() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "times", 1).await;
    let ts = now_ms() - 100_000;
    produce(admin.cluster(), "times", 0, 10, Compression::None, ts).await; // ts..ts+9
    produce(
        admin.cluster(),
        "times",
        0,
        10,
        Compression::Snappy,
        ts + 1000,
    )
    .await;
    let tp = TopicPartition::new("times", 0);
    let c = consumer(&b, &[]).await;
    let r = c.offsets_for_times(&[(tp.clone(), ts + 5)]).await.unwrap();
    assert_eq!(
        r[&tp],
        Some(OffsetAndTimestamp {
            offset: 5,
            timestamp: ts + 5
        })
    );
    let r = c
        .offsets_for_times(&[(tp.clone(), ts + 500)])
        .await
        .unwrap();
    assert_eq!(r[&tp].map(|o| o.offset), Some(10));
    let r = c
        .offsets_for_times(&[(tp.clone(), ts + 5000)])
        .await
        .unwrap();
    assert_eq!(r[&tp], None);
}

#[tokio::test]
async fn auto_offset_reset_earliest_latest_none() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "r", 1).await;
    let w = produce(admin.cluster(), "r", 0, 10, Compression::None, now_ms()).await;
    let tp = TopicPartition::new("r", 0);

    let mut earliest = consumer(&b, &[("auto.offset.reset", "earliest")]).await;
    earliest.assign(from_ref(&tp));
    let got = poll_n(&mut earliest, 10, 500).await;
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), w);

    let mut latest = consumer(&b, &[("auto.offset.reset", "latest")]).await;
    latest.assign(from_ref(&tp));
    assert!(latest
        .poll(Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    let more = produce(admin.cluster(), "r", 0, 3, Compression::Gzip, now_ms()).await;
    let got = poll_n(&mut latest, 3, 500).await;
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), more);

    let mut none = consumer(&b, &[("auto.offset.reset", "none")]).await;
    none.assign(from_ref(&tp));
    let e = none.poll(Duration::from_millis(300)).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE), "{e}");
    // An out-of-range position fails too...
    none.seek(&tp, 1000).unwrap();
    let e = none.poll(Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE), "{e}");
    // ...and resets with earliest.
    earliest.seek(&tp, 1000).unwrap();
    let got = poll_n(&mut earliest, 13, 500).await;
    assert_eq!(got.len(), 13);
    assert_eq!(got[0].offset, 0);
}

#[tokio::test]
async fn pause_stops_the_records_of_a_partition() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "p", 2).await;
    produce(admin.cluster(), "p", 0, 10, Compression::None, now_ms()).await;
    produce(admin.cluster(), "p", 1, 10, Compression::Lz4, now_ms()).await;
    let (p0, p1) = (TopicPartition::new("p", 0), TopicPartition::new("p", 1));
    let mut c = consumer(&b, &[("auto.offset.reset", "earliest")]).await;
    c.assign(&tps("p", 2));
    c.pause(from_ref(&p1)).unwrap();
    assert_eq!(c.paused(), vec![p1.clone()]);
    let got = poll_n(&mut c, 10, 500).await;
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.partition == 0));
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    assert_eq!(c.position(&p1).await.unwrap(), 0);
    c.resume(from_ref(&p1)).unwrap();
    assert!(c.paused().is_empty());
    let got = poll_n(&mut c, 10, 500).await;
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.partition == 1));
    assert_eq!(c.position(&p0).await.unwrap(), 10);
}

#[tokio::test]
async fn commits_and_committed_offsets() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "c", 3).await;
    let mut written = BTreeMap::new();
    for p in 0..3 {
        written.insert(
            p,
            produce(admin.cluster(), "c", p, 10, Compression::Zstd, now_ms()).await,
        );
    }
    let group = [("group.id", "billing"), ("auto.offset.reset", "earliest")];
    let mut c = consumer(&b, &group).await;
    c.assign(&tps("c", 3));
    assert!(c.committed(&tps("c", 3)).await.unwrap().is_empty());
    let commits = vec![
        (TopicPartition::new("c", 0), 4),
        (TopicPartition::new("c", 1), 10),
    ];
    c.commit_sync(&commits).await.unwrap();
    c.commit_async(&[(TopicPartition::new("c", 2), 7)])
        .await
        .unwrap()
        .unwrap();
    let committed = c.committed(&tps("c", 3)).await.unwrap();
    assert_eq!(committed[&TopicPartition::new("c", 0)].offset, 4);
    assert_eq!(committed[&TopicPartition::new("c", 1)].offset, 10);
    assert_eq!(committed[&TopicPartition::new("c", 2)].offset, 7);

    // A fresh consumer of the group starts from the commits.
    let mut fresh = consumer(&b, &group).await;
    fresh.assign(&tps("c", 3));
    assert_eq!(
        fresh.position(&TopicPartition::new("c", 0)).await.unwrap(),
        4
    );
    let got = poll_n(&mut fresh, 6 + 3, 500).await;
    let mut expected = BTreeMap::new();
    expected.insert(0, written[&0][4..].to_vec());
    expected.insert(2, written[&2][7..].to_vec());
    assert_eq!(by_partition(&got), expected);

    // Commit the positions; a third consumer has nothing left to read.
    fresh.commit_sync(&fresh.positions()).await.unwrap();
    let mut third = consumer(&b, &group).await;
    third.assign(&tps("c", 3));
    assert!(third
        .poll(Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());

    // Without a group.id commits are refused.
    let plain = consumer(&b, &[]).await;
    assert!(plain.commit_sync(&commits).await.is_err());
    assert!(plain.committed(&tps("c", 1)).await.is_err());
}

#[tokio::test]
async fn a_waiting_fetch_returns_records_appended_meanwhile() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "w", 1).await;
    let tp = TopicPartition::new("w", 0);
    let mut c = consumer(&b, &[("fetch.max.wait.ms", "3000")]).await;
    c.assign(from_ref(&tp));
    assert_eq!(c.position(&tp).await.unwrap(), 0);
    // The first poll sends a fetch the broker holds; produce while it waits.
    assert!(c.poll(Duration::from_millis(100)).await.unwrap().is_empty());
    let cluster = admin.cluster().clone();
    let producer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        produce(&cluster, "w", 0, 5, Compression::Snappy, now_ms()).await
    });
    let start = Instant::now();
    let got = poll_n(&mut c, 5, 500).await;
    let written = producer.await.unwrap();
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), written);
    // Answered when the records arrived, not at the end of fetch.max.wait.ms.
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_topic_created_after_assign_is_read_once_it_exists() {
    let b = common::start().await;
    let admin = b.admin().await;
    let tp = TopicPartition::new("later", 0);
    let mut c = consumer(&b, &[("auto.offset.reset", "earliest")]).await;
    c.assign(from_ref(&tp));
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    create(&admin, "later", 1).await;
    let w = produce(admin.cluster(), "later", 0, 4, Compression::Lz4, now_ms()).await;
    let got = poll_n(&mut c, 4, 500).await;
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), w);
}

#[tokio::test]
async fn the_next_fetch_is_sent_while_the_application_processes() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "pre", 1).await;
    let first = produce(admin.cluster(), "pre", 0, 10, Compression::None, now_ms()).await;
    let fetches = Arc::new(AtomicUsize::new(0));
    let connector = CappedConnector {
        tcp: TcpConnector::default(),
        fetch_max: i16::MAX,
        used: Arc::default(),
        fetches: fetches.clone(),
        metadata: Arc::default(),
        inject: Arc::default(),
    };
    let cluster = Cluster::connect(&b.bootstrap(), Arc::new(connector))
        .await
        .unwrap();
    let config = ConsumerConfig::from_properties([
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "3000"),
    ])
    .unwrap();
    let mut c = Consumer::with_cluster(Arc::new(cluster), config);
    c.assign(&tps("pre", 1));
    let got = poll_n(&mut c, 10, 500).await;
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), first);
    // The poll that returned them left the next fetch in flight: the first fetch and
    // that prefetch, sent while the application "processes".
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fetches.load(Ordering::Relaxed) < 2 {
        assert!(std::time::Instant::now() < deadline, "no prefetch was sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fetches.load(Ordering::Relaxed), 2);
    // Records appended meanwhile come back through the prefetch (the broker holds it up to
    // fetch.max.wait.ms), so a poll that does not wait returns them.
    let more = produce(admin.cluster(), "pre", 0, 3, Compression::Zstd, now_ms()).await;
    // Polls that do not wait pick them up (how soon depends on the machine's load).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < more.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "the appended records never came"
        );
        got.extend(c.poll(Duration::ZERO).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), more);
}

#[tokio::test]
async fn leader_errors_refresh_metadata_and_fetching_goes_on() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "moved", 2).await;
    let w0 = produce(admin.cluster(), "moved", 0, 6, Compression::Gzip, now_ms()).await;
    let w1 = produce(admin.cluster(), "moved", 1, 6, Compression::None, now_ms()).await;
    let metadata = Arc::new(AtomicUsize::new(0));
    let inject = Arc::new(Mutex::new(vec![
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
        ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
    ]));
    let connector = CappedConnector {
        tcp: TcpConnector::default(),
        fetch_max: i16::MAX,
        used: Arc::default(),
        fetches: Arc::default(),
        metadata: metadata.clone(),
        inject: inject.clone(),
    };
    let cluster = Cluster::connect(&b.bootstrap(), Arc::new(connector))
        .await
        .unwrap();
    let config = ConsumerConfig::from_properties([
        ("auto.offset.reset", "earliest"),
        ("isolation.level", "read_committed"),
    ])
    .unwrap();
    let mut c = Consumer::with_cluster(Arc::new(cluster), config);
    c.assign(&tps("moved", 2));
    let before = metadata.load(Ordering::Relaxed);
    let got = poll_n(&mut c, 12, 500).await;
    assert!(inject.lock().unwrap().is_empty());
    let mut expected = BTreeMap::new();
    expected.insert(0, w0);
    expected.insert(1, w1);
    assert_eq!(by_partition(&got), expected);
    // Each injected error made the consumer refresh its metadata.
    assert!(metadata.load(Ordering::Relaxed) >= before + 2);
    // read_committed: the end offsets are the last stable offsets (no transactions here).
    assert_eq!(
        c.end_offsets(&tps("moved", 1)).await.unwrap()[&tps("moved", 1)[0]],
        6
    );
}

#[tokio::test]
async fn a_corrupt_batch_fails_the_poll() {
    let b = common::start().await;
    let admin = b.admin().await;
    create(&admin, "bad", 1).await;
    let w = produce(admin.cluster(), "bad", 0, 5, Compression::Snappy, now_ms()).await;
    let inject = Arc::new(Mutex::new(vec![CORRUPT]));
    let connector = CappedConnector {
        tcp: TcpConnector::default(),
        fetch_max: i16::MAX,
        used: Arc::default(),
        fetches: Arc::default(),
        metadata: Arc::default(),
        inject: inject.clone(),
    };
    let cluster = Cluster::connect(&b.bootstrap(), Arc::new(connector))
        .await
        .unwrap();
    let config = ConsumerConfig::from_properties([("auto.offset.reset", "earliest")]).unwrap();
    let mut c = Consumer::with_cluster(Arc::new(cluster), config);
    c.assign(&tps("bad", 1));
    let e = c.poll(Duration::from_secs(5)).await.unwrap_err();
    assert!(
        e.to_string().contains("corrupt record batch in bad-0"),
        "{e}"
    );
    // Nothing was returned or skipped: the next fetch (intact) reads it all.
    assert_eq!(c.position(&tps("bad", 1)[0]).await.unwrap(), 0);
    let got = poll_n(&mut c, 5, 500).await;
    assert_eq!(got.iter().map(read).collect::<Vec<_>>(), w);
}
