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

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_streams::runtime::{KafkaStreams, StateRestoreListener};
use brook_streams::{Consumed, Grouped, Materialized, Produced, Serdes, StreamsBuilder};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use support::{env, report, wanted, Bench, Progress};

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
