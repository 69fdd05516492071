//! The harness of the client suite (`tests/transports.rs`): a broker per scenario, reached
//! either over TCP (a listener on port 0 served by `brook_broker::server::run`) or in
//! process (`brook::embedded::InProcessConnector`, no socket at all), and the helpers the
//! scenarios share. A scenario is an `async fn(Env)`; the `client_suite!` macro of
//! `tests/transports.rs` instantiates each one once per transport.

#![allow(dead_code)] // not every scenario uses every helper

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brook::embedded::InProcessConnector;
use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::{
    Admin, AdminConfig, Cluster, Connector, Consumer, ConsumerConfig, ConsumerRecord, NewTopic,
    Producer, ProducerConfig, TcpConfig, TcpConnector, TopicPartition,
};
use brook_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use brook_protocol::messages::FetchRequest;
use brook_protocol::record::{BatchHeader, BatchIter};

/// How long one scenario may take before it fails as hung.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);
/// How long [`poll_until`] waits for the records it expects.
const POLL_TIMEOUT: Duration = Duration::from_secs(20);

/// Which client transport a scenario runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP to a broker listening on 127.0.0.1, port 0.
    Tcp,
    /// `brook::embedded`: the client hands requests to the broker's handlers.
    InProcess,
}

/// What a scenario gets: a running broker and the means to reach it over one transport.
/// Each client made here ([`cluster`](Self::cluster), [`admin`](Self::admin), ...) has a
/// cluster view of its own (its own connections over TCP), as separate applications would.
#[derive(Clone)]
pub struct Env {
    pub transport: Transport,
    /// The broker itself, for what no client can see.
    pub broker: Arc<Broker>,
    connector: Arc<dyn Connector>,
    bootstrap: String,
}

impl Env {
    /// A new cluster view, bootstrapped from the broker.
    pub async fn cluster(&self) -> Arc<Cluster> {
        Arc::new(
            Cluster::connect(&self.bootstrap, self.connector.clone())
                .await
                .unwrap_or_else(|e| panic!("{:?}: connecting: {e}", self.transport)),
        )
    }

    pub async fn admin(&self) -> Admin {
        Admin::with_cluster(self.cluster().await, AdminConfig::default())
    }

    /// A producer with these settings (Kafka's keys) on top of the defaults.
    pub async fn producer(&self, props: &[(&str, &str)]) -> Producer {
        let config = ProducerConfig::from_properties(props.iter().copied())
            .unwrap_or_else(|e| panic!("producer config {props:?}: {e}"));
        Producer::with_cluster(self.cluster().await, config)
            .unwrap_or_else(|e| panic!("producer {props:?}: {e}"))
    }

    /// A consumer with these settings (Kafka's keys) on top of the defaults.
    pub async fn consumer(&self, props: &[(&str, &str)]) -> Consumer {
        let config = ConsumerConfig::from_properties(props.iter().copied())
            .unwrap_or_else(|e| panic!("consumer config {props:?}: {e}"));
        Consumer::with_cluster(self.cluster().await, config)
    }

    /// Creates `topic` with `partitions` partitions, failing the scenario if it cannot.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let created = self
            .admin()
            .await
            .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
            .await
            .unwrap();
        assert!(created[topic].is_ok(), "creating {topic}: {created:?}");
    }

    /// The headers of every batch of `tp` from offset 0 to the high watermark, as the
    /// broker serves them (a raw Fetch, nothing decoded but the batch headers): what the
    /// producer put on the wire (codec, producer id, sequences).
    pub async fn batches(&self, tp: &TopicPartition) -> Vec<BatchHeader> {
        let cluster = self.cluster().await;
        let leader = cluster.leader(&tp.topic, tp.partition).await.unwrap();
        let mut out: Vec<BatchHeader> = Vec::new();
        let mut offset = 0;
        loop {
            let req = FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 64 << 20,
                isolation_level: 0,
                session_id: 0,
                session_epoch: -1,
                topics: vec![FetchTopic {
                    topic: tp.topic.clone(),
                    partitions: vec![FetchPartition {
                        partition: tp.partition,
                        current_leader_epoch: -1,
                        fetch_offset: offset,
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                        partition_max_bytes: 64 << 20,
                        ..FetchPartition::default()
                    }],
                    ..FetchTopic::default()
                }],
                ..FetchRequest::default()
            };
            // v12: the last version naming topics by name.
            let (_, r) = cluster.call(leader, 12, req).await.unwrap();
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0, "fetch {tp} at {offset}");
            let before = out.len();
            for batch in BatchIter::new(p.records.as_deref().unwrap_or_default()) {
                let (header, _) = batch.unwrap();
                offset = header.next_offset();
                out.push(header);
            }
            if offset >= p.high_watermark {
                return out;
            }
            assert!(out.len() > before, "no progress fetching {tp} at {offset}");
        }
    }
}

/// Starts a broker, reaches it over `transport`, runs `scenario` and stops the broker.
pub async fn run<F, Fut>(transport: Transport, scenario: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    // Groups form at once (for group scenarios).
    config
        .set("group.initial.rebalance.delay.ms", "0")
        .expect("a broker setting");
    match transport {
        Transport::Tcp => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let broker = Arc::new(
                Broker::open(dir.path(), config, ("127.0.0.1".into(), addr.port())).unwrap(),
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(server::run(listener, broker.clone(), async {
                let _ = stopped.await;
            }));
            let env = Env {
                transport,
                broker: broker.clone(),
                connector: Arc::new(TcpConnector::new(TcpConfig::default())),
                bootstrap: addr.to_string(),
            };
            within_timeout(transport, scenario(env)).await;
            let _ = stop.send(());
            let _ = serving.await;
            broker.close().unwrap();
        }
        Transport::InProcess => {
            // No listener at all: the advertised address is never dialled.
            let broker =
                Arc::new(Broker::open(dir.path(), config, ("embedded".into(), 1)).unwrap());
            let connector = Arc::new(InProcessConnector::new(broker.clone(), "client-suite"));
            let env = Env {
                transport,
                broker: broker.clone(),
                bootstrap: connector.bootstrap(),
                connector,
            };
            within_timeout(transport, scenario(env)).await;
            broker.close().unwrap();
        }
    }
}

async fn within_timeout(transport: Transport, scenario: impl Future<Output = ()>) {
    if tokio::time::timeout(SCENARIO_TIMEOUT, scenario)
        .await
        .is_err()
    {
        panic!("the scenario over {transport:?} did not finish within {SCENARIO_TIMEOUT:?}");
    }
}

/// A topic-partition.
pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Polls until `n` records came (failing after a while, or if more come); returns them.
pub async fn poll_until(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + POLL_TIMEOUT;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} records within {POLL_TIMEOUT:?}: {:?}",
            got.len(),
            got.iter()
                .map(|r: &ConsumerRecord| format!("{}-{}@{}", r.topic, r.partition, r.offset))
                .collect::<Vec<_>>()
        );
        got.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    assert_eq!(got.len(), n, "more records than expected");
    got
}

/// Polls for `wait` and asserts nothing came.
pub async fn poll_nothing(consumer: &mut Consumer, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        let got = consumer.poll(Duration::from_millis(100)).await.unwrap();
        assert!(got.is_empty(), "unexpected records: {got:?}");
    }
}

/// The `(partition, offset)` of each record.
pub fn offsets_of(records: &[ConsumerRecord]) -> Vec<(i32, i64)> {
    records.iter().map(|r| (r.partition, r.offset)).collect()
}

/// The values of `records` as text (`<null>` for a null value).
pub fn values_of(records: &[ConsumerRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            r.value.as_deref().map_or_else(
                || "<null>".into(),
                |v| String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}
