//! `cargo bench -p brook-sql --bench queries`: one SQL query compiled by the engine and run
//! by the streams runtime on one stream thread, against a broker in this process served on
//! loopback, over 256-byte JSON records.
//!
//! Prints `name: value` lines:
//! - `csas_filter_records_per_s`: a CSAS with WHERE and a projection;
//! - `ctas_groupby_records_per_s`: a CTAS with COUNT and SUM grouped by 100,000 keys (the
//!   records' keys), and `ctas_groupby_repartition_records_per_s` the same grouped by a
//!   value column (through a repartition topic);
//! - `stream_table_join_records_per_s`: a stream joined to a table of 100,000 rows;
//!
//! each with its ratio to a bare `brook-client` consumer reading the same topic in the same
//! run (`raw_consume_records_per_s`). Size: `BROOK_BENCH_RECORDS` (default 2,000,000);
//! record cache: `BROOK_BENCH_CACHE_BYTES` (default 10 MB, ksqlDB's).

#[path = "../../streams/benches/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brook_sql::compile;
use brook_sql::engine::Engine;
use brook_streams::runtime::KafkaStreams;
use bytes::Bytes;
use support::{env, report, wanted, Bench, Progress};

const USERS: u64 = 100_000;

/// A 256-byte JSON event of user `i % USERS`.
fn event(i: u64, with_user: bool) -> Vec<u8> {
    let kind = ["click", "view", "buy"][(i % 3) as usize];
    let head = if with_user {
        format!(
            r#"{{"id":{i},"user_id":"user-{:06}","kind":"{kind}","amount":{},"note":""#,
            i % USERS,
            i % 1000
        )
    } else {
        format!(
            r#"{{"id":{i},"kind":"{kind}","amount":{},"note":""#,
            i % 1000
        )
    };
    let mut v = head.into_bytes();
    let pad = 256 - v.len() - 2;
    v.extend(std::iter::repeat_n(b'x', pad));
    v.extend_from_slice(b"\"}");
    debug_assert_eq!(v.len(), 256);
    v
}

fn user_key(i: u64) -> Bytes {
    Bytes::from(format!("user-{:06}", i % USERS))
}

/// Runs `statements` (the last one a persistent query) and returns the records per second
/// it reads `n` records at.
fn run(bench: &Bench, app: &str, topics: &[&str], statements: &str, n: u64) -> f64 {
    let mut engine = Engine::new(BTreeMap::new());
    for t in topics {
        engine.add_topic(t, 1);
    }
    engine.execute_sql(statements).expect("the statements run");
    let query = engine.queries.last().expect("a persistent query").clone();
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let topology = compile::build_topology_with(
        &query.plan,
        &query.id,
        engine.processing_log(),
        Some(Arc::new(move || p.tick())),
    )
    .expect("a topology");
    let sink = query.plan.sink.as_ref().expect("a sink").topic.clone();
    bench.create(&sink, 1, false);
    let dir = tempfile::tempdir().expect("a state dir");
    let mut config = bench.config(app, dir.path());
    // `BROOK_BENCH_CACHE_BYTES` sets the record cache (ksqlDB's
    // `ksql.streams.cache.max.bytes.buffering`, default 10 MB).
    if let Some(bytes) = std::env::var("BROOK_BENCH_CACHE_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config.cache_max_bytes = bytes;
    }
    let streams = KafkaStreams::new(topology, config).expect("streams");
    streams.start().expect("starts");
    let rate = progress.wait(n, Duration::from_secs(900));
    streams.close();
    rate
}

const EVENTS: &str = "CREATE STREAM EVENTS (ID BIGINT, USER_ID STRING, KIND STRING, AMOUNT BIGINT, NOTE STRING) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON');";

fn main() {
    let n = env("BROOK_BENCH_RECORDS", 2_000_000);
    let bench = Bench::start();
    let join = wanted("stream_table_join_records_per_s");
    if join {
        // The table first: its records are older than the stream's, so the task reads
        // them first.
        bench.create("users", 1, true);
        bench.produce("users", USERS, |i| {
            let v = format!(r#"{{"name":"name-{i}","region":"region-{}"}}"#, i % 10);
            (user_key(i), Bytes::from(v))
        });
        bench.create("keyed_events", 1, false);
        bench.produce("keyed_events", n, |i| {
            (user_key(i), Bytes::from(event(i, false)))
        });
    }
    bench.create("events", 1, false);
    bench.produce("events", n, |i| (user_key(i), Bytes::from(event(i, true))));
    let raw = bench.raw_consume("events", n);
    println!("raw_consume_records_per_s: {raw:.0}");

    if wanted("csas_filter_records_per_s") {
        let sql = format!(
            "{EVENTS} CREATE STREAM BUYS AS SELECT ID, USER_ID, AMOUNT * 100 AS CENTS FROM EVENTS WHERE KIND <> 'view';"
        );
        let rate = run(&bench, "bench-csas", &["events"], &sql, n);
        report("csas_filter_records_per_s", rate, raw);
    }
    if wanted("ctas_groupby_records_per_s") {
        // The records are keyed by user, and the stream says so: grouped where they are,
        // as Kafka Streams' count by key (the streams benchmark's count) is.
        let sql = "CREATE STREAM BY_USER (USER_ID STRING KEY, ID BIGINT, KIND STRING, AMOUNT BIGINT, NOTE STRING) WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON');
            CREATE TABLE TOTALS AS SELECT USER_ID, COUNT(*) AS N, SUM(AMOUNT) AS TOTAL FROM BY_USER GROUP BY USER_ID;";
        let rate = run(&bench, "bench-ctas", &["events"], sql, n);
        report("ctas_groupby_records_per_s", rate, raw);
    }
    if wanted("ctas_groupby_repartition_records_per_s") {
        // The same over a keyless declaration: GROUP BY a value column goes through a
        // repartition topic.
        let sql = format!(
            "{EVENTS} CREATE TABLE TOTALS2 AS SELECT USER_ID, COUNT(*) AS N, SUM(AMOUNT) AS TOTAL FROM EVENTS GROUP BY USER_ID;"
        );
        let rate = run(&bench, "bench-ctas-repartition", &["events"], &sql, n);
        report("ctas_groupby_repartition_records_per_s", rate, raw);
    }
    if join {
        let raw_keyed = bench.raw_consume("keyed_events", n);
        let sql = "CREATE TABLE USERS (USER_ID STRING PRIMARY KEY, NAME STRING, REGION STRING) WITH (KAFKA_TOPIC='users', VALUE_FORMAT='JSON');
            CREATE STREAM KEYED (USER_ID STRING KEY, ID BIGINT, KIND STRING, AMOUNT BIGINT, NOTE STRING) WITH (KAFKA_TOPIC='keyed_events', VALUE_FORMAT='JSON');
            CREATE STREAM ENRICHED AS SELECT K.USER_ID, K.AMOUNT, U.REGION FROM KEYED K JOIN USERS U ON K.USER_ID = U.USER_ID;";
        // The rate counts every record the query reads, the table's too.
        let rate = run(
            &bench,
            "bench-join",
            &["users", "keyed_events"],
            sql,
            n + USERS,
        );
        report("stream_table_join_records_per_s", rate, raw_keyed);
    }
}
