//! `cargo bench -p brook-streams --bench windows_joins`: windowed aggregation and joins on
//! one stream thread against a broker in this process, served on loopback.
//!
//! Prints `name: value` lines, each with its ratio to a bare `brook-client` consumer
//! reading the same input in the same run:
//! - `tumbling_count_records_per_s`: a tumbling 1-minute count over 100,000 keys (RocksDB
//!   window store with changelog);
//! - `stream_table_join_records_per_s`: a stream joined with a table of 1,000,000 rows
//!   (`BROOK_BENCH_TABLE_ROWS`), counted over the stream's records once the table is
//!   loaded;
//! - `stream_stream_join_records_per_s`: two streams joined within 1 minute, counted over
//!   the records of both.
//!
//! `BROOK_BENCH_RECORDS` (default 2,000,000) sets the stream sizes; a name argument runs
//! one figure.

mod support;

use std::sync::Arc;
use std::time::Duration;

use brook_streams::{
    Consumed, Grouped, JoinWindows, Joined, KafkaStreams, Materialized, Produced, Serdes,
    StoreQueryParameters, StreamJoined, StreamsBuilder, TimeWindows,
};
use bytes::Bytes;
use support::{env, report, wanted, Bench, Progress};

/// Event time of the `i`th record: 1 ms apart from a fixed start.
const T0: i64 = 1_700_000_000_000;

fn key(i: u64, keys: u64) -> Bytes {
    Bytes::from(format!("key-{:07}", i % keys))
}

fn tumbling(bench: &Bench, n: u64) {
    bench.create("clicks", 1, false);
    bench.produce_timed("clicks", n, |i| {
        (
            key(i, 100_000),
            Bytes::from_static(b"c"),
            Some(T0 + i as i64),
        )
    });
    let raw = bench.raw_consume("clicks", n);
    println!("raw_consume_clicks_records_per_s: {raw:.0}");
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Bytes>(
            &["clicks"],
            Consumed::with(Serdes::string(), Serdes::bytes()),
        )
        .peek(move |_, _| p.tick())
        .group_by_key(Grouped::with(Serdes::string(), Serdes::bytes()))
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .count(Materialized::as_store("clicks-per-minute"));
    let dir = tempfile::tempdir().expect("a state dir");
    let app = KafkaStreams::new(
        builder.build().expect("a topology"),
        bench.config("bench-tumbling", dir.path()),
    )
    .expect("streams");
    app.start().expect("starts");
    let rate = progress.wait(n, Duration::from_secs(900));
    app.close();
    report("tumbling_count_records_per_s", rate, raw);
}

fn stream_table(bench: &Bench, n: u64) {
    let rows = env("BROOK_BENCH_TABLE_ROWS", 1_000_000);
    bench.create("profiles", 1, false);
    bench.create("views", 1, false);
    bench.produce_timed("profiles", rows, |i| {
        (
            key(i, rows),
            Bytes::from(format!("region-{}", i % 16)),
            Some(T0 - 1),
        )
    });
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let builder = StreamsBuilder::new();
    // Uncached, so every row is in the store (where the join reads it) as soon as it is
    // processed.
    let profiles = builder.table(
        "profiles",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_store("profiles").with_caching_disabled(),
    );
    builder
        .stream::<String, Bytes>(
            &["views"],
            Consumed::with(Serdes::string(), Serdes::bytes()),
        )
        .join_table(
            &profiles,
            |_view: &Bytes, region: &String| region.len() as i64,
            Joined::with(Serdes::string(), Serdes::bytes(), Serdes::string()),
        )
        .peek(move |_, _| p.tick())
        .to(
            "views-by-region",
            Produced::with(Serdes::string(), Serdes::i64()),
        );
    let dir = tempfile::tempdir().expect("a state dir");
    let app = KafkaStreams::new(
        builder.build().expect("a topology"),
        bench.config("bench-stream-table", dir.path()),
    )
    .expect("streams");
    app.start().expect("starts");
    // The table is loaded before any view is written (Brook has no max.task.idle.ms yet,
    // so a view read before its row would find none): wait for the last row.
    let last = String::from_utf8(key(rows - 1, rows).to_vec()).expect("UTF-8");
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    loop {
        let store = app.store::<String, String>(StoreQueryParameters::from_name("profiles"));
        if let Ok(Some(_)) = store.and_then(|s| s.get(&last)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the table did not load"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Written while the application runs: the producer outpaces the join, so the join's
    // rate is what is measured (from its first result to its last).
    bench.produce_timed("views", n, |i| {
        (
            key(i * 7919, rows),
            Bytes::from_static(b"page"),
            Some(T0 + i as i64),
        )
    });
    // Every view has a row: each yields one join result.
    let rate = progress.wait(n, Duration::from_secs(900));
    app.close();
    let raw = bench.raw_consume("views", n);
    println!("raw_consume_views_records_per_s: {raw:.0}");
    report("stream_table_join_records_per_s", rate, raw);
}

fn stream_stream(bench: &Bench, n: u64) {
    bench.create("orders", 1, false);
    bench.create("payments", 1, false);
    let keys = 100_000;
    bench.produce_timed("orders", n / 2, |i| {
        (
            key(i, keys),
            Bytes::from_static(b"order"),
            Some(T0 + 2 * i as i64),
        )
    });
    bench.produce_timed("payments", n / 2, |i| {
        (
            key(i, keys),
            Bytes::from_static(b"paid"),
            Some(T0 + 2 * i as i64 + 1),
        )
    });
    let raw = bench.raw_consume("orders", n / 2);
    println!("raw_consume_orders_records_per_s: {raw:.0}");
    let progress = Arc::new(Progress::default());
    let (p1, p2) = (progress.clone(), progress.clone());
    let builder = StreamsBuilder::new();
    let orders = builder
        .stream::<String, Bytes>(
            &["orders"],
            Consumed::with(Serdes::string(), Serdes::bytes()),
        )
        .peek(move |_, _| p1.tick());
    let payments = builder
        .stream::<String, Bytes>(
            &["payments"],
            Consumed::with(Serdes::string(), Serdes::bytes()),
        )
        .peek(move |_, _| p2.tick());
    orders
        .join(
            &payments,
            |o: &Bytes, p: &Bytes| (o.len() + p.len()) as i64,
            JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)),
            StreamJoined::with(Serdes::string(), Serdes::bytes(), Serdes::bytes()),
        )
        .to(
            "paid-orders",
            Produced::with(Serdes::string(), Serdes::i64()),
        );
    let dir = tempfile::tempdir().expect("a state dir");
    let app = KafkaStreams::new(
        builder.build().expect("a topology"),
        bench.config("bench-stream-stream", dir.path()),
    )
    .expect("streams");
    app.start().expect("starts");
    let rate = progress.wait(n / 2 * 2, Duration::from_secs(900));
    app.close();
    report("stream_stream_join_records_per_s", rate, raw);
}

fn main() {
    let n = env("BROOK_BENCH_RECORDS", 2_000_000);
    let bench = Bench::start();
    if wanted("tumbling") {
        tumbling(&bench, n);
    }
    if wanted("stream_table") {
        stream_table(&bench, n);
    }
    if wanted("stream_stream") {
        stream_stream(&bench, n);
    }
}
