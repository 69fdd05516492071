//! Interactive queries against a real broker (in this process, on a loopback port): two
//! word-count instances with different `application.server`s each answer for the keys
//! their tasks hold and agree on where every key lives; views stay valid across a
//! rebalance; stale stores show a task still restoring; window, session and global stores
//! are queried through a Processor API topology; queries fail clearly when the client is
//! not running or the store is unknown.

mod support;

use support::TestBroker;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use brook_client::{Producer, ProducerConfig, ProducerRecord};
use brook_state::SessionWindow;
use brook_streams::{
    Consumed, Grouped, HostInfo, KafkaStreams, Materialized, Processor, ProcessorContext, Produced,
    Record, Serdes, StateRestoreListener, StoreQueryParameters, Stores, StreamsBuilder,
    StreamsConfig, StreamsError, StreamsState, Topology,
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

    /// Writes keyed records at the given timestamps, placed by the default partitioner;
    /// returns the partition each went to.
    fn produce_at(&self, topic: &str, records: &[(&str, Vec<u8>, i64)]) -> Vec<i32> {
        let cluster = self.cluster();
        self.rt.block_on(async {
            let producer = Producer::with_cluster(cluster, ProducerConfig::default()).unwrap();
            let mut out = Vec::new();
            for (k, v, ts) in records {
                let r = ProducerRecord::new(topic, Bytes::from(v.clone()))
                    .with_key(Bytes::from(k.to_string()))
                    .with_timestamp(*ts);
                out.push(producer.send(r).await.unwrap().partition);
            }
            producer.close(Duration::from_secs(5)).await.unwrap();
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

fn config(app: &str, bootstrap: &str, state: &Path, server: Option<&str>) -> StreamsConfig {
    let mut c = StreamsConfig::new(app, bootstrap);
    c.state_dir = state.to_owned();
    c.commit_interval = Duration::from_millis(100);
    c.poll = Duration::from_millis(50);
    c.session_timeout = Duration::from_secs(3);
    c.heartbeat_interval = Duration::from_millis(300);
    c.application_server = server.map(str::to_owned);
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

fn task_count(s: &KafkaStreams) -> usize {
    s.local_thread_metadata()
        .iter()
        .map(|t| t.active_tasks.len())
        .sum()
}

/// The message of a `StreamsError::State`.
fn state_error<T>(r: brook_streams::Result<T>) -> String {
    match r {
        Err(StreamsError::State(m)) => m,
        Err(e) => panic!("expected a state error, got {e:?}"),
        Ok(_) => panic!("expected a state error, got a value"),
    }
}

/// Every entry of the local `counts` stores of `s` (empty if not queryable now).
fn local_counts(s: &KafkaStreams) -> BTreeMap<String, i64> {
    s.store::<String, i64>(StoreQueryParameters::from_name("counts"))
        .and_then(|v| v.all())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
}

/// Waits until the local stores of `instances` together hold `want` exactly, each key in
/// one store only.
fn wait_for_stores(instances: &[&KafkaStreams], want: &BTreeMap<String, i64>) {
    let deadline = Instant::now() + APP_WAIT;
    loop {
        let parts: Vec<BTreeMap<String, i64>> = instances.iter().map(|s| local_counts(s)).collect();
        let total: usize = parts.iter().map(BTreeMap::len).sum();
        let merged: BTreeMap<String, i64> = parts.into_iter().flatten().collect();
        if &merged == want && total == want.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the local stores never matched the model:\n got  {merged:?}\n want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn each_instance_answers_for_the_keys_the_metadata_says_it_holds() {
    let broker = TestBroker::start();
    broker.create_topic("lines", 3);
    broker.create_topic("counts", 3);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let app = "iq-wc";
    let a = KafkaStreams::new(
        word_count(),
        config(app, &broker.addr, da.path(), Some("host-a:7001")),
    )
    .unwrap();
    let b = KafkaStreams::new(
        word_count(),
        config(app, &broker.addr, db.path(), Some("host-b:7002")),
    )
    .unwrap();
    let (ha, hb) = (HostInfo::new("host-a", 7001), HostInfo::new("host-b", 7002));
    assert_eq!(a.host_info(), Some(ha.clone()));

    // Before start: nothing is queryable, and the errors say why.
    let e = state_error(a.store::<String, i64>(StoreQueryParameters::from_name("counts")));
    assert!(
        e.contains("not been started") && e.contains("CREATED"),
        "{e}"
    );
    let e = state_error(a.query_metadata_for_key("counts", &"w1".to_owned(), &Serdes::string()));
    assert!(e.contains("not been started"), "{e}");
    assert!(state_error(a.stream_clients_metadata()).contains("not been started"));

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
    let want = model(&first);
    wait_for_stores(&[&a, &b], &want);

    // A view made now stays usable across the rebalance below.
    let b_view = b
        .store::<String, i64>(StoreQueryParameters::from_name("counts"))
        .unwrap();
    let a_view = a
        .store::<String, i64>(StoreQueryParameters::from_name("counts"))
        .unwrap();

    // Every key: both instances agree where it lives; that instance's store has the
    // model's count, the other's has nothing; its partition is the one that holds it.
    let serde = Serdes::string();
    let mut on_a = BTreeSet::new();
    for (word, count) in &want {
        let ma = a.query_metadata_for_key("counts", word, &serde).unwrap();
        let mb = b.query_metadata_for_key("counts", word, &serde).unwrap();
        assert_eq!(ma, mb, "{word}");
        assert!(ma.is_available() && ma.standby_hosts.is_empty(), "{ma:?}");
        assert!((0..3).contains(&ma.partition), "{ma:?}");
        let (host, other) = if ma.active_host == ha {
            on_a.insert(word.clone());
            (&a, &b)
        } else {
            assert_eq!(ma.active_host, hb, "{word}");
            (&b, &a)
        };
        let view = |s: &KafkaStreams| {
            s.store::<String, i64>(StoreQueryParameters::from_name("counts"))
                .unwrap()
        };
        assert_eq!(view(host).get(word).unwrap(), Some(*count), "{word}");
        assert_eq!(view(other).get(word).unwrap(), None, "{word}");
        let exact = StoreQueryParameters::from_name("counts").with_partition(ma.partition);
        assert_eq!(
            host.store::<String, i64>(exact.clone())
                .unwrap()
                .get(word)
                .unwrap(),
            Some(*count)
        );
        let e = state_error(other.store::<String, i64>(exact).unwrap().get(word));
        assert!(e.contains("not hosted by this instance"), "{e}");
    }
    assert!(!on_a.is_empty() && on_a.len() < want.len(), "{on_a:?}");

    // all and range: exactly the local keys, in key order, merged over partitions.
    let a_all = a_view.all().unwrap();
    let a_keys: Vec<String> = a_all.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(a_keys, on_a.iter().cloned().collect::<Vec<_>>());
    for (k, v) in &a_all {
        assert_eq!(want[k], *v);
    }
    let mut reversed = a_view.reverse_all().unwrap();
    reversed.reverse();
    assert_eq!(reversed, a_all);
    let (lo, hi) = ("w1".to_owned(), "w3".to_owned());
    let in_range: Vec<(String, i64)> = a_all
        .iter()
        .filter(|(k, _)| *k >= lo && *k <= hi)
        .cloned()
        .collect();
    assert_eq!(a_view.range(&lo, &hi).unwrap(), in_range);
    assert!(
        a_view.range(&hi, &lo).unwrap().is_empty(),
        "an inverted range"
    );
    let b_keys: BTreeSet<String> = b_view.all().unwrap().into_iter().map(|e| e.0).collect();
    assert!(b_keys.is_disjoint(&on_a));
    assert_eq!(b_keys.len() + on_a.len(), want.len());
    assert!(a_view.approximate_num_entries().unwrap() > 0);

    // The timestamped view of the same table.
    let ts = a
        .timestamped_key_value_store::<String, i64>(StoreQueryParameters::from_name("counts"))
        .unwrap();
    let some = on_a.iter().next().unwrap();
    let (count, stamp) = ts.get(some).unwrap().unwrap();
    assert_eq!(count, want[some]);
    assert!(stamp > 0);
    assert_eq!(ts.all().unwrap().len(), on_a.len());

    // Wrong names, kinds and types are refused when the view is made.
    let e = state_error(a.store::<String, i64>(StoreQueryParameters::from_name("nope")));
    assert!(
        e.contains("no store named nope") && e.contains("counts"),
        "{e}"
    );
    let e = state_error(a.window_store::<String, i64>(StoreQueryParameters::from_name("counts")));
    assert!(
        e.contains("timestamped key-value store, not a window store"),
        "{e}"
    );
    let e = a
        .store::<String, String>(StoreQueryParameters::from_name("counts"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("i64") && e.contains("String"), "{e}");

    // Metadata: both hosts, disjoint partitions covering both topics' three each.
    let all = a.stream_clients_metadata().unwrap();
    assert_eq!(all, b.stream_clients_metadata().unwrap());
    let hosts: Vec<HostInfo> = all.iter().map(|m| m.host_info.clone()).collect();
    assert_eq!(hosts, [ha.clone(), hb.clone()]);
    let mut seen = BTreeSet::new();
    for m in &all {
        assert!(m.state_store_names.contains("counts"), "{m:?}");
        for tp in &m.topic_partitions {
            assert!(seen.insert(tp.clone()), "{tp:?} on two hosts");
        }
    }
    let topics: BTreeSet<&str> = seen.iter().map(|tp| tp.topic.as_str()).collect();
    assert_eq!(topics.len(), 2, "{seen:?}");
    assert!(topics.contains("lines"));
    assert!(
        topics.iter().any(|t| t.ends_with("-repartition")),
        "{topics:?}"
    );
    for t in topics {
        let parts: BTreeSet<i32> = seen
            .iter()
            .filter(|tp| tp.topic == t)
            .map(|tp| tp.partition)
            .collect();
        assert_eq!(parts, (0..3).collect(), "{t}");
    }
    assert_eq!(a.streams_metadata_for_store("counts").unwrap(), all);
    let e = state_error(a.streams_metadata_for_store("nope"));
    assert!(e.contains("no store named nope"), "{e}");

    // A closes: its views fail, B takes every task and its old view sees them all.
    a.close();
    let e = state_error(a_view.get(some));
    assert!(e.contains("closed") && e.contains("NOT_RUNNING"), "{e}");
    let e = state_error(a.store::<String, i64>(StoreQueryParameters::from_name("counts")));
    assert!(e.contains("closed"), "{e}");
    assert!(state_error(a.stream_clients_metadata()).contains("closed"));
    wait_until("b running all 6 tasks", APP_WAIT, || {
        b.state() == StreamsState::Running && task_count(&b) == 6
    });
    let second = lines(200, 260);
    broker.produce("lines", 3, &bytes(&second));
    let all_lines: Vec<String> = first.iter().chain(&second).cloned().collect();
    let want = model(&all_lines);
    wait_until("b's old view showing the whole model", APP_WAIT, || {
        b_view
            .all()
            .map(|v| v.into_iter().collect::<BTreeMap<_, _>>() == want)
            .unwrap_or(false)
    });
    for word in want.keys() {
        let m = b.query_metadata_for_key("counts", word, &serde).unwrap();
        assert_eq!(m.active_host, hb, "{word}");
    }
    let all = b.stream_clients_metadata().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].topic_partitions.len(), 6);
    b.close();
}

/// Tells the test when the first changelog partition is restored, then holds the
/// restoring thread until released.
struct HoldFirstRestore {
    held: AtomicBool,
    restored: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl StateRestoreListener for HoldFirstRestore {
    fn on_restore_end(&self, _: &str, _: i32, _: &str, _: u64) {
        if self.held.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.restored.lock().unwrap().send(());
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
    }
}

#[test]
fn stale_stores_show_tasks_that_are_still_restoring() {
    let broker = TestBroker::start();
    broker.create_topic("lines", 3);
    broker.create_topic("counts", 3);
    let dir = tempfile::tempdir().unwrap();
    let app = "iq-stale";
    let first = lines(0, 150);
    let want = model(&first);
    {
        let s =
            KafkaStreams::new(word_count(), config(app, &broker.addr, dir.path(), None)).unwrap();
        s.start().unwrap();
        assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
        broker.produce("lines", 3, &bytes(&first));
        wait_for_stores(&[&s], &want);
        s.close();
        s.cleanup().unwrap();
    }
    // Restarted with its state wiped: it restores all three stores from the changelogs,
    // and the first restored one is held.
    let s = KafkaStreams::new(word_count(), config(app, &broker.addr, dir.path(), None)).unwrap();
    let (restored_tx, restored) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    s.set_restore_listener(Arc::new(HoldFirstRestore {
        held: AtomicBool::new(false),
        restored: Mutex::new(restored_tx),
        release: Mutex::new(release_rx),
    }));
    s.start().unwrap();
    restored
        .recv_timeout(APP_WAIT)
        .expect("a changelog partition restored");
    assert_eq!(s.state(), StreamsState::Rebalancing);
    let plain = s
        .store::<String, i64>(StoreQueryParameters::from_name("counts"))
        .unwrap();
    let e = state_error(plain.all());
    assert!(e.contains("REBALANCING") && e.contains("stale"), "{e}");
    let stale = s
        .store::<String, i64>(StoreQueryParameters::from_name("counts").enable_stale_stores())
        .unwrap();
    let partial: BTreeMap<String, i64> = stale.all().unwrap().into_iter().collect();
    assert!(!partial.is_empty(), "the restored partition is visible");
    for (k, v) in &partial {
        assert_eq!(want[k], *v, "{k}");
    }
    // Metadata is not known to an instance without application.server.
    let m = s
        .query_metadata_for_key("counts", &"w1".to_owned(), &Serdes::string())
        .unwrap();
    assert!(!m.is_available(), "{m:?}");
    release.send(()).unwrap();
    assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
    assert_eq!(local_counts(&s), want);
    assert!(s.stream_clients_metadata().unwrap().is_empty());
    s.close();
}

/// Sums values per key in windows of 100 ms and keeps each record as a session
/// `[ts, ts + 10]`.
struct Recorder;

impl Processor<String, i64> for Recorder {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, i64>,
    ) -> brook_streams::Result<()> {
        let windows = ctx.window_store::<String, i64>("sums")?;
        let start = r.timestamp - r.timestamp % 100;
        let sum = windows.fetch(&r.key, start)?.unwrap_or(0) + r.value;
        windows.put(&r.key, Some(&sum), start)?;
        let sessions = ctx.session_store::<String, i64>("visits")?;
        let w = SessionWindow {
            start: r.timestamp,
            end: r.timestamp + 10,
        };
        sessions.put(&r.key, w, &r.value)
    }
}

fn recorder_topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder.global_table::<String, String>(
        "names",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_store("names-store"),
    );
    let mut t = builder.build().unwrap();
    t.add_source("events", &["events"], Serdes::string(), Serdes::i64())
        .unwrap();
    t.add_processor("record", || Recorder, &["events"]).unwrap();
    t.add_state_store(
        Stores::window("sums", 60_000, 100, false, Serdes::string(), Serdes::i64()),
        &["record"],
    )
    .unwrap();
    t.add_state_store(
        Stores::session("visits", 60_000, Serdes::string(), Serdes::i64()),
        &["record"],
    )
    .unwrap();
    t
}

#[test]
fn window_session_and_global_stores_are_queryable() {
    let broker = TestBroker::start();
    broker.create_topic("events", 2);
    broker.create_topic("names", 1);
    let dir = tempfile::tempdir().unwrap();
    let s = KafkaStreams::new(
        recorder_topology(),
        config(
            "iq-windows",
            &broker.addr,
            dir.path(),
            Some("localhost:7100"),
        ),
    )
    .unwrap();
    s.start().unwrap();
    assert!(s.wait_for_state(StreamsState::Running, APP_WAIT));
    let v = |n: i64| n.to_be_bytes().to_vec();
    let events = [
        ("a", v(1), 1_000),
        ("a", v(2), 1_050),
        ("b", v(5), 1_010),
        ("a", v(4), 1_120),
        ("c", v(7), 1_200),
    ];
    let placed = broker.produce_at("events", &events);
    let cluster = broker.cluster();
    broker.rt.block_on(async {
        let producer = Producer::with_cluster(cluster, ProducerConfig::default()).unwrap();
        let r = ProducerRecord::new("names", Bytes::from("ann"))
            .with_key(Bytes::from("1"))
            .with_partition(0);
        producer.send(r).await.unwrap();
        producer.close(Duration::from_secs(5)).await.unwrap();
    });

    let windows = s
        .window_store::<String, i64>(StoreQueryParameters::from_name("sums"))
        .unwrap();
    wait_until("every event recorded", APP_WAIT, || {
        windows.all().map(|w| w.len() == 4).unwrap_or(false)
    });
    let a = "a".to_owned();
    assert_eq!(windows.fetch(&a, 1_000).unwrap(), Some(3));
    assert_eq!(windows.fetch(&a, 1_100).unwrap(), Some(4));
    assert_eq!(windows.fetch(&a, 1_200).unwrap(), None);
    assert_eq!(
        windows.fetch_range(&a, 0, 5_000).unwrap(),
        vec![(1_000, 3), (1_100, 4)]
    );
    assert!(windows.fetch_range(&a, 5_000, 0).unwrap().is_empty());
    // Over both partitions: by window start, then key.
    assert_eq!(
        windows.fetch_all(1_000, 1_100).unwrap(),
        vec![
            ("a".to_owned(), 1_000, 3),
            ("b".to_owned(), 1_000, 5),
            ("a".to_owned(), 1_100, 4)
        ]
    );
    assert_eq!(
        windows
            .fetch_key_range(&"b".to_owned(), &"c".to_owned(), 0, 5_000)
            .unwrap(),
        vec![("b".to_owned(), 1_000, 5), ("c".to_owned(), 1_200, 7)]
    );
    // The key's metadata names the partition whose store holds it.
    let serde = Serdes::string();
    let m = s.query_metadata_for_key("sums", &a, &serde).unwrap();
    assert_eq!(m.active_host, HostInfo::new("localhost", 7100));
    assert_eq!(m.partition, placed[0], "the default partitioner's choice");
    let only = |p: i32| {
        s.window_store::<String, i64>(StoreQueryParameters::from_name("sums").with_partition(p))
            .unwrap()
    };
    assert_eq!(only(m.partition).fetch(&a, 1_000).unwrap(), Some(3));
    assert_eq!(only(1 - m.partition).fetch(&a, 1_000).unwrap(), None);

    let sessions = s
        .session_store::<String, i64>(StoreQueryParameters::from_name("visits"))
        .unwrap();
    let w = |start: i64| SessionWindow {
        start,
        end: start + 10,
    };
    assert_eq!(
        sessions.fetch(&a).unwrap(),
        vec![(w(1_000), 1), (w(1_050), 2), (w(1_120), 4)]
    );
    assert_eq!(
        sessions.find_sessions(&a, 1_055, 1_120).unwrap(),
        vec![(w(1_050), 2), (w(1_120), 4)]
    );
    assert_eq!(sessions.fetch_session(&a, w(1_050)).unwrap(), Some(2));
    assert_eq!(sessions.fetch_session(&a, w(1_051)).unwrap(), None);
    assert_eq!(
        sessions
            .fetch_range(&"a".to_owned(), &"b".to_owned())
            .unwrap()
            .into_iter()
            .map(|(k, w, _)| (k, w.start))
            .collect::<Vec<_>>(),
        vec![
            ("a".to_owned(), 1_000),
            ("a".to_owned(), 1_050),
            ("a".to_owned(), 1_120),
            ("b".to_owned(), 1_010)
        ]
    );
    let e = state_error(s.session_store::<String, i64>(StoreQueryParameters::from_name("sums")));
    assert!(e.contains("is a window store, not a session store"), "{e}");

    // The global store: every instance has all of it, whatever the partition asked.
    let names = s
        .store::<String, String>(StoreQueryParameters::from_name("names-store").with_partition(5))
        .unwrap();
    wait_until("the global store updated", APP_WAIT, || {
        names.get(&"1".to_owned()).ok().flatten().as_deref() == Some("ann")
    });
    let m = s
        .query_metadata_for_key("names-store", &"1".to_owned(), &serde)
        .unwrap();
    assert_eq!(m.active_host, HostInfo::new("localhost", 7100));
    assert_eq!(m.partition, -1);
    let md = s.streams_metadata_for_store("names-store").unwrap();
    assert_eq!(md.len(), 1);
    assert!(md[0].state_store_names.is_superset(
        &["names-store", "sums", "visits"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    ));
    s.close();
    let e = state_error(windows.all());
    assert!(e.contains("closed"), "{e}");
}

#[test]
fn a_malformed_application_server_is_refused_at_construction() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["no-port", "host:port", ":9"] {
        let e = KafkaStreams::new(
            word_count(),
            config("iq-bad", "127.0.0.1:1", dir.path(), Some(bad)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("application.server") && e.contains(bad),
            "{bad}: {e}"
        );
    }
}
