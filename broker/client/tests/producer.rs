//! The producer against a real in-process broker on port 0, read back with raw Fetch
//! requests.
//!
//! The broker runs on a runtime of its own so that a test can stop it the hard way
//! (shutting that runtime down drops every connection) and start it again on the same
//! directory and port.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::producer::partitioner::partition_for_key;
use brook_client::producer::{ProducerConfig, ProducerRecord, RecordMetadata};
use brook_client::{Admin, AdminConfig, ClientError, ErrorCode, NewTopic, Producer};
use brook_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use brook_protocol::messages::FetchRequest;
use brook_protocol::record::{BatchIter, RecordBatch};
use bytes::Bytes;

struct Server {
    port: u16,
    dir: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
    broker: Option<Arc<Broker>>,
}

impl Server {
    /// A broker on `dir`, listening on `port` (0: any).
    fn start_at(dir: &Path, port: u16) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(async {
            let mut tries = 0;
            loop {
                match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => break l,
                    Err(e) if tries < 50 => {
                        tries += 1;
                        eprintln!("bind {port}: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("bind {port}: {e}"),
                }
            }
        });
        let port = listener.local_addr().unwrap().port();
        let broker = Arc::new(
            Broker::open(dir, BrokerConfig::default(), ("127.0.0.1".into(), port)).unwrap(),
        );
        runtime.spawn(server::run(
            listener,
            broker.clone(),
            std::future::pending::<()>(),
        ));
        Server {
            port,
            dir: dir.to_owned(),
            runtime: Some(runtime),
            broker: Some(broker),
        }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server task and every connection, then closes the logs.
    async fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            tokio::task::spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(10)))
                .await
                .unwrap();
        }
        if let Some(b) = self.broker.take() {
            b.close().unwrap();
        }
    }

    /// Starts the stopped broker again on the same directory and port.
    async fn start_again(&mut self) {
        let (dir, port) = (self.dir.clone(), self.port);
        let next = tokio::task::spawn_blocking(move || Server::start_at(&dir, port))
            .await
            .unwrap();
        *self = next;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        if let Some(b) = self.broker.take() {
            let _ = b.close();
        }
    }
}

async fn start() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let server = tokio::task::spawn_blocking(move || Server::start_at(&path, 0))
        .await
        .unwrap();
    (server, dir)
}

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin = Admin::connect(bootstrap, AdminConfig::default())
        .await
        .unwrap();
    let r = admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
        .await
        .unwrap();
    r[topic].as_ref().unwrap();
}

fn config(bootstrap: &str, props: &[(&str, &str)]) -> ProducerConfig {
    let mut c = ProducerConfig::default();
    c.set("bootstrap.servers", bootstrap).unwrap();
    for (k, v) in props {
        c.set(k, v).unwrap();
    }
    c
}

fn record(topic: &str, key: &str, value: &str) -> ProducerRecord {
    ProducerRecord::new(topic, Bytes::from(value.to_owned())).with_key(Bytes::from(key.to_owned()))
}

/// Every batch stored in `topic`-`partition`, read with raw Fetch requests.
async fn stored_batches(producer: &Producer, topic: &str, partition: i32) -> Vec<RecordBatch> {
    let cluster = producer.cluster();
    let leader = cluster.leader(topic, partition).await.unwrap();
    let mut offset = 0;
    let mut out = Vec::new();
    loop {
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 8 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: topic.into(),
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: offset,
                    partition_max_bytes: 8 << 20,
                    log_start_offset: -1,
                    current_leader_epoch: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let (_, r) = cluster.call(leader, 12, req).await.unwrap();
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {topic}-{partition}");
        let records = p.records.clone().unwrap_or_default();
        let mut got = 0;
        for b in BatchIter::new(&records) {
            let Ok((h, bytes)) = b else { break };
            let batch = RecordBatch::decode(bytes, 64 << 20).unwrap();
            offset = h.last_offset() + 1;
            out.push(batch);
            got += 1;
        }
        if got == 0 || offset >= p.high_watermark {
            return out;
        }
    }
}

/// `(offset, key, value)` of a record.
type Stored = (i64, Vec<u8>, Vec<u8>);

/// `(offset, key, value)` of every stored record.
fn records_of(batches: &[RecordBatch]) -> Vec<Stored> {
    batches
        .iter()
        .flat_map(|b| {
            b.records.iter().map(|r| {
                (
                    r.offset(b.header.base_offset),
                    r.key.as_deref().unwrap_or_default().to_vec(),
                    r.value.as_deref().unwrap_or_default().to_vec(),
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keyed_records_in_order_and_idempotent() {
    let (server, _dir) = start().await;
    create_topic(&server.bootstrap(), "orders", 3).await;
    let producer = Producer::connect(config(&server.bootstrap(), &[]))
        .await
        .unwrap();
    assert!(producer.config().enable_idempotence);

    let n = 10_000;
    let futures: Vec<_> = (0..n)
        .map(|i| producer.send(record("orders", &format!("key-{i}"), &format!("value-{i}"))))
        .collect();
    let mut sent: BTreeMap<i32, Vec<Stored>> = BTreeMap::new();
    for (i, f) in futures.into_iter().enumerate() {
        let m = f.await.unwrap();
        let key = format!("key-{i}");
        assert_eq!(m.topic, "orders");
        assert_eq!(
            m.partition,
            partition_for_key(key.as_bytes(), 3),
            "murmur2 partition"
        );
        assert_eq!(m.serialized_key_size, key.len() as i32);
        sent.entry(m.partition).or_default().push((
            m.offset,
            key.into_bytes(),
            format!("value-{i}").into_bytes(),
        ));
    }
    assert_eq!(sent.len(), 3, "all three partitions used");
    let mut producer_ids = std::collections::BTreeSet::new();
    for (partition, records) in &sent {
        // Contiguous offsets from 0, in send order.
        let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
        assert_eq!(offsets, (0..records.len() as i64).collect::<Vec<_>>());
        let batches = stored_batches(&producer, "orders", *partition).await;
        assert_eq!(
            &records_of(&batches),
            records,
            "partition {partition} read back"
        );
        assert!(batches.len() < records.len(), "records were batched");
        // One producer id, epoch 0, contiguous sequences.
        let mut seq = 0;
        for b in &batches {
            producer_ids.insert(b.header.producer_id);
            assert_eq!(b.header.producer_epoch, 0);
            assert_eq!(b.header.base_sequence, seq, "partition {partition}");
            seq += b.header.records_count;
        }
    }
    assert_eq!(producer_ids.len(), 1);
    assert!(*producer_ids.first().unwrap() >= 0);
    producer.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_and_one_and_auto_created_topic() {
    let (server, _dir) = start().await;
    // acks=1 to a topic nobody created: Metadata auto-creates it.
    let p1 = Producer::connect(config(&server.bootstrap(), &[("acks", "1")]))
        .await
        .unwrap();
    assert!(
        !p1.config().enable_idempotence,
        "acks=1 turns idempotence off"
    );
    let fs: Vec<_> = (0..100)
        .map(|i| p1.send(record("auto", "k", &format!("v{i}")).with_partition(0)))
        .collect();
    for (i, f) in fs.into_iter().enumerate() {
        let m = f.await.unwrap();
        assert_eq!((m.partition, m.offset), (0, i as i64));
    }
    let batches = stored_batches(&p1, "auto", 0).await;
    assert_eq!(records_of(&batches).len(), 100);
    assert!(batches.iter().all(|b| b.header.producer_id == -1));

    create_topic(&server.bootstrap(), "fire", 1).await;
    let p0 = Producer::connect(config(&server.bootstrap(), &[("acks", "0")]))
        .await
        .unwrap();
    let fs: Vec<_> = (0..100)
        .map(|i| p0.send(record("fire", "k", &format!("v{i}"))))
        .collect();
    for f in fs {
        assert_eq!(f.await.unwrap().offset, -1, "acks=0 knows no offsets");
    }
    p0.flush().await;
    // The broker answers nothing: wait until it has appended everything.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = records_of(&stored_batches(&p1, "fire", 0).await);
        if got.len() == 100 {
            let values: Vec<Vec<u8>> = got.into_iter().map(|r| r.2).collect();
            let expected: Vec<Vec<u8>> = (0..100).map(|i| format!("v{i}").into_bytes()).collect();
            assert_eq!(values, expected);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acks=0 records missing: {}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p0.close(Duration::from_secs(5)).await.unwrap();
    p1.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_wait_for_buffer_memory_in_order() {
    let (server, _dir) = start().await;
    create_topic(&server.bootstrap(), "tight", 1).await;
    // Room for a few batches only: most sends wait for memory, and keep their order.
    let p = Arc::new(
        Producer::connect(config(
            &server.bootstrap(),
            &[("buffer.memory", "8192"), ("batch.size", "2048")],
        ))
        .await
        .unwrap(),
    );
    let value = "x".repeat(100);
    let fs: Vec<_> = (0..2_000)
        .map(|i| p.send(record("tight", &format!("k{i}"), &value)))
        .collect();
    // Every producer future is Send: it can be awaited on another task.
    let p2 = p.clone();
    tokio::spawn(async move { p2.flush().await }).await.unwrap();
    for (i, f) in fs.into_iter().enumerate() {
        assert_eq!(f.await.unwrap().offset, i as i64);
    }
    let p2 = p.clone();
    tokio::spawn(async move { p2.close(Duration::from_secs(5)).await })
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linger_batches_records() {
    let (server, _dir) = start().await;
    create_topic(&server.bootstrap(), "lingered", 1).await;
    let p = Producer::connect(config(&server.bootstrap(), &[("linger.ms", "200")]))
        .await
        .unwrap();
    let fs: Vec<_> = (0..50)
        .map(|i| p.send(record("lingered", "k", &format!("v{i}"))))
        .collect();
    for f in fs {
        f.await.unwrap();
    }
    let batches = stored_batches(&p, "lingered", 0).await;
    assert_eq!(records_of(&batches).len(), 50);
    assert!(
        batches.len() <= 2,
        "{} batches for 50 records",
        batches.len()
    );
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_max_request_size_fails_alone() {
    let (server, _dir) = start().await;
    create_topic(&server.bootstrap(), "sizes", 1).await;
    let p = Producer::connect(config(&server.bootstrap(), &[("max.request.size", "1000")]))
        .await
        .unwrap();
    let small1 = p.send(record("sizes", "a", "small"));
    let big = p.send(record("sizes", "b", &"x".repeat(2000)));
    let small2 = p.send(record("sizes", "c", "small"));
    let e = big.await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::MESSAGE_TOO_LARGE), "{e}");
    assert!(e.to_string().contains("max.request.size"), "{e}");
    assert_eq!(small1.await.unwrap().offset, 0);
    assert_eq!(small2.await.unwrap().offset, 1);
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_everything_and_close_refuses_more() {
    let (server, _dir) = start().await;
    create_topic(&server.bootstrap(), "flushed", 2).await;
    // A linger far longer than the test: only flush sends.
    let p = Producer::connect(config(&server.bootstrap(), &[("linger.ms", "60000")]))
        .await
        .unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    for i in 0..200 {
        let acked = acked.clone();
        p.send_with_callback(record("flushed", &format!("k{i}"), "v"), move |r| {
            r.unwrap();
            acked.fetch_add(1, Ordering::SeqCst);
        });
    }
    let started = Instant::now();
    p.flush().await;
    assert_eq!(acked.load(Ordering::SeqCst), 200);
    assert!(started.elapsed() < Duration::from_secs(10));
    p.close(Duration::from_secs(5)).await.unwrap();
    let e = p.send(record("flushed", "k", "v")).await.unwrap_err();
    assert!(matches!(e, ClientError::Closed), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_a_timeout_fails_what_is_left() {
    let (mut server, _dir) = start().await;
    create_topic(&server.bootstrap(), "gone", 1).await;
    let p = Producer::connect(config(&server.bootstrap(), &[]))
        .await
        .unwrap();
    p.send(record("gone", "k", "v")).await.unwrap();
    server.stop().await;
    let f = p.send(record("gone", "k", "v"));
    let started = Instant::now();
    let e = p.close(Duration::from_millis(300)).await.unwrap_err();
    assert!(e.to_string().contains("1 records were failed"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(f.await, Err(ClientError::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_and_duplicates_nothing() {
    let (mut server, _dir) = start().await;
    create_topic(&server.bootstrap(), "durable", 3).await;
    let p = Producer::connect(config(
        &server.bootstrap(),
        &[("linger.ms", "2"), ("retry.backoff.ms", "50")],
    ))
    .await
    .unwrap();
    let total = 6_000;
    type Results = std::sync::Mutex<Vec<Option<Result<RecordMetadata, String>>>>;
    let results: Arc<Results> = Arc::new(std::sync::Mutex::new(vec![None; total]));
    let completed = Arc::new(AtomicUsize::new(0));
    let mut completed_at_stop = 0;
    // Mid-chunk: the last records sent are still in the producer.
    let stop_at = total / 2 + 250;
    for i in 0..total {
        let (results, done) = (results.clone(), completed.clone());
        p.send_with_callback(
            record("durable", &format!("key-{i}"), &format!("value-{i}")),
            move |r| {
                results.lock().unwrap()[i] = Some(r.map_err(|e| e.to_string()));
                done.fetch_add(1, Ordering::SeqCst);
            },
        );
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if i == stop_at {
            completed_at_stop = completed.load(Ordering::SeqCst);
            server.stop().await;
        }
        if i == stop_at + 1_000 {
            // Records sent while the broker is down wait in the producer.
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.start_again().await;
        }
    }
    p.flush().await;
    // Usually some of the records sent just before the stop were unacknowledged then;
    // the thousand sent while it was down certainly were.
    eprintln!(
        "{completed_at_stop} of {} records done when the broker stopped",
        stop_at + 1
    );
    let results = std::mem::take(&mut *results.lock().unwrap());
    let mut acked: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for (i, r) in results.into_iter().enumerate() {
        let m = r.unwrap().unwrap_or_else(|e| panic!("record {i}: {e}"));
        acked
            .entry(m.partition)
            .or_default()
            .push((m.offset, format!("value-{i}").into_bytes()));
    }
    for (partition, records) in &acked {
        let stored = records_of(&stored_batches(&p, "durable", *partition).await);
        // Exactly once and in send order: the stored values are the acknowledged ones.
        let stored_values: Vec<&Vec<u8>> = stored.iter().map(|r| &r.2).collect();
        let acked_values: Vec<&Vec<u8>> = records.iter().map(|r| &r.1).collect();
        assert_eq!(stored_values, acked_values, "partition {partition}");
        let stored_offsets: Vec<i64> = stored.iter().map(|r| r.0).collect();
        let acked_offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
        assert_eq!(stored_offsets, acked_offsets, "partition {partition}");
    }
    p.close(Duration::from_secs(10)).await.unwrap();
}

/// A broker made of scripted answers: one node leading `t`-0, producer id 7, and Produce
/// error codes taken from a script (0 once it runs out). Records the batch headers sent.
#[derive(Debug)]
struct Scripted {
    versions: brook_client::ApiVersions,
    script: std::sync::Mutex<std::collections::VecDeque<i16>>,
    seen: std::sync::Mutex<Vec<brook_protocol::record::BatchHeader>>,
    next_offset: std::sync::atomic::AtomicI64,
}

impl brook_client::Transport for Scripted {
    fn call(
        &self,
        _version: i16,
        body: brook_protocol::messages::RequestBody,
    ) -> brook_client::transport::BoxFuture<
        '_,
        Result<brook_protocol::messages::ResponseBody, ClientError>,
    > {
        use brook_protocol::messages::metadata_response::*;
        use brook_protocol::messages::produce_response::*;
        use brook_protocol::messages::*;
        Box::pin(async move {
            Ok(match body {
                RequestBody::Metadata(_) => ResponseBody::Metadata(MetadataResponse {
                    brokers: vec![MetadataResponseBroker {
                        node_id: 0,
                        host: "fake".into(),
                        port: 1,
                        rack: None,
                    }],
                    controller_id: 0,
                    topics: vec![MetadataResponseTopic {
                        name: Some("t".into()),
                        partitions: vec![MetadataResponsePartition {
                            partition_index: 0,
                            leader_id: 0,
                            replica_nodes: vec![0],
                            isr_nodes: vec![0],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                RequestBody::InitProducerId(_) => {
                    ResponseBody::InitProducerId(InitProducerIdResponse {
                        producer_id: 7,
                        producer_epoch: 0,
                        ..Default::default()
                    })
                }
                RequestBody::Produce(req) => {
                    let mut responses = Vec::new();
                    for t in req.topic_data {
                        let mut partition_responses = Vec::new();
                        for p in t.partition_data {
                            let records = p.records.unwrap_or_default();
                            let h = brook_protocol::record::BatchHeader::parse(&records).unwrap();
                            self.seen.lock().unwrap().push(h);
                            let code = self.script.lock().unwrap().pop_front().unwrap_or(0);
                            let base_offset = if code == 0 || code == 46 {
                                self.next_offset
                                    .fetch_add(i64::from(h.records_count), Ordering::SeqCst)
                            } else {
                                -1
                            };
                            partition_responses.push(PartitionProduceResponse {
                                index: p.index,
                                error_code: code,
                                base_offset,
                                log_append_time_ms: -1,
                                ..Default::default()
                            });
                        }
                        responses.push(TopicProduceResponse {
                            name: t.name,
                            partition_responses,
                        });
                    }
                    ResponseBody::Produce(ProduceResponse {
                        responses,
                        ..Default::default()
                    })
                }
                other => panic!("unexpected request {}", other.api_key()),
            })
        })
    }

    fn send(
        &self,
        _version: i16,
        _body: brook_protocol::messages::RequestBody,
    ) -> brook_client::transport::BoxFuture<'_, Result<(), ClientError>> {
        Box::pin(async { Ok(()) })
    }

    fn api_versions(&self) -> &brook_client::ApiVersions {
        &self.versions
    }

    fn is_closed(&self) -> bool {
        false
    }

    fn peer(&self) -> &str {
        "fake:1"
    }
}

#[derive(Debug)]
struct ScriptedConnector(Arc<Scripted>);

/// A [`Scripted`] broker answering Produce with `script`'s codes, and a cluster view of it.
fn scripted(script: impl IntoIterator<Item = i16>) -> (Arc<Scripted>, brook_client::Cluster) {
    let scripted = Arc::new(Scripted {
        versions: brook_client::ApiVersions {
            ranges: vec![(0, 3, 11), (3, 0, 12), (22, 0, 5)],
        },
        script: std::sync::Mutex::new(script.into_iter().collect()),
        seen: std::sync::Mutex::new(Vec::new()),
        next_offset: std::sync::atomic::AtomicI64::new(0),
    });
    let cluster =
        brook_client::Cluster::new("fake:1", Arc::new(ScriptedConnector(scripted.clone())))
            .unwrap();
    (scripted, cluster)
}

impl brook_client::Connector for ScriptedConnector {
    fn connect<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> brook_client::transport::BoxFuture<'a, Result<Arc<dyn brook_client::Transport>, ClientError>>
    {
        let t: Arc<dyn brook_client::Transport> = self.0.clone();
        Box::pin(async move { Ok(t) })
    }
}

#[tokio::test]
async fn sequence_errors_bump_the_epoch_and_duplicates_succeed() {
    // OUT_OF_ORDER_SEQUENCE_NUMBER, then DUPLICATE_SEQUENCE_NUMBER, then success.
    let (scripted, cluster) = scripted([45, 46]);
    let p = Producer::with_cluster(Arc::new(cluster), ProducerConfig::default()).unwrap();

    let e = p.send(record("t", "a", "1")).await.unwrap_err();
    assert_eq!(
        e.code(),
        Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
        "{e}"
    );
    assert!(e.to_string().contains("bumped its epoch"), "{e}");
    let m = p.send(record("t", "b", "2")).await.unwrap();
    assert_eq!(m.offset, 0, "a duplicate is a success");
    let m = p.send(record("t", "c", "3")).await.unwrap();
    assert_eq!(m.offset, 1);

    let seen: Vec<(i64, i16, i32)> = scripted
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|h| (h.producer_id, h.producer_epoch, h.base_sequence))
        .collect();
    assert_eq!(seen, vec![(7, 0, 0), (7, 1, 0), (7, 1, 1)]);
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn retriable_errors_resend_the_same_batch() {
    // NOT_LEADER_OR_FOLLOWER, then LEADER_NOT_AVAILABLE, then success.
    let (scripted, cluster) = scripted([6, 5]);
    let mut config = ProducerConfig::default();
    config.set("retry.backoff.ms", "10").unwrap();
    let p = Producer::with_cluster(Arc::new(cluster), config).unwrap();
    let m = p.send(record("t", "a", "1")).await.unwrap();
    assert_eq!(m.offset, 0);
    let seen: Vec<(i64, i16, i32)> = scripted
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|h| (h.producer_id, h.producer_epoch, h.base_sequence))
        .collect();
    assert_eq!(
        seen,
        vec![(7, 0, 0); 3],
        "the same batch, sequence unchanged"
    );
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn delivery_timeout_ends_retries() {
    // NOT_ENOUGH_REPLICAS (retriable) for ever.
    let (scripted, cluster) = scripted(std::iter::repeat_n(19, 10_000));
    let mut config = ProducerConfig::default();
    for (k, v) in [
        ("retry.backoff.ms", "10"),
        ("linger.ms", "0"),
        ("request.timeout.ms", "100"),
        ("delivery.timeout.ms", "300"),
    ] {
        config.set(k, v).unwrap();
    }
    let p = Producer::with_cluster(Arc::new(cluster), config).unwrap();
    let started = Instant::now();
    let e = p.send(record("t", "a", "1")).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::REQUEST_TIMED_OUT), "{e}");
    assert!(e.to_string().contains("delivery.timeout.ms"), "{e}");
    assert!(e.to_string().contains("NOT_ENOUGH_REPLICAS"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(scripted.seen.lock().unwrap().len() > 1, "it was retried");
    p.close(Duration::from_secs(1)).await.unwrap();
}

/// Several requests for one partition drained together reach the connection in the order
/// they were drained (they used to be spawned one task each, and tokio ran the last spawned
/// first), so the broker sees every sequence in order and refuses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_reach_the_connection_in_drain_order() {
    let (scripted, cluster) = scripted(std::iter::empty());
    let mut config = ProducerConfig::default();
    // One record per batch, all queued before the first is sent, five requests at a time.
    for (k, v) in [
        ("batch.size", "1"),
        ("linger.ms", "60000"),
        ("max.in.flight.requests.per.connection", "5"),
    ] {
        config.set(k, v).unwrap();
    }
    let p = Producer::with_cluster(Arc::new(cluster), config).unwrap();
    let n = 400;
    let futures: Vec<_> = (0..n)
        .map(|i| p.send(record("t", "k", &format!("v{i}"))))
        .collect();
    p.flush().await;
    for (i, f) in futures.into_iter().enumerate() {
        let m = f.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
        assert_eq!(m.offset, i as i64, "record {i}");
    }
    let sequences: Vec<i32> = scripted
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.base_sequence)
        .collect();
    assert_eq!(sequences, (0..n).collect::<Vec<i32>>());
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_append_time_is_reported() {
    let (server, _dir) = start().await;
    let admin = Admin::connect(&server.bootstrap(), AdminConfig::default())
        .await
        .unwrap();
    let r = admin
        .create_topics(
            &[NewTopic::new("appended", 1, 1).config("message.timestamp.type", "LogAppendTime")],
            false,
        )
        .await
        .unwrap();
    r["appended"].as_ref().unwrap();
    let p = Producer::connect(config(&server.bootstrap(), &[]))
        .await
        .unwrap();
    let m = p
        .send(record("appended", "k", "v").with_timestamp(1_000))
        .await
        .unwrap();
    assert!(
        m.timestamp > 1_000_000_000_000,
        "the broker's time: {}",
        m.timestamp
    );
    let m = p.send(record("lingered-create-time", "k", "v").with_timestamp(1_000));
    assert_eq!(
        m.await.unwrap().timestamp,
        1_000,
        "CreateTime topics keep the record's"
    );
    p.close(Duration::from_secs(5)).await.unwrap();
}

/// A transport that loses Produce requests on a seeded schedule: some fail before they
/// reach the broker, some reach it and lose their response (the producer cannot know
/// whether they were written). Everything else passes through to TCP.
#[derive(Debug)]
struct Lossy {
    inner: Arc<dyn brook_client::Transport>,
    rng: std::sync::Mutex<u64>,
    /// Faults injected, across every connection of the connector.
    faults: Arc<AtomicUsize>,
}

impl Lossy {
    /// 0: pass, 1: fail before sending, 2: drop the response.
    fn roll(&self) -> u8 {
        let mut s = self.rng.lock().unwrap();
        // xorshift64*
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        match s.wrapping_mul(0x2545_f491_4f6c_dd1d) % 100 {
            0..=5 => 1,
            6..=11 => 2,
            _ => 0,
        }
    }
}

impl brook_client::Transport for Lossy {
    fn call(
        &self,
        version: i16,
        body: brook_protocol::messages::RequestBody,
    ) -> brook_client::transport::BoxFuture<
        '_,
        Result<brook_protocol::messages::ResponseBody, ClientError>,
    > {
        Box::pin(async move {
            let produce = matches!(body, brook_protocol::messages::RequestBody::Produce(_));
            let fault = if produce { self.roll() } else { 0 };
            if fault == 1 {
                self.faults.fetch_add(1, Ordering::Relaxed);
                return Err(ClientError::Disconnected {
                    addr: "lossy".into(),
                    reason: "injected before sending".into(),
                });
            }
            let r = self.inner.call(version, body).await;
            if fault == 2 && r.is_ok() {
                self.faults.fetch_add(1, Ordering::Relaxed);
                return Err(ClientError::Timeout {
                    api: "Produce",
                    addr: "lossy".into(),
                    after: Duration::ZERO,
                });
            }
            r
        })
    }

    fn send(
        &self,
        version: i16,
        body: brook_protocol::messages::RequestBody,
    ) -> brook_client::transport::BoxFuture<'_, Result<(), ClientError>> {
        self.inner.send(version, body)
    }

    fn api_versions(&self) -> &brook_client::ApiVersions {
        self.inner.api_versions()
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn peer(&self) -> &str {
        self.inner.peer()
    }
}

#[derive(Debug)]
struct LossyConnector {
    tcp: brook_client::TcpConnector,
    seed: std::sync::Mutex<u64>,
    faults: Arc<AtomicUsize>,
}

impl brook_client::Connector for LossyConnector {
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> brook_client::transport::BoxFuture<'a, Result<Arc<dyn brook_client::Transport>, ClientError>>
    {
        Box::pin(async move {
            let inner = self.tcp.connect(host, port).await?;
            let seed = {
                let mut s = self.seed.lock().unwrap();
                *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                *s
            };
            Ok(Arc::new(Lossy {
                inner,
                rng: std::sync::Mutex::new(seed | 1),
                faults: self.faults.clone(),
            }) as Arc<dyn brook_client::Transport>)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_survive_lost_requests_and_responses_exactly_once_in_order() {
    let (server, _dir) = start().await;
    create_topic(&server.bootstrap(), "lossy", 3).await;
    for seed in 1u64..=6 {
        let topic = "lossy";
        let faults = Arc::new(AtomicUsize::new(0));
        let connector = Arc::new(LossyConnector {
            tcp: brook_client::TcpConnector::default(),
            seed: std::sync::Mutex::new(seed),
            faults: faults.clone(),
        });
        let cluster = brook_client::Cluster::connect(&server.bootstrap(), connector)
            .await
            .unwrap();
        // Small batches, no linger: many batches of each partition in flight at once.
        let p = Producer::with_cluster(
            Arc::new(cluster),
            config(
                &server.bootstrap(),
                &[
                    ("batch.size", "600"),
                    ("linger.ms", "0"),
                    ("retry.backoff.ms", "5"),
                    ("max.in.flight.requests.per.connection", "5"),
                ],
            ),
        )
        .unwrap();
        let n = 8_000;
        let futures: Vec<_> = (0..n)
            .map(|i| {
                p.send(record(
                    topic,
                    &format!("k{}", i % 30),
                    &format!("s{seed}-{i:05}"),
                ))
            })
            .collect();
        let mut acked: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
        for (i, f) in futures.into_iter().enumerate() {
            let m = f.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
            acked
                .entry(m.partition)
                .or_default()
                .push((m.offset, format!("s{seed}-{i:05}")));
        }
        assert!(
            faults.load(Ordering::Relaxed) > 10,
            "faults were injected: {}",
            faults.load(Ordering::Relaxed)
        );
        for (partition, sent) in &acked {
            let stored: Vec<(i64, String)> =
                records_of(&stored_batches(&p, topic, *partition).await)
                    .into_iter()
                    .map(|(o, _, v)| (o, String::from_utf8(v).unwrap()))
                    .filter(|(_, v)| v.starts_with(&format!("s{seed}-")))
                    .collect();
            // Exactly once, in send order, at the acknowledged offsets.
            assert_eq!(&stored, sent, "seed {seed} partition {partition}");
        }
        p.close(Duration::from_secs(10)).await.unwrap();
    }
}

/// Stamps a header and counts outcomes.
#[derive(Default)]
struct Stamp {
    sent: AtomicUsize,
    acked: AtomicUsize,
    failed: AtomicUsize,
}

impl brook_client::producer::ProducerInterceptor for Stamp {
    fn on_send(&self, record: ProducerRecord) -> ProducerRecord {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        record.with_header("stamp", Some(format!("{n}").as_bytes()))
    }

    fn on_acknowledgement(&self, outcome: &Result<RecordMetadata, ClientError>) {
        match outcome {
            Ok(_) => self.acked.fetch_add(1, Ordering::SeqCst),
            Err(_) => self.failed.fetch_add(1, Ordering::SeqCst),
        };
    }
}

#[tokio::test]
async fn interceptors_see_every_record_and_outcome_in_order() {
    let (server, _dir) = start().await;
    create_topic(&server.bootstrap(), "stamped", 1).await;
    let p = Producer::connect(config(&server.bootstrap(), &[("max.request.size", "2000")]))
        .await
        .unwrap();
    let first = Arc::new(Stamp::default());
    let second = Arc::new(Stamp::default());
    p.add_interceptor(first.clone());
    p.add_interceptor(second.clone());
    let futures: Vec<_> = (0..50)
        .map(|i| p.send(record("stamped", "k", &format!("v{i}"))))
        .collect();
    // Too large for max.request.size: fails, and the interceptors hear of it.
    let big = p.send(record("stamped", "k", &"x".repeat(5_000)));
    for f in futures {
        f.await.unwrap();
    }
    assert!(big.await.is_err());
    for s in [&first, &second] {
        assert_eq!(s.sent.load(Ordering::SeqCst), 51);
        assert_eq!(s.acked.load(Ordering::SeqCst), 50);
        assert_eq!(s.failed.load(Ordering::SeqCst), 1);
    }
    let batches = stored_batches(&p, "stamped", 0).await;
    let stamps: Vec<Vec<(String, String)>> = batches
        .iter()
        .flat_map(|b| b.records.iter())
        .map(|r| {
            r.headers
                .iter()
                .map(|h| {
                    (
                        h.key.clone(),
                        String::from_utf8(h.value.clone().unwrap().to_vec()).unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(stamps.len(), 50);
    for (i, s) in stamps.iter().enumerate() {
        // Both interceptors ran, in the order added.
        assert_eq!(
            s,
            &vec![
                ("stamp".to_owned(), i.to_string()),
                ("stamp".to_owned(), i.to_string())
            ]
        );
    }
    p.close(Duration::from_secs(5)).await.unwrap();
}
