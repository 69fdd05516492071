// Each bench uses part of this module.
#![allow(dead_code)]

//! What the streams benchmarks share: a broker in the process served on loopback, topic
//! creation, bulk production, a raw consumer baseline and progress counting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::producer::ProducerConfig;
use brook_client::{
    Admin, AdminConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerRecord,
    TopicPartition,
};
use brook_streams::StreamsConfig;
use bytes::Bytes;

/// `name` from the environment, or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the figure `name` was asked for (`cargo bench ... -- <filter>`; all without).
pub fn wanted(name: &str) -> bool {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    filter.as_deref().is_none_or(|f| name.contains(f))
}

pub struct Bench {
    rt: tokio::runtime::Runtime,
    addr: String,
    _dir: tempfile::TempDir,
    broker: Arc<Broker>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Bench {
    pub fn start() -> Bench {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = BrokerConfig::default();
        config
            .set("group.initial.rebalance.delay.ms", "0")
            .expect("a broker config");
        let (broker, addr, stop) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            let addr = listener.local_addr().expect("an address");
            let broker = Arc::new(
                Broker::open(dir.path(), config, ("127.0.0.1".into(), addr.port()))
                    .expect("the broker opens"),
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(server::run(listener, broker.clone(), async {
                let _ = stopped.await;
            }));
            (broker, addr.to_string(), stop)
        });
        Bench {
            rt,
            addr,
            _dir: dir,
            broker,
            stop: Some(stop),
        }
    }

    pub fn create(&self, topic: &str, partitions: i32, compact: bool) {
        self.rt.block_on(async {
            let admin = Admin::connect(&self.addr, AdminConfig::default())
                .await
                .expect("admin connects");
            let mut t = NewTopic::new(topic, partitions, 1);
            if compact {
                t = t.config("cleanup.policy", "compact");
            }
            admin
                .create_topics(&[t], false)
                .await
                .expect("topic created");
        });
    }

    /// Produces `n` records made by `make` to `topic` partition 0.
    pub fn produce(&self, topic: &str, n: u64, make: impl Fn(u64) -> (Bytes, Bytes)) {
        self.produce_timed(topic, n, |i| {
            let (k, v) = make(i);
            (k, v, None)
        })
    }

    /// Produces `n` records made by `make` (key, value, timestamp or the producer's
    /// clock) to `topic` partition 0.
    pub fn produce_timed(
        &self,
        topic: &str,
        n: u64,
        make: impl Fn(u64) -> (Bytes, Bytes, Option<i64>),
    ) {
        self.rt.block_on(async {
            let config = ProducerConfig::from_properties([
                ("bootstrap.servers", self.addr.as_str()),
                ("linger.ms", "5"),
                ("batch.size", "262144"),
                ("acks", "1"),
            ])
            .expect("a producer config");
            let producer = Producer::connect(config).await.expect("producer connects");
            let mut pending = std::collections::VecDeque::new();
            for i in 0..n {
                let (k, v, ts) = make(i);
                let mut r = ProducerRecord::new(topic, v).with_key(k).with_partition(0);
                if let Some(ts) = ts {
                    r = r.with_timestamp(ts);
                }
                pending.push_back(producer.send(r));
                if pending.len() >= 50_000 {
                    pending
                        .pop_front()
                        .expect("queued")
                        .await
                        .expect("delivered");
                }
            }
            for f in pending {
                f.await.expect("delivered");
            }
            producer
                .close(Duration::from_secs(30))
                .await
                .expect("closed");
        });
    }

    /// Records per second a bare consumer reads `n` records of `topic` at.
    pub fn raw_consume(&self, topic: &str, n: u64) -> f64 {
        self.rt.block_on(async {
            let mut config = ConsumerConfig::new(self.addr.clone());
            config.max_poll_records = 10_000;
            let mut c = Consumer::connect(config).await.expect("consumer connects");
            c.assign(&[TopicPartition::new(topic, 0)]);
            c.seek_to_beginning(&[TopicPartition::new(topic, 0)])
                .expect("seek");
            let mut seen = 0u64;
            let mut start = None;
            while seen < n {
                let records = c.poll(Duration::from_secs(1)).await.expect("polls");
                if !records.is_empty() && start.is_none() {
                    start = Some(Instant::now());
                }
                seen += records.len() as u64;
            }
            let secs = start.expect("records came").elapsed().as_secs_f64();
            n as f64 / secs
        })
    }

    pub fn config(&self, app: &str, dir: &std::path::Path) -> StreamsConfig {
        let mut c = StreamsConfig::new(app, &self.addr);
        c.state_dir = dir.to_owned();
        c.max_poll_records = 10_000;
        c
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.broker.close();
    }
}

/// Counts records and notes when the first and the latest arrived.
#[derive(Default)]
pub struct Progress {
    seen: AtomicU64,
    first: OnceLock<Instant>,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    pub fn tick(&self) {
        self.first.get_or_init(Instant::now);
        self.seen.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until `n` records were seen; the records per second between the first and
    /// the last.
    pub fn wait(&self, n: u64, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        while self.seen.load(Ordering::Relaxed) < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} records processed in {timeout:?}",
                self.seen.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let end = Instant::now();
        *self.last.lock().expect("a lock") = Some(end);
        let first = *self.first.get().expect("records came");
        n as f64 / (end - first).as_secs_f64()
    }
}

/// Prints a figure and its ratio to the raw consumer baseline.
pub fn report(name: &str, value: f64, baseline: f64) {
    println!("{name}: {value:.0}");
    println!("{name}_ratio_to_raw_consume: {:.3}", value / baseline);
}
