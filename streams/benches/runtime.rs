//! `cargo bench -p brook-streams --bench runtime`: the streams runtime on one stream thread
//! against a broker in this process, served on loopback.
//!
//! Prints `name: value` lines:
//! - `stateless_records_per_s`: filter + map_values over 256-byte JSON values;
//! - `count_records_per_s`: count by key over 100,000 keys, RocksDB with changelog;
//! - `restore_records_per_s`: restoring a store of `BROOK_BENCH_RESTORE_KEYS` (default
//!   10,000,000) keys from its changelog;
//!
//! each with its ratio to a raw baseline measured in the same run on the same broker: a
//! bare `brook-client` consumer reading the same topic (`raw_consume_records_per_s`), so
//! the ratio is what the runtime keeps of what the client alone can fetch. Sizes:
//! `BROOK_BENCH_RECORDS` (default 2,000,000) for the stateless and count runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use brook_broker::server::{self, Broker, BrokerConfig};
use brook_client::producer::ProducerConfig;
use brook_client::{
    Admin, AdminConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerRecord,
    TopicPartition,
};
use brook_streams::runtime::{KafkaStreams, StateRestoreListener};
use brook_streams::{
    Consumed, Grouped, Materialized, Produced, Serdes, StreamsBuilder, StreamsConfig,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    id: u64,
    user: String,
    kind: String,
    amount: i64,
    note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Summary {
    id: u64,
    user: String,
    cents: i64,
}

/// A 256-byte JSON event.
fn event(i: u64) -> Vec<u8> {
    let mut e = Event {
        id: i,
        user: format!("user-{:06}", i % 100_000),
        kind: ["click", "view", "buy"][(i % 3) as usize].to_owned(),
        amount: (i % 1000) as i64,
        note: String::new(),
    };
    let len = serde_json::to_vec(&e).expect("serializes").len();
    e.note = "x".repeat(256 - len);
    let v = serde_json::to_vec(&e).expect("serializes");
    debug_assert_eq!(v.len(), 256);
    v
}

struct Bench {
    rt: tokio::runtime::Runtime,
    addr: String,
    _dir: tempfile::TempDir,
    broker: Arc<Broker>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Bench {
    fn start() -> Bench {
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

    fn create(&self, topic: &str, partitions: i32, compact: bool) {
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
    fn produce(&self, topic: &str, n: u64, make: impl Fn(u64) -> (Bytes, Bytes)) {
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
                let (k, v) = make(i);
                let r = ProducerRecord::new(topic, v).with_key(k).with_partition(0);
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
    fn raw_consume(&self, topic: &str, n: u64) -> f64 {
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

    fn config(&self, app: &str, dir: &std::path::Path) -> StreamsConfig {
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
struct Progress {
    seen: AtomicU64,
    first: OnceLock<Instant>,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    fn tick(&self) {
        self.first.get_or_init(Instant::now);
        self.seen.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until `n` records were seen; the records per second between the first and
    /// the last.
    fn wait(&self, n: u64, timeout: Duration) -> f64 {
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

fn report(name: &str, value: f64, baseline: f64) {
    println!("{name}: {value:.0}");
    println!("{name}_ratio_to_raw_consume: {:.3}", value / baseline);
}

fn stateless(bench: &Bench, n: u64, raw: f64) {
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let builder = StreamsBuilder::new();
    builder
        .stream::<Bytes, Event>(&["events"], Consumed::with(Serdes::bytes(), Serdes::json()))
        .peek(move |_, _| p.tick())
        .filter(|_, e| e.kind != "view")
        .map_values(|e: Event| Summary {
            id: e.id,
            user: e.user,
            cents: e.amount * 100,
        })
        .to("summaries", Produced::with(Serdes::bytes(), Serdes::json()));
    let topology = builder.build().expect("a topology");
    let dir = tempfile::tempdir().expect("a state dir");
    let app =
        KafkaStreams::new(topology, bench.config("bench-stateless", dir.path())).expect("streams");
    app.start().expect("starts");
    let rate = progress.wait(n, Duration::from_secs(600));
    app.close();
    report("stateless_records_per_s", rate, raw);
}

fn count(bench: &Bench, n: u64, raw: f64) {
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Bytes>(
            &["keyed"],
            Consumed::with(Serdes::string(), Serdes::bytes()),
        )
        .peek(move |_, _| p.tick())
        .group_by_key(Grouped::with(Serdes::string(), Serdes::bytes()))
        .count(Materialized::as_store("counts"));
    let topology = builder.build().expect("a topology");
    let dir = tempfile::tempdir().expect("a state dir");
    let app =
        KafkaStreams::new(topology, bench.config("bench-count", dir.path())).expect("streams");
    app.start().expect("starts");
    let rate = progress.wait(n, Duration::from_secs(600));
    app.close();
    report("count_records_per_s", rate, raw);
}

#[derive(Default)]
struct Restored {
    start: Mutex<Option<Instant>>,
    end: Mutex<Option<(Instant, u64)>>,
}

impl StateRestoreListener for Restored {
    fn on_restore_start(&self, _: &str, _: i32, _: &str, _: i64, _: i64) {
        *self.start.lock().expect("a lock") = Some(Instant::now());
    }

    fn on_restore_end(&self, _: &str, _: i32, _: &str, total: u64) {
        *self.end.lock().expect("a lock") = Some((Instant::now(), total));
    }
}

fn restore(bench: &Bench, keys: u64) {
    let app_id = "bench-restore";
    let changelog = format!("{app_id}-counts-changelog");
    bench.create("restore-input", 1, false);
    bench.create(&changelog, 1, true);
    // What a count store's changelog holds: the key, and the 8-byte timestamp then the
    // 8-byte count.
    bench.produce(&changelog, keys, |i| {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        v.extend_from_slice(&((i % 97) as i64 + 1).to_be_bytes());
        (Bytes::from(format!("key-{i:09}")), Bytes::from(v))
    });
    let raw = bench.raw_consume(&changelog, keys);
    println!("raw_consume_changelog_records_per_s: {raw:.0}");
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Bytes>(
            &["restore-input"],
            Consumed::with(Serdes::string(), Serdes::bytes()),
        )
        .group_by_key(Grouped::with(Serdes::string(), Serdes::bytes()))
        .count(Materialized::as_store("counts"));
    let topology = builder.build().expect("a topology");
    let dir = tempfile::tempdir().expect("a state dir");
    let app = KafkaStreams::new(topology, bench.config(app_id, dir.path())).expect("streams");
    let listener = Arc::new(Restored::default());
    app.set_restore_listener(listener.clone());
    app.start().expect("starts");
    let deadline = Instant::now() + Duration::from_secs(1200);
    let (end, total) = loop {
        if let Some(e) = *listener.end.lock().expect("a lock") {
            break e;
        }
        assert!(Instant::now() < deadline, "restoration did not finish");
        std::thread::sleep(Duration::from_millis(5));
    };
    let start = listener
        .start
        .lock()
        .expect("a lock")
        .expect("restoration started");
    app.close();
    assert_eq!(total, keys, "every changelog record restored");
    let rate = keys as f64 / (end - start).as_secs_f64();
    println!("restore_records_per_s: {rate:.0}");
    println!(
        "restore_records_per_s_ratio_to_raw_consume: {:.3}",
        rate / raw
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects one figure.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let n = env("BROOK_BENCH_RECORDS", 2_000_000);
    let bench = Bench::start();
    if wanted("stateless") {
        bench.create("events", 1, false);
        bench.produce("events", n, |i| {
            (Bytes::from(format!("{i}")), Bytes::from(event(i)))
        });
        let raw = bench.raw_consume("events", n);
        println!("raw_consume_records_per_s: {raw:.0}");
        stateless(&bench, n, raw);
    }
    if wanted("count") {
        bench.create("keyed", 1, false);
        bench.produce("keyed", n, |i| {
            (
                Bytes::from(format!("key-{:06}", i % 100_000)),
                Bytes::from_static(b"v"),
            )
        });
        let raw = bench.raw_consume("keyed", n);
        println!("raw_consume_keyed_records_per_s: {raw:.0}");
        count(&bench, n, raw);
    }
    if wanted("restore") {
        restore(&bench, env("BROOK_BENCH_RESTORE_KEYS", 10_000_000));
    }
}
