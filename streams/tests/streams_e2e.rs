//! The streams runtime end to end against a real broker (in this process, served on a
//! loopback port): word count over 3 input partitions on two instances, a clean hand-over,
//! a kill -9 (a child process running an instance, SIGKILLed), a restart with the local
//! state wiped, and the deserialization handlers.

mod support;

use support::TestBroker;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_client::consumer::OffsetReset;
use brook_client::{
    Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};
use brook_streams::{
    Consumed, DeserializationHandler, Grouped, Joined, KafkaStreams, Materialized, Produced,
    Serdes, StateRestoreListener, StoreQueryParameters, StreamThreadExceptionResponse,
    StreamsBuilder, StreamsConfig, StreamsState, TimeWindows, Topology,
};
use bytes::Bytes;

const APP_WAIT: Duration = Duration::from_secs(30);

impl TestBroker {
    /// Writes `values` (null keys) round-robin over `partitions` partitions of `topic`.
    fn produce(&self, topic: &str, partitions: i32, values: &[Vec<u8>]) {
        let cluster = self.cluster();
        self.rt.block_on(async {
            let producer = Producer::with_cluster(cluster, ProducerConfig::default()).unwrap();
            let mut futures = Vec::new();
            for (i, v) in values.iter().enumerate() {
                let r = ProducerRecord::new(topic, Bytes::from(v.clone()))
                    .with_partition(i as i32 % partitions);
                futures.push(producer.send(r));
            }
            for f in futures {
                f.await.unwrap();
            }
            producer.close(Duration::from_secs(5)).await.unwrap();
        });
    }

    /// Writes `key` = `value` to `partition` of `topic`.
    fn produce_keyed(&self, topic: &str, partition: i32, records: &[(&str, &str)]) {
        let cluster = self.cluster();
        self.rt.block_on(async {
            let producer = Producer::with_cluster(cluster, ProducerConfig::default()).unwrap();
            for (k, v) in records {
                let r = ProducerRecord::new(topic, Bytes::from(v.to_string()))
                    .with_key(Bytes::from(k.to_string()))
                    .with_partition(partition);
                producer.send(r).await.unwrap();
            }
            producer.close(Duration::from_secs(5)).await.unwrap();
        });
    }

    /// Writes `(key, value, timestamp)` records to `partition` of `topic`.
    fn produce_at(&self, topic: &str, partition: i32, records: &[(String, String, i64)]) {
        let cluster = self.cluster();
        self.rt.block_on(async {
            let producer = Producer::with_cluster(cluster, ProducerConfig::default()).unwrap();
            let mut futures = Vec::new();
            for (k, v, ts) in records {
                let r = ProducerRecord::new(topic, Bytes::from(v.clone()))
                    .with_key(Bytes::from(k.clone()))
                    .with_partition(partition)
                    .with_timestamp(*ts);
                futures.push(producer.send(r));
            }
            for f in futures {
                f.await.unwrap();
            }
            producer.close(Duration::from_secs(5)).await.unwrap();
        });
    }

    /// The latest value per key of every partition of `topic`, read to its end.
    fn table(&self, topic: &str) -> BTreeMap<String, Option<i64>> {
        let cluster = self.cluster();
        self.rt.block_on(async {
            let meta = cluster.topic(topic).await.unwrap();
            let tps: Vec<TopicPartition> = meta
                .partitions
                .iter()
                .map(|p| TopicPartition::new(topic, p.partition))
                .collect();
            let mut config = ConsumerConfig::new(self.addr.clone());
            config.auto_offset_reset = OffsetReset::Earliest;
            config.enable_auto_commit = false;
            let mut consumer = Consumer::with_cluster(cluster, config);
            consumer.assign(&tps);
            let ends = consumer.end_offsets(&tps).await.unwrap();
            let mut out = BTreeMap::new();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let mut done = true;
                for tp in &tps {
                    if consumer.position(tp).await.unwrap() < ends[tp] {
                        done = false;
                    }
                }
                if done {
                    break;
                }
                assert!(Instant::now() < deadline, "cannot read {topic} to its end");
                for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
                    let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                    let value = r
                        .value
                        .map(|v| i64::from_be_bytes(v[..8].try_into().unwrap()));
                    out.insert(key, value);
                }
            }
            out
        })
    }
}

fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), String>(&["lines"], Consumed::with(Serdes::void(), Serdes::string()))
        .flat_map_values(|line: String| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .group_by(
            |_, word: &String| word.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_store("counts"))
        .to_stream()
        .to(
            "counts",
            Produced::with(Serdes::string(), Serdes::optional(Serdes::i64())),
        );
    builder.build().unwrap()
}

fn config(app: &str, bootstrap: &str, state: &Path) -> StreamsConfig {
    let mut c = StreamsConfig::new(app, bootstrap);
    c.state_dir = state.to_owned();
    c.commit_interval = Duration::from_millis(100);
    c.poll = Duration::from_millis(50);
    c.session_timeout = Duration::from_secs(3);
    c.heartbeat_interval = Duration::from_millis(300);
    c
}

/// Lines `from..to`: five words each out of 23.
fn lines(from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| {
            (0..5)
                .map(|j| format!("w{}", (i * 7 + j * 3 + i / 5) % 23))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn model(lines: &[String]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for l in lines {
        for w in l.split_whitespace() {
            *m.entry(w.to_owned()).or_insert(0) += 1;
        }
    }
    m
}

fn bytes(lines: &[String]) -> Vec<Vec<u8>> {
    lines.iter().map(|l| l.as_bytes().to_vec()).collect()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn counts(table: &BTreeMap<String, Option<i64>>) -> BTreeMap<String, i64> {
    table
        .iter()
        .filter_map(|(k, v)| v.map(|v| (k.clone(), v)))
        .collect()
}

/// Waits until the output table is the model exactly.
fn wait_for_model(broker: &TestBroker, want: &BTreeMap<String, i64>) {
    let deadline = Instant::now() + APP_WAIT;
    loop {
        let last = counts(&broker.table("counts"));
        if &last == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the output never matched the model:\n got  {last:?}\n want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn task_count(s: &KafkaStreams) -> usize {
    s.local_thread_metadata()
        .iter()
        .map(|t| t.active_tasks.len())
        .sum()
}

/// Counts what the restore listener hears.
#[derive(Default)]
struct Restores {
    started: AtomicUsize,
    restored: AtomicU64,
    ended: AtomicUsize,
}

impl StateRestoreListener for Restores {
    fn on_restore_start(&self, topic: &str, _: i32, store: &str, start: i64, end: i64) {
        assert!(
            (store == "counts" && topic.ends_with("-counts-changelog"))
                || (store == "names-store" && topic == "names"),
            "{store} from {topic}"
        );
        assert!(start < end);
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    fn on_batch_restored(&self, _: &str, _: i32, _: &str, _: i64, n: u64) {
        self.restored.fetch_add(n, Ordering::SeqCst);
    }

    fn on_restore_end(&self, _: &str, _: i32, _: &str, _: u64) {
        self.ended.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn word_count_moves_to_the_other_instance_on_a_clean_close() {
    let broker = TestBroker::start();
    broker.create_topic("lines", 3);
    broker.create_topic("counts", 3);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = KafkaStreams::new(word_count(), config("wc-a", &broker.addr, da.path())).unwrap();
    let b = KafkaStreams::new(word_count(), config("wc-a", &broker.addr, db.path())).unwrap();
    let restores = Arc::new(Restores::default());
    b.set_restore_listener(restores.clone());
    let states = Arc::new(Mutex::new(Vec::new()));
    let s = states.clone();
    a.set_state_listener(move |new, old| s.lock().unwrap().push((old, new)));
    a.start().unwrap();
    b.start().unwrap();
    wait_until("both instances running with 3 tasks each", APP_WAIT, || {
        a.state() == StreamsState::Running
            && b.state() == StreamsState::Running
            && task_count(&a) == 3
            && task_count(&b) == 3
    });
    let first = lines(0, 200);
    broker.produce("lines", 3, &bytes(&first));
    wait_for_model(&broker, &model(&first));

    a.close();
    assert_eq!(a.state(), StreamsState::NotRunning);
    a.close(); // idempotent
    let transitions = states.lock().unwrap().clone();
    assert_eq!(
        transitions.first(),
        Some(&(StreamsState::Created, StreamsState::Rebalancing))
    );
    assert_eq!(
        transitions.last(),
        Some(&(StreamsState::PendingShutdown, StreamsState::NotRunning))
    );
    wait_until("b running all 6 tasks", APP_WAIT, || {
        b.state() == StreamsState::Running && task_count(&b) == 6
    });
    let second = lines(200, 400);
    broker.produce("lines", 3, &bytes(&second));
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    wait_for_model(&broker, &model(&all));
    // B restored A's stateful tasks from their changelogs.
    assert!(restores.started.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        restores.started.load(Ordering::SeqCst),
        restores.ended.load(Ordering::SeqCst)
    );
    assert!(restores.restored.load(Ordering::SeqCst) > 0);
    // The local store holds the model too.
    let store: BTreeMap<String, i64> = b
        .store_key_value::<String, i64>("counts")
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(store, model(&all));
    b.close();
    assert_eq!(b.state(), StreamsState::NotRunning);
}

/// Kills its child process on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test by itself: the instance the kill -9 test runs in a child process (it does
/// nothing unless the parent set `BROOK_E2E_CHILD_BOOTSTRAP`).
#[test]
fn child_instance() {
    let Ok(bootstrap) = std::env::var("BROOK_E2E_CHILD_BOOTSTRAP") else {
        return;
    };
    let state = std::env::var("BROOK_E2E_CHILD_STATE").unwrap();
    let app = std::env::var("BROOK_E2E_CHILD_APP").unwrap();
    let s = KafkaStreams::new(word_count(), config(&app, &bootstrap, Path::new(&state))).unwrap();
    s.start().unwrap();
    assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
    println!("CHILD-RUNNING");
    // Until killed (and at most a minute, should the parent be gone).
    std::thread::sleep(Duration::from_secs(60));
    std::process::exit(1);
}

#[test]
fn word_count_survives_a_kill_9_of_an_instance() {
    let broker = TestBroker::start();
    broker.create_topic("lines", 3);
    broker.create_topic("counts", 3);
    let (dc, dp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_instance",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BROOK_E2E_CHILD_BOOTSTRAP", &broker.addr)
        .env("BROOK_E2E_CHILD_STATE", dc.path())
        .env("BROOK_E2E_CHILD_APP", "wc-kill")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut guard = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if line.contains("CHILD-RUNNING") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(APP_WAIT).expect("the child instance runs");
    let p = KafkaStreams::new(word_count(), config("wc-kill", &broker.addr, dp.path())).unwrap();
    let restores = Arc::new(Restores::default());
    p.set_restore_listener(restores.clone());
    p.start().unwrap();
    wait_until("the parent running 3 of the 6 tasks", APP_WAIT, || {
        p.state() == StreamsState::Running && task_count(&p) == 3
    });
    let first = lines(0, 200);
    broker.produce("lines", 3, &bytes(&first));
    wait_for_model(&broker, &model(&first));
    // Mid-stream: half of the next lines, the kill, the other half.
    let second = lines(200, 300);
    let third = lines(300, 400);
    broker.produce("lines", 3, &bytes(&second));
    std::thread::sleep(Duration::from_millis(150));
    guard.0.kill().unwrap();
    guard.0.wait().unwrap();
    broker.produce("lines", 3, &bytes(&third));
    wait_until("the parent running all 6 tasks", APP_WAIT, || {
        p.state() == StreamsState::Running && task_count(&p) == 6
    });
    let all: Vec<String> = first.iter().chain(&second).chain(&third).cloned().collect();
    let want = model(&all);
    // At-least-once: no word missing, no count below the model (some may be above).
    let deadline = Instant::now() + APP_WAIT;
    loop {
        let got = counts(&broker.table("counts"));
        let short: Vec<_> = want
            .iter()
            .filter(|(w, n)| got.get(*w).is_none_or(|g| g < n))
            .collect();
        if short.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "words missing or counted short after the kill: {short:?}\n got {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The killed instance's stateful tasks were restored from their changelogs.
    assert!(restores.ended.load(Ordering::SeqCst) >= 1);
    assert!(restores.restored.load(Ordering::SeqCst) > 0);
    p.close();
}

#[test]
fn a_restart_with_the_state_wiped_rebuilds_it_from_the_changelogs() {
    let broker = TestBroker::start();
    broker.create_topic("lines", 3);
    broker.create_topic("counts", 3);
    let dir = tempfile::tempdir().unwrap();
    let first = lines(0, 150);
    {
        let s =
            KafkaStreams::new(word_count(), config("wc-wipe", &broker.addr, dir.path())).unwrap();
        s.start().unwrap();
        assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
        broker.produce("lines", 3, &bytes(&first));
        wait_for_model(&broker, &model(&first));
        assert!(s.cleanup().is_err(), "cleanup refuses a running client");
        s.close();
        assert!(dir.path().join("wc-wipe").exists());
        s.cleanup().unwrap();
        assert!(!dir.path().join("wc-wipe").exists());
    }
    let s = KafkaStreams::new(word_count(), config("wc-wipe", &broker.addr, dir.path())).unwrap();
    let restores = Arc::new(Restores::default());
    s.set_global_state_restore_listener(restores.clone());
    s.start().unwrap();
    assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
    // Every stateful task (3) restored its store from the beginning of its changelog.
    assert_eq!(restores.started.load(Ordering::SeqCst), 3);
    assert_eq!(restores.ended.load(Ordering::SeqCst), 3);
    assert!(restores.restored.load(Ordering::SeqCst) >= model(&first).len() as u64);
    let second = lines(150, 300);
    broker.produce("lines", 3, &bytes(&second));
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    wait_for_model(&broker, &model(&all));
    s.close();
    // A clean restart with the state kept restores nothing (the checkpoints are current).
    let s = KafkaStreams::new(word_count(), config("wc-wipe", &broker.addr, dir.path())).unwrap();
    let restores = Arc::new(Restores::default());
    s.set_restore_listener(restores.clone());
    s.start().unwrap();
    assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
    wait_until("all 6 tasks", APP_WAIT, || task_count(&s) == 6);
    assert_eq!(restores.started.load(Ordering::SeqCst), 0);
    let third = lines(300, 350);
    broker.produce("lines", 3, &bytes(&third));
    let all: Vec<String> = all.iter().chain(&third).cloned().collect();
    wait_for_model(&broker, &model(&all));
    s.close();
}

/// Doubles 8-byte values of `numbers` into `doubled`.
fn doubler() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), i64>(&["numbers"], Consumed::with(Serdes::void(), Serdes::i64()))
        .map_values(|v: i64| v * 2)
        .to("doubled", Produced::with(Serdes::void(), Serdes::i64()));
    builder.build().unwrap()
}

fn read_values(broker: &TestBroker, topic: &str) -> Vec<i64> {
    let cluster = broker.cluster();
    broker.rt.block_on(async {
        let tp = TopicPartition::new(topic, 0);
        let mut config = ConsumerConfig::new(broker.addr.clone());
        config.auto_offset_reset = OffsetReset::Earliest;
        let mut consumer = Consumer::with_cluster(cluster, config);
        consumer.assign(std::slice::from_ref(&tp));
        let end = consumer
            .end_offsets(std::slice::from_ref(&tp))
            .await
            .unwrap()[&tp];
        let mut out = Vec::new();
        while consumer.position(&tp).await.unwrap() < end {
            for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
                out.push(i64::from_be_bytes(r.value.unwrap()[..].try_into().unwrap()));
            }
        }
        out
    })
}

#[test]
fn bad_records_are_skipped_or_fail_the_client_as_the_handler_says() {
    let broker = TestBroker::start();
    broker.create_topic("numbers", 1);
    broker.create_topic("doubled", 1);
    let good = |n: i64| n.to_be_bytes().to_vec();
    broker.produce("numbers", 1, &[good(1), b"bad".to_vec(), good(2)]);

    let dir = tempfile::tempdir().unwrap();
    let mut c = config("doubler-continue", &broker.addr, dir.path());
    c.deserialization_handler = DeserializationHandler::LogAndContinue;
    let s = KafkaStreams::new(doubler(), c).unwrap();
    s.start().unwrap();
    wait_until("both good records doubled", APP_WAIT, || {
        read_values(&broker, "doubled") == vec![2, 4]
    });
    assert_eq!(s.state(), StreamsState::Running);
    s.close();

    let mut c = config("doubler-fail", &broker.addr, dir.path());
    c.deserialization_handler = DeserializationHandler::LogAndFail;
    let s = KafkaStreams::new(doubler(), c).unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    s.set_uncaught_exception_handler(move |e| {
        seen.lock().unwrap().push(e.to_string());
        StreamThreadExceptionResponse::ShutdownClient
    });
    s.start().unwrap();
    assert!(
        s.wait_for_state(StreamsState::Error, APP_WAIT),
        "the client ends in ERROR, not {}",
        s.state()
    );
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("numbers-0@1"), "{calls:?}");
    s.close();
    assert_eq!(s.state(), StreamsState::Error);
}

#[test]
fn missing_source_topics_fail_start_with_a_clear_error() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let s =
        KafkaStreams::new(word_count(), config("wc-missing", &broker.addr, dir.path())).unwrap();
    let e = s.start().unwrap_err().to_string();
    assert!(e.contains("lines") && e.contains("do not exist"), "{e}");
    assert_eq!(s.state(), StreamsState::Error);
    assert!(s.start().is_err());
    s.close();
}

#[test]
fn two_threads_of_one_instance_share_the_tasks() {
    let broker = TestBroker::start();
    broker.create_topic("lines", 3);
    broker.create_topic("counts", 3);
    let dir = tempfile::tempdir().unwrap();
    let mut c = config("wc-threads", &broker.addr, dir.path());
    c.num_stream_threads = 2;
    let s = KafkaStreams::new(word_count(), c).unwrap();
    s.start().unwrap();
    wait_until("two threads with 3 tasks each", APP_WAIT, || {
        let threads = s.local_thread_metadata();
        s.state() == StreamsState::Running
            && threads.len() == 2
            && threads.iter().all(|t| t.active_tasks.len() == 3)
    });
    let names: Vec<String> = s
        .local_thread_metadata()
        .into_iter()
        .map(|t| t.thread_name)
        .collect();
    assert_eq!(
        names,
        ["wc-threads-StreamThread-1", "wc-threads-StreamThread-2"]
    );
    let all = lines(0, 300);
    broker.produce("lines", 3, &bytes(&all));
    wait_for_model(&broker, &model(&all));
    s.close();
}

#[test]
fn global_stores_are_bootstrapped_before_start_returns() {
    let broker = TestBroker::start();
    broker.create_topic("names", 2);
    broker.create_topic("lines", 1);
    broker.create_topic("out", 1);
    broker.produce_keyed("names", 0, &[("1", "ann"), ("2", "bob")]);
    broker.produce_keyed("names", 1, &[("3", "cyd"), ("1", "amy")]);
    let topology = || {
        let builder = StreamsBuilder::new();
        builder.global_table::<String, String>(
            "names",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::as_store("names-store"),
        );
        builder
            .stream::<(), String>(&["lines"], Consumed::with(Serdes::void(), Serdes::string()))
            .to("out", Produced::with(Serdes::void(), Serdes::string()));
        builder.build().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let names = |s: &KafkaStreams| -> BTreeMap<String, String> {
        s.store_key_value::<String, String>("names-store")
            .unwrap()
            .into_iter()
            .collect()
    };
    let s = KafkaStreams::new(topology(), config("globals", &broker.addr, dir.path())).unwrap();
    let restores = Arc::new(Restores::default());
    s.set_global_state_restore_listener(restores.clone());
    s.start().unwrap();
    // Complete as soon as start returns.
    let want: BTreeMap<String, String> = [("1", "amy"), ("2", "bob"), ("3", "cyd")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(names(&s), want);
    assert_eq!(restores.started.load(Ordering::SeqCst), 2);
    assert_eq!(restores.restored.load(Ordering::SeqCst), 4);
    // Then it follows the topic.
    broker.produce_keyed("names", 0, &[("4", "dee")]);
    wait_until("the update in the global store", APP_WAIT, || {
        names(&s).get("4").map(String::as_str) == Some("dee")
    });
    assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
    s.close();
    // A restart reads only what came after its checkpoint.
    broker.produce_keyed("names", 1, &[("5", "eve")]);
    let s = KafkaStreams::new(topology(), config("globals", &broker.addr, dir.path())).unwrap();
    let restores = Arc::new(Restores::default());
    s.set_global_state_restore_listener(restores.clone());
    s.start().unwrap();
    assert_eq!(names(&s).len(), 5);
    assert_eq!(restores.restored.load(Ordering::SeqCst), 1);
    s.close();
}

#[test]
fn a_replaced_thread_starts_over_from_the_last_commit() {
    let broker = TestBroker::start();
    broker.create_topic("numbers", 1);
    broker.create_topic("doubled", 1);
    broker.produce("numbers", 1, &[b"bad".to_vec()]);
    let dir = tempfile::tempdir().unwrap();
    let s = KafkaStreams::new(
        doubler(),
        config("doubler-replace", &broker.addr, dir.path()),
    )
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    s.set_uncaught_exception_handler(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            StreamThreadExceptionResponse::ReplaceThread
        } else {
            StreamThreadExceptionResponse::ShutdownClient
        }
    });
    s.start().unwrap();
    assert!(s.wait_for_state(StreamsState::Error, APP_WAIT));
    // The replacement read the bad record again (its offset was never committed).
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    s.close();
}

/// Waits until the output table `topic` is `want` exactly.
fn wait_for_table(broker: &TestBroker, topic: &str, want: &BTreeMap<String, i64>) {
    let deadline = Instant::now() + APP_WAIT;
    loop {
        let last = counts(&broker.table(topic));
        if &last == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} never matched the model:\n got  {last:?}\n want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const WINDOW_MS: i64 = 10_000;

fn windowed_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(
            &["clicks"],
            Consumed::with(Serdes::string(), Serdes::string()),
        )
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            WINDOW_MS as u64,
        )))
        .count(Materialized::as_store("clicks-per-window"))
        .to_stream()
        .map(|w, c: Option<i64>| (format!("{}@{}", w.key, w.window.start), c))
        .to(
            "window-counts",
            Produced::with(Serdes::string(), Serdes::optional(Serdes::i64())),
        );
    builder.build().unwrap()
}

/// Clicks `from..to`: key `u<i % 5>`, 1.3 s apart, on partition `i % 2` of the key's
/// choosing (one key always goes to one partition).
fn clicks(from: i64, to: i64) -> Vec<(i32, (String, String, i64))> {
    (from..to)
        .map(|i| {
            let k = i % 5;
            (
                (k % 2) as i32,
                (format!("u{k}"), "c".to_owned(), 1_000_000 + i * 1_300),
            )
        })
        .collect()
}

fn produce_clicks(broker: &TestBroker, records: &[(i32, (String, String, i64))]) {
    for p in 0..2 {
        let part: Vec<_> = records
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, r)| r.clone())
            .collect();
        broker.produce_at("clicks", p, &part);
    }
}

fn window_model(records: &[(i32, (String, String, i64))]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (_, (k, _, ts)) in records {
        let start = ts - ts.rem_euclid(WINDOW_MS);
        *m.entry(format!("{k}@{start}")).or_insert(0) += 1;
    }
    m
}

#[test]
fn a_windowed_count_continues_across_a_clean_restart() {
    let broker = TestBroker::start();
    broker.create_topic("clicks", 2);
    broker.create_topic("window-counts", 2);
    let state = tempfile::tempdir().unwrap();
    let first = clicks(0, 60);
    produce_clicks(&broker, &first);
    let app = KafkaStreams::new(
        windowed_count(),
        config("windows", &broker.addr, state.path()),
    )
    .unwrap();
    app.start().unwrap();
    wait_for_table(&broker, "window-counts", &window_model(&first));
    app.close();
    assert_eq!(app.state(), StreamsState::NotRunning);

    // The second half, some of it in windows the first half opened, read by a new
    // instance on the same state directory: its counts continue from the restored store.
    let second = clicks(60, 130);
    produce_clicks(&broker, &second);
    let app = KafkaStreams::new(
        windowed_count(),
        config("windows", &broker.addr, state.path()),
    )
    .unwrap();
    app.start().unwrap();
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    wait_for_table(&broker, "window-counts", &window_model(&all));
    // A click for a window long closed is dropped and counted, and changes nothing.
    assert_eq!(app.dropped_records_total(), 0);
    broker.produce_at("clicks", 0, &[("u0".to_owned(), "c".to_owned(), 1_000_000)]);
    wait_until("the late click to be counted", APP_WAIT, || {
        app.dropped_records_total() == 1
    });
    wait_for_table(&broker, "window-counts", &window_model(&all));
    app.close();
}

fn enrich() -> Topology {
    let builder = StreamsBuilder::new();
    let users = builder.table(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_store("users").with_caching_disabled(),
    );
    builder
        .stream::<String, String>(
            &["orders"],
            Consumed::with(Serdes::string(), Serdes::string()),
        )
        .join_table(
            &users,
            |amount: &String, region: &String| {
                amount.parse::<i64>().unwrap_or(-1) * 100 + region.len() as i64
            },
            Joined::with(Serdes::string(), Serdes::string(), Serdes::string()),
        )
        .to("enriched", Produced::with(Serdes::string(), Serdes::i64()));
    builder.build().unwrap()
}

#[test]
fn a_stream_table_join_continues_across_a_clean_restart() {
    let broker = TestBroker::start();
    for t in ["users", "orders", "enriched"] {
        broker.create_topic(t, 2);
    }
    let state = tempfile::tempdir().unwrap();
    // Users u0..u9 on partition i % 2, with regions of i + 1 letters.
    let users: Vec<(String, String, i64)> = (0..10)
        .map(|i| (format!("u{i}"), "r".repeat(i + 1), 1_000))
        .collect();
    for p in 0..2 {
        let part: Vec<_> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i % 2) as i32 == p)
            .map(|(_, u)| u.clone())
            .collect();
        broker.produce_at("users", p, &part);
    }
    let orders = |from: usize, to: usize| -> Vec<(i32, (String, String, i64))> {
        (from..to)
            .map(|i| {
                let u = i % 10;
                (
                    (u % 2) as i32,
                    (format!("u{u}"), i.to_string(), 10_000 + i as i64),
                )
            })
            .collect()
    };
    let produce_orders = |records: &[(i32, (String, String, i64))]| {
        for p in 0..2 {
            let part: Vec<_> = records
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, r)| r.clone())
                .collect();
            broker.produce_at("orders", p, &part);
        }
    };
    // The last order per user, joined with its region.
    let model = |records: &[(i32, (String, String, i64))]| -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for (_, (k, amount, _)) in records {
            let u: usize = k[1..].parse().unwrap();
            m.insert(
                k.clone(),
                amount.parse::<i64>().unwrap() * 100 + u as i64 + 1,
            );
        }
        m
    };
    let start = |state: &Path| {
        let app = KafkaStreams::new(enrich(), config("enrich", &broker.addr, state)).unwrap();
        app.start().unwrap();
        // The table first: Brook has no max.task.idle.ms, so an order read before its
        // user's row would find none.
        wait_until("the users table", APP_WAIT, || {
            let Ok(store) = app.store::<String, String>(StoreQueryParameters::from_name("users"))
            else {
                return false;
            };
            (0..10).all(|i| matches!(store.get(&format!("u{i}")), Ok(Some(_))))
        });
        app
    };
    let app = start(state.path());
    let first = orders(0, 40);
    produce_orders(&first);
    wait_for_table(&broker, "enriched", &model(&first));
    app.close();

    // A region changes while the application is down; the restarted instance restores the
    // table from its changelog (tail) and sees the change.
    broker.produce_at(
        "users",
        1,
        &[("u3".to_owned(), "rrrrrrrrrrrr".to_owned(), 5_000)],
    );
    let app = start(state.path());
    wait_until("the changed region", APP_WAIT, || {
        app.store::<String, String>(StoreQueryParameters::from_name("users"))
            .and_then(|s| s.get(&"u3".to_owned()))
            .is_ok_and(|v| v.as_deref() == Some("rrrrrrrrrrrr"))
    });
    let second = orders(40, 90);
    produce_orders(&second);
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    let mut want = model(&all);
    // u3's later orders see its 12-letter region.
    for (_, (k, amount, _)) in &second {
        if k == "u3" {
            want.insert(k.clone(), amount.parse::<i64>().unwrap() * 100 + 12);
        }
    }
    wait_for_table(&broker, "enriched", &want);
    app.close();
}
