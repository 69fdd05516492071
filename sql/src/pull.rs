//! Pull queries: a `SELECT` without `EMIT CHANGES` answers with the rows a table or a
//! stream holds now, and ends.
//!
//! # What can be queried
//!
//! | source | rows come from |
//! |---|---|
//! | a table an aggregation makes (`CREATE TABLE t AS SELECT ... GROUP BY ...`), windowed or not | the aggregation's state store |
//! | a table a non-aggregating query makes over one table (`CREATE TABLE t AS SELECT * FROM u [WHERE ...]`) | the store of its source table, through the query's `WHERE` and projection |
//! | a table a table-table join makes (`CREATE TABLE t AS SELECT ... FROM a JOIN b ...`) | the join's store, through the query's `WHERE` and projection |
//! | any other table a query writes, and a `CREATE SOURCE TABLE` | its topic, read from the beginning to the end offsets of when the query started, keeping the latest row of each key (tombstones delete) |
//! | a stream (`CREATE [SOURCE] STREAM`, `CREATE STREAM ... AS SELECT`) | its topic, from the beginning to the end offsets of when the query started, decoded with the stream's formats |
//!
//! A plain `CREATE TABLE ... WITH (kafka_topic=...)` is not queryable, as in ksqlDB: derive
//! one with `CREATE TABLE QUERYABLE_X AS SELECT * FROM X`, or declare it
//! `CREATE SOURCE TABLE`. Stores are read on the server that runs the query (its local
//! tasks); topic reads need the cluster (see [`pull_on_cluster`]) and hold what they read
//! in memory (a table: its latest rows; a stream: only what `LIMIT` keeps, unless
//! `ORDER BY` needs every matching row). `ksql.query.pull.stream.enabled=false` refuses
//! pull queries on streams, as in ksqlDB.
//!
//! Pull queries take no `JOIN`, `WINDOW`, `GROUP BY`, `PARTITION BY` or `HAVING` clause
//! and no aggregate or table function, and fail with ksqlDB's messages when given one.
//!
//! # WHERE, and how rows are found
//!
//! Any `WHERE` works (ksqlDB's `ksql.query.pull.table.scan.enabled`, true by default): the
//! clause is analysed to read as little of a store as it can, then every row read is
//! checked against the whole clause, so the answer never depends on the access path.
//!
//! - **Key lookups.** When each disjunct of the clause fixes every key column with `=` or
//!   `IN (...)` (values that use no column, e.g. `ID = 10 + 1`, `ID IN ('a', 'b')`,
//!   `ID1 = 'x' AND ID2 = 3`, `ID = 'a' OR ID = 'b'`), the store is read by point lookups.
//! - **Key ranges.** On a single `INTEGER`, `BIGINT`, `TIMESTAMP`, `DATE` or `TIME` key,
//!   `<`, `<=`, `>`, `>=` and `BETWEEN` read the store by key range (the engine's key
//!   encoding keeps those in order). Ranges on other key types scan and filter.
//! - **Windows.** On a windowed table, `WINDOWSTART` and `WINDOWEND` bounds (`=`, `<`, `<=`,
//!   `>`, `>=`, `BETWEEN`, with numbers or timestamp text such as `'2020-02-23T23:45:12.000'`,
//!   `'2020-02-23T22:45:12.000-0100'`, `'2020-02-22T23:45'`, read as UTC unless they name
//!   a zone) narrow the time range read from the window store.
//! - Anything else scans the store and filters.
//!
//! With `ksql.query.pull.table.scan.enabled=false` a query on a table must look keys up as
//! ksqlDB's does (each disjunct fixes every key column with `=` or `IN`, once), and fails
//! with ksqlDB's messages otherwise.
//!
//! # Results
//!
//! The columns of `SELECT *` on a table are its key columns, then (windowed tables)
//! `WINDOWSTART` and `WINDOWEND`, then its value columns; key columns and window bounds are
//! marked as keys ([`ResultColumn::key`], `KEY` in ksqlDB's header). A stream's columns are
//! never marked. `ROWTIME` may be selected and filtered on (for a table: the timestamp of
//! the row's last update; for a session: its end); `ROWPARTITION` and `ROWOFFSET` may not,
//! as in ksqlDB. Windowed rows read from a time-window store have no `ROWTIME` (NULL) until
//! the streams layer exposes the stored window timestamps. Rows read from a topic take
//! `ROWTIME` from the source's `TIMESTAMP` column when it is a `BIGINT` or `TIMESTAMP`
//! (with `TIMESTAMP_FORMAT`, from the record's timestamp).
//!
//! # ORDER BY and LIMIT
//!
//! `LIMIT n` stops after `n` rows. Brook also accepts `ORDER BY` in pull queries (ksqlDB
//! does not): `SELECT ... FROM t [WHERE ...] ORDER BY item [ASC|DESC] [NULLS FIRST|LAST],
//! ... [LIMIT n]`, where an item is an output column's name, its position (`ORDER BY 2`),
//! or any expression over the source's columns. NULLs sort as the smallest values unless
//! `NULLS FIRST`/`NULLS LAST` says otherwise. With `ORDER BY`, every matching row is read
//! and sorted before the limit applies. Push and persistent queries refuse `ORDER BY`.
//!
//! # API
//!
//! [`SqlRuntime::pull`](crate::runtime::SqlRuntime::pull) runs pull queries on a server.
//! Underneath, [`pull_with`] runs one on any [`PullSource`]: [`ClusterSource`] (a streams
//! runtime's stores and a cluster's topics) or, without a broker, [`TestDriverSource`]
//! through a [`Testbed`] (an engine's queries on one `TopologyTestDriver`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brook_client::{Consumer, ConsumerConfig, TopicPartition};
use brook_streams::{KafkaStreams, StoreQueryParameters, TopologyTestDriver};
use bytes::Bytes;

use crate::ast::{self, BinaryOp, Expr, ExprKind, Literal, SelectItem, SourceKind, Statement};
use crate::catalog::Source;
use crate::compile::{self, ProcessingLog};
use crate::engine::{Engine, PersistentQuery};
use crate::error::{Result, SqlError};
use crate::expr::{self, CompiledExpr, Context, Scope};
use crate::parser;
use crate::plan::{self, JoinShape, WindowSpec};
use crate::result::{QueryResult, ResultColumn};
use crate::types::{Namespace, SqlType, ROWOFFSET, ROWPARTITION, WINDOWEND, WINDOWSTART};
use crate::value::{encode_row, Row, Value};

/// ksqlDB's property that allows pull queries that are not key lookups.
pub const TABLE_SCAN_ENABLED: &str = "ksql.query.pull.table.scan.enabled";

/// ksqlDB's property that allows pull queries on streams.
pub const STREAM_PULL_ENABLED: &str = "ksql.query.pull.stream.enabled";

/// ksqlDB's pointer after pull query errors.
const SEE_QUERIES: &str = "See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query.";

// ---------------------------------------------------------------------------------------
// Where rows come from

/// A window of a windowed store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWindow {
    pub key: Row,
    pub start: i64,
    /// The end, for sessions; `None` for time windows, whose end is `start + size`.
    pub end: Option<i64>,
    /// The accumulators.
    pub value: Row,
    /// The largest record timestamp in the window, when the store tells it.
    pub timestamp: Option<i64>,
}

/// A record of a topic, as read for a pull query.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Records of a topic, read lazily (dropping the iterator stops the read).
pub type Records<'a> = Box<dyn Iterator<Item = Result<TopicRecord>> + 'a>;

/// What pull queries read: the stores of the running queries (keys and accumulators are
/// rows in the engine's own encoding, [`encode_row`]) and topics. [`ClusterSource`] reads
/// a server's streams runtime and its cluster, [`TestDriverSource`] a
/// `TopologyTestDriver`. A lookup may return more than was asked for (rows are checked
/// against the query afterwards), never less.
pub trait PullSource {
    /// The value and timestamp of `key` in key-value store `store`.
    fn get(&self, store: &str, key: &Row) -> Result<Option<(Row, i64)>>;
    /// The entries of `store` whose encoded keys are from `from`'s to `to`'s, both
    /// included.
    fn range(&self, store: &str, from: &Row, to: &Row) -> Result<Vec<(Row, Row, i64)>>;
    /// Every entry of `store`.
    fn all(&self, store: &str) -> Result<Vec<(Row, Row, i64)>>;
    /// The windows of window store `store` starting within `from..=to`, of `key` or of
    /// every key.
    fn windows(
        &self,
        store: &str,
        key: Option<&Row>,
        from: i64,
        to: i64,
    ) -> Result<Vec<StoredWindow>>;
    /// The sessions of session store `store`, of `key` or of every key.
    fn sessions(&self, store: &str, key: Option<&Row>) -> Result<Vec<StoredWindow>>;
    /// The records of `topic`, from the beginning of each partition to its end offset
    /// when the call is made.
    fn records(&self, topic: &str) -> Result<Records<'_>>;
}

/// The stores of a streams runtime (this server's tasks) and, for topic reads, a
/// cluster.
#[derive(Clone, Copy)]
pub struct ClusterSource<'a> {
    pub streams: Option<&'a KafkaStreams>,
    pub bootstrap_servers: Option<&'a str>,
}

impl ClusterSource<'_> {
    fn streams(&self) -> Result<&KafkaStreams> {
        self.streams.ok_or_else(|| {
            SqlError::Streams(
                "no persistent query runs on this server, so it materializes no table".into(),
            )
        })
    }
}

/// A row that sorts after every key row narrower than 4096 columns in the engine's
/// encoding (which starts with the column count).
fn past_every_key() -> Row {
    vec![Value::Null; 4096]
}

impl PullSource for ClusterSource<'_> {
    fn get(&self, store: &str, key: &Row) -> Result<Option<(Row, i64)>> {
        let s = self
            .streams()?
            .timestamped_key_value_store::<Row, Row>(StoreQueryParameters::from_name(store))?;
        Ok(s.get(key)?)
    }

    fn range(&self, store: &str, from: &Row, to: &Row) -> Result<Vec<(Row, Row, i64)>> {
        let s = self
            .streams()?
            .timestamped_key_value_store::<Row, Row>(StoreQueryParameters::from_name(store))?;
        Ok(s.range(from, to)?)
    }

    fn all(&self, store: &str) -> Result<Vec<(Row, Row, i64)>> {
        let s = self
            .streams()?
            .timestamped_key_value_store::<Row, Row>(StoreQueryParameters::from_name(store))?;
        Ok(s.all()?)
    }

    fn windows(
        &self,
        store: &str,
        key: Option<&Row>,
        from: i64,
        to: i64,
    ) -> Result<Vec<StoredWindow>> {
        let s = self
            .streams()?
            .window_store::<Row, Row>(StoreQueryParameters::from_name(store))?;
        let raw: Vec<(Row, i64, Row, i64)> = match key {
            Some(k) => s
                .fetch_range_timestamped(k, from, to)?
                .into_iter()
                .map(|(start, v, ts)| (k.clone(), start, v, ts))
                .collect(),
            None => s.fetch_all_timestamped(from, to)?,
        };
        Ok(raw
            .into_iter()
            .map(|(key, start, value, ts)| StoredWindow {
                key,
                start,
                end: None,
                value,
                timestamp: (ts >= 0).then_some(ts),
            })
            .collect())
    }

    fn sessions(&self, store: &str, key: Option<&Row>) -> Result<Vec<StoredWindow>> {
        let s = self
            .streams()?
            .session_store::<Row, Row>(StoreQueryParameters::from_name(store))?;
        let raw: Vec<(Row, i64, i64, Row)> = match key {
            Some(k) => s
                .fetch(k)?
                .into_iter()
                .map(|(w, v)| (k.clone(), w.start, w.end, v))
                .collect(),
            None => s
                .fetch_range(&Vec::new(), &past_every_key())?
                .into_iter()
                .map(|(k, w, v)| (k, w.start, w.end, v))
                .collect(),
        };
        Ok(raw
            .into_iter()
            .map(|(key, start, end, value)| StoredWindow {
                key,
                start,
                end: Some(end),
                value,
                timestamp: Some(end),
            })
            .collect())
    }

    fn records(&self, topic: &str) -> Result<Records<'_>> {
        let servers = self.bootstrap_servers.ok_or_else(|| {
            SqlError::Streams(format!(
                "reading topic {topic} needs the cluster's bootstrap servers"
            ))
        })?;
        Ok(Box::new(read_topic(servers, topic)))
    }
}

/// Reads `topic` on a thread of its own (with its own I/O runtime, so that a pull query
/// may be run from any thread, async or not), handing batches over a small channel.
fn read_topic(servers: &str, topic: &str) -> impl Iterator<Item = Result<TopicRecord>> {
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<TopicRecord>>>(4);
    let servers = servers.to_owned();
    let topic = topic.to_owned();
    let spawned = std::thread::Builder::new()
        .name("pull-query-read".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(SqlError::Streams(format!(
                        "cannot start a runtime to read {topic}: {e}"
                    ))));
                    return;
                }
            };
            if let Err(e) = rt.block_on(read_topic_to(&servers, &topic, &tx)) {
                let _ = tx.send(Err(e));
            }
        });
    let failed = spawned.err().map(|e| {
        Err(SqlError::Streams(format!(
            "cannot start a thread to read a topic: {e}"
        )))
    });
    failed
        .into_iter()
        .chain(rx.into_iter().flat_map(|batch| match batch {
            Ok(records) => records.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        }))
}

async fn read_topic_to(
    servers: &str,
    topic: &str,
    tx: &mpsc::SyncSender<Result<Vec<TopicRecord>>>,
) -> Result<()> {
    let fail =
        |e: brook_client::ClientError| SqlError::Streams(format!("cannot read {topic}: {e}"));
    let mut c = Consumer::connect(ConsumerConfig::new(servers.to_owned()))
        .await
        .map_err(fail)?;
    let meta = c.cluster().topic(topic).await.map_err(fail)?;
    let tps: Vec<TopicPartition> = meta
        .partitions
        .iter()
        .map(|p| TopicPartition::new(topic, p.partition))
        .collect();
    let ends = c.end_offsets(&tps).await.map_err(fail)?;
    let begins = c.beginning_offsets(&tps).await.map_err(fail)?;
    let mut todo: BTreeMap<i32, i64> = tps
        .iter()
        .filter_map(|tp| {
            let end = ends.get(tp).copied().unwrap_or(0);
            let begin = begins.get(tp).copied().unwrap_or(0);
            (end > begin).then_some((tp.partition, end))
        })
        .collect();
    let assigned: Vec<TopicPartition> = todo
        .keys()
        .map(|p| TopicPartition::new(topic, *p))
        .collect();
    if assigned.is_empty() {
        return Ok(());
    }
    c.assign(&assigned);
    c.seek_to_beginning(&assigned).map_err(fail)?;
    let mut last_progress = Instant::now();
    while !todo.is_empty() {
        let polled = c.poll(Duration::from_millis(200)).await.map_err(fail)?;
        let batch: Vec<TopicRecord> = polled
            .into_iter()
            .filter(|r| todo.get(&r.partition).is_some_and(|end| r.offset < *end))
            .map(|r| TopicRecord {
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
            })
            .collect();
        if !batch.is_empty() {
            last_progress = Instant::now();
            if tx.send(Ok(batch)).is_err() {
                // The query has what it wants.
                return Ok(());
            }
        }
        let mut done = Vec::new();
        for (p, end) in &todo {
            let tp = TopicPartition::new(topic, *p);
            if c.position(&tp).await.map_err(fail)? >= *end {
                done.push(*p);
            }
        }
        for p in done {
            todo.remove(&p);
            last_progress = Instant::now();
        }
        if last_progress.elapsed() > Duration::from_secs(30) {
            return Err(SqlError::Streams(format!(
                "cannot read {topic}: no progress for 30 s (partitions {:?} not read to their end)",
                todo.keys().collect::<Vec<_>>()
            )));
        }
    }
    Ok(())
}

/// The stores of a [`TopologyTestDriver`] (which runs the queries' topology) and records
/// given per topic: pull queries without a broker, for tests.
pub struct TestDriverSource<'a> {
    /// The driver running the engine's queries (`None` when there are none).
    pub driver: Option<&'a TopologyTestDriver>,
    /// Each topic's records, in order.
    pub topics: &'a BTreeMap<String, Vec<TopicRecord>>,
}

impl TestDriverSource<'_> {
    fn driver(&self) -> Result<&TopologyTestDriver> {
        self.driver
            .ok_or_else(|| SqlError::Streams("no query runs, so no store exists".into()))
    }
}

impl PullSource for TestDriverSource<'_> {
    fn get(&self, store: &str, key: &Row) -> Result<Option<(Row, i64)>> {
        Ok(self
            .driver()?
            .timestamped_key_value_store::<Row, Row>(store)?
            .get(key)?)
    }

    fn range(&self, store: &str, from: &Row, to: &Row) -> Result<Vec<(Row, Row, i64)>> {
        let (f, t) = (encode_row(from), encode_row(to));
        Ok(self
            .all(store)?
            .into_iter()
            .filter(|(k, _, _)| {
                let b = encode_row(k);
                f <= b && b <= t
            })
            .collect())
    }

    fn all(&self, store: &str) -> Result<Vec<(Row, Row, i64)>> {
        Ok(self
            .driver()?
            .timestamped_key_value_store::<Row, Row>(store)?
            .all()?)
    }

    fn windows(
        &self,
        store: &str,
        key: Option<&Row>,
        from: i64,
        to: i64,
    ) -> Result<Vec<StoredWindow>> {
        let s = self.driver()?.window_store::<Row, Row>(store)?;
        let raw: Vec<(Row, i64, Row, i64)> = match key {
            Some(k) => s
                .fetch_range_timestamped(k, from, to)?
                .into_iter()
                .map(|(start, v, ts)| (k.clone(), start, v, ts))
                .collect(),
            None => s.fetch_all_timestamped(from, to)?,
        };
        Ok(raw
            .into_iter()
            .map(|(key, start, value, ts)| StoredWindow {
                key,
                start,
                end: None,
                value,
                timestamp: (ts >= 0).then_some(ts),
            })
            .collect())
    }

    fn sessions(&self, store: &str, key: Option<&Row>) -> Result<Vec<StoredWindow>> {
        let Some(k) = key else {
            return Err(SqlError::unsupported(
                None,
                "scanning the sessions of every key on a test driver",
            ));
        };
        let s = self.driver()?.session_store::<Row, Row>(store)?;
        Ok(s.fetch(k)?
            .into_iter()
            .map(|(w, value)| StoredWindow {
                key: k.clone(),
                start: w.start,
                end: Some(w.end),
                value,
                timestamp: Some(w.end),
            })
            .collect())
    }

    fn records(&self, topic: &str) -> Result<Records<'_>> {
        let records = self
            .topics
            .get(topic)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(Box::new(records.iter().cloned().map(Ok)))
    }
}

/// What a query writes to a topic, as bytes.
type RawOutput = brook_streams::TestOutputTopic<Option<Bytes>, Option<Bytes>>;

/// An engine's persistent queries on one [`TopologyTestDriver`], with every record piped
/// in (and every record the queries write) kept per topic: pull queries without a
/// broker, for tests.
///
/// ```
/// use brook_sql::engine::Engine;
/// use brook_sql::pull::Testbed;
/// use brook_sql::Value;
/// use bytes::Bytes;
///
/// let mut engine = Engine::new(Default::default());
/// engine.add_topic("clicks", 1);
/// engine.execute_sql(
///     "CREATE STREAM CLICKS (USER STRING KEY, URL STRING) WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON');
///      CREATE TABLE PER_USER AS SELECT USER, COUNT(*) AS N FROM CLICKS GROUP BY USER;",
/// )?;
/// let mut bed = Testbed::new(engine)?;
/// for (user, url) in [("ann", "/a"), ("bob", "/b"), ("ann", "/c")] {
///     let value = Bytes::from(format!(r#"{{"URL": "{url}"}}"#));
///     bed.pipe("clicks", Some(Bytes::from(user)), Some(value), 0)?;
/// }
/// let r = bed.pull("SELECT N FROM PER_USER WHERE USER = 'ann';")?;
/// assert_eq!(r.rows, vec![vec![Value::Bigint(2)]]);
/// let r = bed.pull("SELECT URL FROM CLICKS ORDER BY URL DESC LIMIT 1;")?;
/// assert_eq!(r.rows, vec![vec![Value::String("/c".into())]]);
/// # Ok::<(), brook_sql::SqlError>(())
/// ```
pub struct Testbed {
    pub engine: Engine,
    driver: Option<TopologyTestDriver>,
    /// The topics the queries read.
    read: HashSet<String>,
    /// The topics the queries write, to collect what they write.
    outputs: Vec<(String, RawOutput)>,
    topics: BTreeMap<String, Vec<TopicRecord>>,
}

impl Testbed {
    /// Runs every persistent query of `engine` in one topology (and pipes the records
    /// its `INSERT ... VALUES` statements produced).
    pub fn new(engine: Engine) -> Result<Testbed> {
        let mut bed = Testbed {
            driver: None,
            read: HashSet::new(),
            outputs: Vec::new(),
            topics: BTreeMap::new(),
            engine,
        };
        if !bed.engine.queries.is_empty() {
            let tb = compile::TopologyBuilder::new();
            for q in &bed.engine.queries {
                tb.add(&q.plan, &q.id, bed.engine.processing_log(), None)?;
                bed.read.extend(q.plan.source_topics());
            }
            let mut config = brook_streams::StreamsConfig::new("pull-testbed", "dummy:9092");
            config.deserialization_handler = brook_streams::DeserializationHandler::LogAndContinue;
            let driver = TopologyTestDriver::with_config(tb.build()?, &config, false, 0)?;
            let sinks: HashSet<String> = bed
                .engine
                .queries
                .iter()
                .filter_map(|q| q.plan.sink.as_ref().map(|s| s.topic.clone()))
                .collect();
            for t in sinks {
                let out = driver.create_output_topic(
                    &t,
                    brook_streams::Serdes::optional(brook_streams::Serdes::bytes()),
                    brook_streams::Serdes::optional(brook_streams::Serdes::bytes()),
                );
                bed.outputs.push((t, out));
            }
            bed.driver = Some(driver);
        }
        let produced = bed.engine.produced.clone();
        for p in produced {
            bed.pipe(&p.topic, p.key, p.value, p.timestamp)?;
        }
        Ok(bed)
    }

    /// Writes a record to `topic` (partition 0): the queries reading it process it now.
    pub fn pipe(
        &mut self,
        topic: &str,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
    ) -> Result<()> {
        self.keep(topic, key.clone(), value.clone(), timestamp);
        if let Some(d) = &self.driver {
            if self.read.contains(topic) {
                d.pipe_raw(
                    topic,
                    key,
                    value,
                    timestamp,
                    brook_streams::Headers::default(),
                )?;
            }
        }
        let mut written = Vec::new();
        for (t, out) in &self.outputs {
            for r in out.read_records_to_list()? {
                written.push((t.clone(), r.key, r.value, r.timestamp));
            }
        }
        for (t, k, v, ts) in written {
            self.keep(&t, k, v, ts);
        }
        Ok(())
    }

    fn keep(&mut self, topic: &str, key: Option<Bytes>, value: Option<Bytes>, timestamp: i64) {
        let records = self.topics.entry(topic.to_owned()).or_default();
        records.push(TopicRecord {
            partition: 0,
            offset: records.len() as i64,
            timestamp,
            key,
            value,
            headers: Vec::new(),
        });
    }

    /// Runs a pull query on the driver's stores and the records so far.
    pub fn pull(&self, sql: &str) -> Result<QueryResult> {
        pull_with(&self.engine, &self.source(), sql)
    }

    /// What pull queries read.
    pub fn source(&self) -> TestDriverSource<'_> {
        TestDriverSource {
            driver: self.driver.as_ref(),
            topics: &self.topics,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Entry points

/// Runs a pull query against the stores of `streams` (no topic reads: streams and
/// source tables need [`pull_on_cluster`]).
pub fn pull(engine: &Engine, streams: Option<&KafkaStreams>, sql: &str) -> Result<QueryResult> {
    pull_with(
        engine,
        &ClusterSource {
            streams,
            bootstrap_servers: None,
        },
        sql,
    )
}

/// Runs a pull query against the stores of `streams` and, for streams and source tables,
/// the topics of the cluster at `bootstrap_servers`.
pub fn pull_on_cluster(
    engine: &Engine,
    streams: Option<&KafkaStreams>,
    bootstrap_servers: &str,
    sql: &str,
) -> Result<QueryResult> {
    pull_with(
        engine,
        &ClusterSource {
            streams,
            bootstrap_servers: Some(bootstrap_servers),
        },
        sql,
    )
}

/// Runs the pull query `sql` (one `SELECT` without `EMIT`) on `source`.
pub fn pull_with(engine: &Engine, source: &dyn PullSource, sql: &str) -> Result<QueryResult> {
    let mut parsed = parser::parse(sql)?;
    if parsed.len() != 1 {
        return Err(SqlError::analysis(
            None,
            format!("a pull query is one statement, not {}", parsed.len()),
        ));
    }
    let stmt = parsed.remove(0);
    let Statement::Query(query) = &stmt.statement else {
        return Err(SqlError::at(stmt.pos, "a pull query is a SELECT"));
    };
    pull_query(engine, source, query)
}

/// Runs a parsed pull query on `source`.
pub fn pull_query(
    engine: &Engine,
    source: &dyn PullSource,
    query: &ast::Query,
) -> Result<QueryResult> {
    let q = Prepared::new(engine, query)?;
    q.run(engine, source)
}

// ---------------------------------------------------------------------------------------
// Analysis

/// How a table is materialized.
enum Materialization<'a> {
    /// An aggregation's store (key-value, window or session).
    Aggregate {
        query: &'a PersistentQuery,
        window: Option<WindowSpec>,
    },
    /// The store of the one table (or the last table-table join) a non-aggregating query
    /// reads, through that query's filter and projection.
    Derived {
        query: &'a PersistentQuery,
        store: String,
    },
    /// Its topic, latest row per key.
    TableTopic,
    /// Its topic, every record.
    StreamTopic,
}

/// A result column and how it is computed from the source's row.
struct Output {
    name: String,
    ty: SqlType,
    key: bool,
    expr: CompiledExpr,
}

enum SortBy {
    Output(usize),
    Expr(CompiledExpr),
}

struct SortKey {
    by: SortBy,
    descending: bool,
    nulls_first: bool,
}

/// A pull query, checked and compiled against its source's row (see
/// [`plan::source_scope`]).
struct Prepared<'a> {
    table: &'a Source,
    scope: Scope,
    outputs: Vec<Output>,
    /// The WHERE clause (window bounds as numbers), and compiled.
    where_: Option<Expr>,
    filter: Option<CompiledExpr>,
    order: Vec<SortKey>,
    limit: Option<u64>,
    materialization: Materialization<'a>,
}

fn clause_error(what: &str) -> String {
    format!("Pull queries don't support {what} clauses. {SEE_QUERIES}")
}

/// Whether `e` is a column of `scope`, and which.
fn column_index(e: &Expr, scope: &Scope) -> Option<usize> {
    let ExprKind::Column { qualifier, name } = &e.kind else {
        return None;
    };
    scope.columns.iter().position(|c| {
        c.name == name.name
            && qualifier
                .as_ref()
                .is_none_or(|q| c.qualifier.as_deref() == Some(q.name.as_str()))
    })
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq
    )
}

/// Every sub-expression of `e`, `e` first.
fn walk<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    out.push(e);
    match &e.kind {
        ExprKind::Literal(_) | ExprKind::Column { .. } => {}
        ExprKind::Unary { expr, .. }
        | ExprKind::IsNull { expr, .. }
        | ExprKind::Cast { expr, .. }
        | ExprKind::Dereference { expr, .. } => walk(expr, out),
        ExprKind::Binary { left, right, .. } | ExprKind::IsDistinctFrom { left, right, .. } => {
            walk(left, out);
            walk(right, out);
        }
        ExprKind::Between {
            expr, low, high, ..
        } => {
            walk(expr, out);
            walk(low, out);
            walk(high, out);
        }
        ExprKind::InList { expr, list, .. } => {
            walk(expr, out);
            list.iter().for_each(|x| walk(x, out));
        }
        ExprKind::Like { expr, pattern, .. } => {
            walk(expr, out);
            walk(pattern, out);
        }
        ExprKind::Case {
            operand,
            whens,
            else_,
        } => {
            if let Some(o) = operand {
                walk(o, out);
            }
            for (w, t) in whens {
                walk(w, out);
                walk(t, out);
            }
            if let Some(x) = else_ {
                walk(x, out);
            }
        }
        ExprKind::Function { args, .. } => args.iter().for_each(|x| walk(x, out)),
        ExprKind::Subscript { expr, index } => {
            walk(expr, out);
            walk(index, out);
        }
        ExprKind::Array(items) => items.iter().for_each(|x| walk(x, out)),
        ExprKind::Map(entries) => entries.iter().for_each(|(k, v)| {
            walk(k, out);
            walk(v, out);
        }),
        ExprKind::Struct(fields) => fields.iter().for_each(|(_, v)| walk(v, out)),
        ExprKind::Lambda { body, .. } => walk(body, out),
    }
}

/// `ROWPARTITION` and `ROWOFFSET`, which pull queries cannot use, where `exprs` use them.
fn check_pseudo_columns<'e>(exprs: impl Iterator<Item = &'e Expr>, clause: &str) -> Result<()> {
    let mut used: Vec<&str> = Vec::new();
    let mut first = None;
    for e in exprs {
        for (_, name) in expr::referenced_columns(e) {
            for p in [ROWPARTITION, ROWOFFSET] {
                if name == p && !used.contains(&p) {
                    used.push(p);
                    first.get_or_insert(e.pos);
                }
            }
        }
    }
    match first {
        None => Ok(()),
        Some(pos) => Err(SqlError::at(
            pos,
            format!(
                "Pull queries don't support the following columns in {clause} clauses: {}",
                used.iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A constant expression's value (one that uses no column and evaluates).
fn constant(e: &Expr, scope: &Scope, ctx: &Context<'_>) -> Option<Value> {
    if !expr::referenced_columns(e).is_empty() {
        return None;
    }
    expr::compile(e, scope, ctx).ok()?.try_constant()?.ok()
}

/// `'2020-02-23T23:45:12.000'` compared with `WINDOWSTART`/`WINDOWEND`: the text as
/// epoch milliseconds (UTC unless it names a zone), as ksqlDB reads window bounds.
fn window_literals(e: &Expr, scope: &Scope, ctx: &Context<'_>) -> Result<Expr> {
    let is_bound = |x: &Expr| {
        column_index(x, scope)
            .is_some_and(|i| matches!(scope.columns[i].name.as_str(), WINDOWSTART | WINDOWEND))
    };
    let as_millis = |x: &Expr| -> Result<Expr> {
        let ExprKind::Literal(Literal::String(text)) = &x.kind else {
            return Ok(x.clone());
        };
        // Text through CAST(... AS TIMESTAMP): ksqlDB's partial timestamp parser.
        let parse = |text: &str| -> Result<std::result::Result<i64, String>> {
            let lit = Expr::new(ExprKind::Literal(Literal::String(text.to_owned())), x.pos);
            let cast = Expr::new(
                ExprKind::Cast {
                    expr: Box::new(lit),
                    ty: ast::TypeExpr::Timestamp,
                },
                x.pos,
            );
            let mut failures = Vec::new();
            Ok(
                match expr::compile(&cast, scope, ctx)?.eval_logged(&[], &mut failures) {
                    Ok(Value::Timestamp(ms)) => Ok(ms),
                    Ok(_) => Err(failures.join("; ")),
                    Err(m) => Err(m),
                },
            )
        };
        let mut result = parse(text)?;
        // Hour 24 is midnight of the next day (`'2020-02-24T24'`), as ksqlDB reads it.
        if result.is_err() {
            if let Some(at) = text.find("T24") {
                let next = format!("{}T00{}", &text[..at], &text[at + 3..]);
                if let Ok(ms) = parse(&next)? {
                    result = Ok(ms + 86_400_000);
                }
            }
        }
        match result {
            Ok(ms) => Ok(Expr::new(ExprKind::Literal(Literal::Integer(ms)), x.pos)),
            Err(m) => Err(SqlError::at(
                x.pos,
                format!("Failed to parse window bound '{text}': {m}"),
            )),
        }
    };
    let mut out = e.clone();
    rewrite(&mut out, &mut |x: &mut Expr| -> Result<()> {
        match &mut x.kind {
            ExprKind::Binary { op, left, right } if is_comparison(*op) => {
                if is_bound(left) {
                    **right = as_millis(right)?;
                } else if is_bound(right) {
                    **left = as_millis(left)?;
                }
            }
            ExprKind::Between {
                expr, low, high, ..
            } if is_bound(expr) => {
                **low = as_millis(low)?;
                **high = as_millis(high)?;
            }
            ExprKind::InList { expr, list, .. } if is_bound(expr) => {
                for item in list.iter_mut() {
                    *item = as_millis(item)?;
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

/// Applies `f` to `e` and then to its boolean sub-expressions (AND, OR, NOT).
fn rewrite(e: &mut Expr, f: &mut dyn FnMut(&mut Expr) -> Result<()>) -> Result<()> {
    f(e)?;
    match &mut e.kind {
        ExprKind::Binary {
            op: BinaryOp::And | BinaryOp::Or,
            left,
            right,
        } => {
            rewrite(left, f)?;
            rewrite(right, f)
        }
        ExprKind::Unary {
            op: ast::UnaryOp::Not,
            expr,
        } => rewrite(expr, f),
        _ => Ok(()),
    }
}

/// The operands of a chain of `op` (`a AND b AND c`).
fn split(e: &Expr, op: BinaryOp) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Binary { op: o, left, right } if *o == op => {
            let mut v = split(left, op);
            v.extend(split(right, op));
            v
        }
        _ => vec![e],
    }
}

fn prefix_error(e: SqlError, prefix: &str) -> SqlError {
    match e {
        SqlError::Analysis { pos, message } => SqlError::Analysis {
            pos,
            message: format!("{prefix}{message}"),
        },
        other => other,
    }
}

/// A WHERE clause's type error as ksqlDB words it: the failing comparison follows
/// (`Statement: (ID = '10')`), and BETWEEN's are `Invalid expression`s.
fn where_error(e: SqlError, w: &Expr) -> SqlError {
    let SqlError::Analysis {
        pos: Some(pos),
        message,
    } = &e
    else {
        return prefix_error(e, "Error in WHERE expression: ");
    };
    let mut all = Vec::new();
    walk(w, &mut all);
    let failing = all.into_iter().find(|x| {
        let starts = |y: &Expr| y.pos == *pos;
        match &x.kind {
            ExprKind::Binary { op, left, .. } if is_comparison(*op) => starts(x) || starts(left),
            ExprKind::Between { expr: y, .. } | ExprKind::InList { expr: y, .. } => {
                starts(x) || starts(y)
            }
            _ => false,
        }
    });
    let message = match failing {
        Some(x) if matches!(x.kind, ExprKind::Between { .. }) => {
            format!("Invalid expression: {message}")
        }
        Some(x) => format!(
            "Error in WHERE expression: {message}\nStatement: {}",
            expr::format_expr(x)
        ),
        None => format!("Error in WHERE expression: {message}"),
    };
    SqlError::Analysis {
        pos: Some(*pos),
        message,
    }
}

/// ksqlDB's text of a key column: `` `ID` STRING KEY ``.
fn key_text(c: &crate::types::Column) -> String {
    format!("`{}` {} KEY", c.name, c.ty)
}

impl<'a> Prepared<'a> {
    fn new(engine: &'a Engine, query: &ast::Query) -> Result<Prepared<'a>> {
        if query.emit.is_some() {
            return Err(SqlError::at(
                query.pos,
                "a push query (EMIT CHANGES) is not a pull query",
            ));
        }
        if !query.from.joins.is_empty() {
            return Err(SqlError::at(query.pos, clause_error("JOIN")));
        }
        if query.window.is_some() {
            return Err(SqlError::at(query.pos, clause_error("WINDOW")));
        }
        if !query.group_by.is_empty() {
            return Err(SqlError::at(query.pos, clause_error("GROUP BY")));
        }
        if !query.partition_by.is_empty() {
            return Err(SqlError::at(query.pos, clause_error("PARTITION BY")));
        }
        if query.having.is_some() {
            return Err(SqlError::at(query.pos, clause_error("HAVING")));
        }
        let name = &query.from.source.name;
        let table = engine
            .catalog
            .source(&name.name)
            .ok_or_else(|| SqlError::at(name.pos, format!("{} does not exist.", name.name)))?;
        let alias = query
            .from
            .source
            .alias
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| table.name.clone());
        let scope = plan::source_scope(table, &alias);
        let ctx = Context {
            functions: &engine.functions,
            types: &engine.catalog.types,
        };
        let select_exprs = query.select.iter().filter_map(|i| match i {
            SelectItem::Expr { expr, .. } => Some(expr),
            SelectItem::Star { .. } => None,
        });
        check_pseudo_columns(select_exprs, "SELECT")?;
        check_pseudo_columns(query.where_.iter(), "WHERE")?;
        check_pseudo_columns(query.order_by.iter().map(|o| &o.expr), "ORDER BY")?;
        let outputs = projection(engine, query, table, &alias, &scope, &ctx)?;

        let where_ = match &query.where_ {
            Some(w) => {
                check_where(w, table, &scope)?;
                Some(window_literals(w, &scope, &ctx)?)
            }
            None => None,
        };
        let filter = match &where_ {
            Some(w) => {
                if plan::contains_aggregate(w, &engine.functions) {
                    return Err(SqlError::at(
                        w.pos,
                        "Pull queries don't support aggregate functions in the WHERE clause.",
                    ));
                }
                let c = expr::compile(w, &scope, &ctx).map_err(|e| where_error(e, w))?;
                if c.ty.as_ref().is_some_and(|t| *t != SqlType::Boolean) {
                    return Err(SqlError::at(
                        w.pos,
                        format!(
                            "Type error in WHERE expression: Should evaluate to boolean but is {} instead.",
                            c.ty.as_ref().map(|t| t.to_string()).unwrap_or_default()
                        ),
                    ));
                }
                Some(c)
            }
            None => None,
        };
        let materialization = materialization(engine, table)?;
        if table.kind == SourceKind::Table && !scan_enabled(engine) {
            strict_where(where_.as_ref(), table, &scope)?;
        }
        let order = order_keys(query, &outputs, &scope, &ctx)?;
        Ok(Prepared {
            table,
            scope,
            outputs,
            where_,
            filter,
            order,
            limit: query.limit,
            materialization,
        })
    }
}

fn scan_enabled(engine: &Engine) -> bool {
    engine
        .properties
        .get(TABLE_SCAN_ENABLED)
        .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"))
}

/// Checks of WHERE that ksqlDB makes with messages of their own.
fn check_where(w: &Expr, table: &Source, scope: &Scope) -> Result<()> {
    let mut all = Vec::new();
    walk(w, &mut all);
    let key_cols: Vec<&crate::types::Column> = table.key_columns().collect();
    for e in all {
        match &e.kind {
            ExprKind::Column { name, .. }
                if table.window.is_none()
                    && (name.name == WINDOWSTART || name.name == WINDOWEND) =>
            {
                return Err(SqlError::at(
                    e.pos,
                    format!("WHERE column '{}' cannot be resolved", name.name),
                ));
            }
            ExprKind::Like { expr: x, .. } => {
                if let Some(i) = column_index(x, scope) {
                    let ty = &scope.columns[i].ty;
                    if *ty != SqlType::String {
                        return Err(SqlError::at(
                            e.pos,
                            format!("The column type for Like condition must be VARCHAR. The column type is {ty}"),
                        ));
                    }
                }
            }
            ExprKind::InList {
                expr: x,
                list,
                negated: false,
            } => {
                let Some(k) = column_index(x, scope).filter(|i| *i < key_cols.len()) else {
                    continue;
                };
                let col = key_cols[k];
                for item in list {
                    match &item.kind {
                        ExprKind::Literal(Literal::Null) => {
                            return Err(SqlError::at(
                                item.pos,
                                format!(
                                    "Primary key columns can not be NULL: ({} = null)",
                                    col.name
                                ),
                            ));
                        }
                        ExprKind::Literal(l) => {
                            let fits = match l {
                                Literal::String(_) => matches!(
                                    col.ty,
                                    SqlType::String
                                        | SqlType::Timestamp
                                        | SqlType::Date
                                        | SqlType::Time
                                ),
                                Literal::Integer(_) | Literal::Decimal(_) | Literal::Double(_) => {
                                    col.ty.is_numeric()
                                }
                                Literal::Boolean(_) => col.ty == SqlType::Boolean,
                                Literal::Null => true,
                            };
                            if !fits {
                                return Err(SqlError::at(
                                    item.pos,
                                    format!(
                                        "{} can not be converted to the type of the key column: {} {} KEY",
                                        expr::format_expr(item),
                                        col.name,
                                        col.ty
                                    ),
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// ksqlDB's checks of a pull query's WHERE when table scans are disabled: every
/// disjunct fixes every key column, once, with `=` or `IN` of values that use no column.
fn strict_where(w: Option<&Expr>, table: &Source, scope: &Scope) -> Result<()> {
    let keys: Vec<&crate::types::Column> = table.key_columns().collect();
    let Some(w) = w else {
        return Err(SqlError::analysis(
            None,
            format!("Pull queries on tables without a WHERE clause on the key are table scans, which {TABLE_SCAN_ENABLED}=false disables."),
        ));
    };
    let key_of = |e: &Expr| column_index(e, scope).filter(|i| *i < keys.len());
    let uses_key = |e: &Expr| {
        let mut all = Vec::new();
        walk(e, &mut all);
        all.iter().any(|x| key_of(x).is_some())
    };
    let resolvable = || {
        SqlError::at(
            w.pos,
            "A comparison must be between a key column and a resolvable expression.",
        )
    };
    for disjunct in split(w, BinaryOp::Or) {
        // (key column, operator) of each comparison on a key.
        let mut bounds: Vec<(usize, Option<BinaryOp>)> = Vec::new();
        for c in split(disjunct, BinaryOp::And) {
            match &c.kind {
                ExprKind::Binary { op, left, right } if is_comparison(*op) => {
                    if !uses_key(left) && !uses_key(right) {
                        continue;
                    }
                    let (k, other) = match (key_of(left), key_of(right)) {
                        (Some(k), None) => (k, right),
                        (None, Some(k)) => (k, left),
                        (Some(_), Some(_)) => return Err(resolvable()),
                        (None, None) => {
                            return Err(SqlError::at(
                                c.pos,
                                "A comparison must directly reference a key column.",
                            ))
                        }
                    };
                    if !expr::referenced_columns(other).is_empty() {
                        return Err(resolvable());
                    }
                    bounds.push((k, Some(*op)));
                }
                ExprKind::InList {
                    expr: x,
                    list,
                    negated: false,
                } if key_of(x).is_some() => {
                    if list.iter().any(|i| !expr::referenced_columns(i).is_empty()) {
                        return Err(resolvable());
                    }
                    bounds.push((key_of(x).unwrap_or(0), None));
                }
                ExprKind::Between { expr: x, .. } if key_of(x).is_some() => {
                    bounds.push((key_of(x).unwrap_or(0), Some(BinaryOp::GtEq)));
                    bounds.push((key_of(x).unwrap_or(0), Some(BinaryOp::LtEq)));
                }
                ExprKind::Like { expr: x, .. } if column_index(x, scope).is_none() => {
                    return Err(SqlError::at(
                        c.pos,
                        "Like condition must be between strings",
                    ));
                }
                _ => {
                    if uses_key(c) {
                        return Err(SqlError::at(
                            c.pos,
                            "A comparison must directly reference a key column.",
                        ));
                    }
                }
            }
        }
        for k in 0..keys.len() {
            let on_k: Vec<&Option<BinaryOp>> = bounds
                .iter()
                .filter(|(i, _)| *i == k)
                .map(|(_, o)| o)
                .collect();
            if on_k.len() > 1 {
                return Err(SqlError::at(
                    disjunct.pos,
                    "A comparison condition on the key column cannot be combined with other comparisons such as an IN predicate",
                ));
            }
            if let Some(Some(op)) = on_k.first() {
                if *op != BinaryOp::Eq {
                    return Err(SqlError::at(
                        disjunct.pos,
                        format!(
                            "Bound on key columns '[{}]' must currently be '='. ",
                            keys.iter()
                                .map(|c| key_text(c))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        let fixed = (0..keys.len())
            .filter(|k| bounds.iter().any(|(i, _)| i == k))
            .count();
        if fixed == 0 {
            return Err(SqlError::at(
                disjunct.pos,
                format!(
                    "WHERE clause missing key column for disjunct: {}",
                    expr::format_expr(disjunct)
                ),
            ));
        }
        if fixed < keys.len() {
            return Err(SqlError::at(
                disjunct.pos,
                "Multi-column sources must specify every key in the WHERE clause",
            ));
        }
    }
    Ok(())
}

/// The result columns: `*` expanded (keys, window bounds, values), names given as ksqlDB
/// gives them.
fn projection(
    engine: &Engine,
    query: &ast::Query,
    table: &Source,
    alias: &str,
    scope: &Scope,
    ctx: &Context<'_>,
) -> Result<Vec<Output>> {
    let is_table = table.kind == SourceKind::Table;
    let nkeys = table.key_columns().count();
    let window_at: Option<usize> = table.window.map(|_| scope.columns.len() - 2);
    let column = |name: &str| {
        Expr::new(
            ExprKind::Column {
                qualifier: Some(ast::Ident::new(alias)),
                name: ast::Ident::new(name),
            },
            query.pos,
        )
    };
    let taken: HashSet<String> = table
        .columns
        .iter()
        .map(|c| c.name.clone())
        .chain(query.select.iter().filter_map(|i| match i {
            SelectItem::Expr { alias: Some(a), .. } => Some(a.name.clone()),
            _ => None,
        }))
        .collect();
    let mut items: Vec<(Expr, String)> = Vec::new();
    let mut auto = 0usize;
    for item in &query.select {
        match item {
            SelectItem::Star { qualifier, pos } => {
                if let Some(q) = qualifier {
                    if q.name != alias {
                        return Err(SqlError::at(
                            *pos,
                            format!("'{}' is not a valid stream/table name or alias.", q.name),
                        ));
                    }
                }
                let mut names: Vec<&str> = table.key_columns().map(|c| c.name.as_str()).collect();
                if table.window.is_some() {
                    names.extend([WINDOWSTART, WINDOWEND]);
                }
                names.extend(
                    table
                        .columns
                        .iter()
                        .filter(|c| c.namespace != Namespace::Key)
                        .map(|c| c.name.as_str()),
                );
                for n in names {
                    items.push((column(n), n.to_owned()));
                }
            }
            SelectItem::Expr { expr: e, alias: a } => {
                let name = match a {
                    Some(a) => a.name.clone(),
                    None => match plan::default_name(e) {
                        Some(n) => n,
                        None => {
                            let mut n = format!("KSQL_COL_{auto}");
                            while taken.contains(&n) {
                                auto += 1;
                                n = format!("KSQL_COL_{auto}");
                            }
                            auto += 1;
                            n
                        }
                    },
                };
                items.push((e.clone(), name));
            }
        }
    }
    let mut outputs: Vec<Output> = Vec::with_capacity(items.len());
    for (e, name) in items {
        if plan::contains_aggregate(&e, &engine.functions) {
            return Err(SqlError::at(
                e.pos,
                "Pull queries don't support aggregate functions.",
            ));
        }
        let mut sub = Vec::new();
        walk(&e, &mut sub);
        for x in sub {
            if let ExprKind::Function { name: f, .. } = &x.kind {
                if engine.functions.table(&f.name).is_some() {
                    return Err(SqlError::at(
                        x.pos,
                        format!("Pull queries don't support table functions: {}", f.name),
                    ));
                }
            }
            if let ExprKind::Column { name: c, .. } = &x.kind {
                if table.window.is_none() && (c.name == WINDOWSTART || c.name == WINDOWEND) {
                    return Err(SqlError::at(
                        x.pos,
                        format!("SELECT column '{}' cannot be resolved.", c.name),
                    ));
                }
            }
        }
        let compiled = expr::compile(&e, scope, ctx)?;
        let key = is_table
            && column_index(&e, scope)
                .is_some_and(|i| i < nkeys || window_at.is_some_and(|w| i >= w));
        outputs.push(Output {
            ty: compiled.ty.clone().unwrap_or(SqlType::String),
            name,
            key,
            expr: compiled,
        });
    }
    let mut seen = HashSet::new();
    for o in &outputs {
        if !seen.insert(o.name.as_str()) {
            return Err(SqlError::analysis(
                Some(query.pos),
                format!(
                    "Duplicate {} columns found in schema: `{}` {}",
                    if o.key { "key" } else { "value" },
                    o.name,
                    o.ty
                ),
            ));
        }
    }
    Ok(outputs)
}

fn order_keys(
    query: &ast::Query,
    outputs: &[Output],
    scope: &Scope,
    ctx: &Context<'_>,
) -> Result<Vec<SortKey>> {
    let mut keys = Vec::new();
    for o in &query.order_by {
        let by = match &o.expr.kind {
            ExprKind::Literal(Literal::Integer(n)) => {
                let i = usize::try_from(*n)
                    .ok()
                    .filter(|i| (1..=outputs.len()).contains(i))
                    .ok_or_else(|| {
                        SqlError::at(
                            o.expr.pos,
                            format!(
                                "ORDER BY position {n} is not in the select list (1 to {})",
                                outputs.len()
                            ),
                        )
                    })?;
                SortBy::Output(i - 1)
            }
            ExprKind::Column {
                qualifier: None,
                name,
            } if outputs.iter().filter(|c| c.name == name.name).count() == 1 => SortBy::Output(
                outputs
                    .iter()
                    .position(|c| c.name == name.name)
                    .unwrap_or(0),
            ),
            _ => SortBy::Expr(
                expr::compile(&o.expr, scope, ctx)
                    .map_err(|e| prefix_error(e, "Error in ORDER BY expression: "))?,
            ),
        };
        keys.push(SortKey {
            by,
            descending: o.descending,
            nulls_first: o.nulls_first.unwrap_or(!o.descending),
        });
    }
    Ok(keys)
}

fn not_queryable(table: &Source) -> SqlError {
    SqlError::analysis(
        None,
        format!(
            "The `{0}` table isn't queryable. To derive a queryable table, you can do 'CREATE TABLE QUERYABLE_{0} AS SELECT * FROM {0}'. See https://cnfl.io/queries for more info.",
            table.name
        ),
    )
}

fn materialization<'a>(engine: &'a Engine, table: &Source) -> Result<Materialization<'a>> {
    if table.kind == SourceKind::Stream {
        let enabled = engine
            .properties
            .get(STREAM_PULL_ENABLED)
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        if !enabled {
            return Err(SqlError::analysis(
                None,
                format!("Pull queries on streams are disabled. To create a push query on the stream, add EMIT CHANGES to the end. To enable pull queries on streams, set the {STREAM_PULL_ENABLED} config to 'true'."),
            ));
        }
        return Ok(Materialization::StreamTopic);
    }
    let writer = table
        .written_by
        .as_ref()
        .and_then(|id| engine.queries.iter().find(|q| q.id == *id));
    let Some(query) = writer else {
        if table.is_source {
            return Ok(Materialization::TableTopic);
        }
        return Err(not_queryable(table));
    };
    let plan = &query.plan;
    if let Some(agg) = &plan.aggregate {
        return Ok(Materialization::Aggregate {
            query,
            window: agg.window,
        });
    }
    if plan.joins.is_empty()
        && plan.table_functions.is_empty()
        && plan
            .sources
            .first()
            .is_some_and(|s| s.source.kind == SourceKind::Table)
    {
        return Ok(Materialization::Derived {
            query,
            store: source_store(&query.id, 0),
        });
    }
    if let Some(j) = plan.joins.last() {
        if matches!(j.shape, JoinShape::TableTable | JoinShape::ForeignKey) {
            return Ok(Materialization::Derived {
                query,
                store: format!("{}-Join{}-store", query.id, plan.joins.len() - 1),
            });
        }
    }
    Ok(Materialization::TableTopic)
}

/// The store a query's `i`th source table is materialized in (`compile`'s naming).
fn source_store(query_id: &str, i: usize) -> String {
    format!("{query_id}-source-{i}")
}

// ---------------------------------------------------------------------------------------
// What the WHERE clause says about keys and windows

/// What a disjunct says about one column.
#[derive(Debug, Clone, PartialEq)]
enum Cons {
    /// One of these values.
    In(Vec<Value>),
    Range(Bound<Value>, Bound<Value>),
}

/// A conjunction of constraints, by column index in the scope.
type Conj = BTreeMap<usize, Cons>;

/// Disjuncts; `None` means no constraint.
type Dnf = Option<Vec<Conj>>;

const MAX_DISJUNCTS: usize = 1024;

fn tighter_lower(a: Bound<Value>, b: Bound<Value>) -> Bound<Value> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.sql_cmp(y) {
                Some(Ordering::Less) => b,
                Some(Ordering::Greater) => a,
                Some(Ordering::Equal) if matches!(b, Bound::Excluded(_)) => b,
                _ => a,
            }
        }
    }
}

fn tighter_upper(a: Bound<Value>, b: Bound<Value>) -> Bound<Value> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.sql_cmp(y) {
                Some(Ordering::Greater) => b,
                Some(Ordering::Less) => a,
                Some(Ordering::Equal) if matches!(b, Bound::Excluded(_)) => b,
                _ => a,
            }
        }
    }
}

fn in_range(v: &Value, lo: &Bound<Value>, hi: &Bound<Value>) -> bool {
    let above = match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => v.sql_cmp(l).is_some_and(|o| o != Ordering::Less),
        Bound::Excluded(l) => v.sql_cmp(l) == Some(Ordering::Greater),
    };
    let below = match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => v.sql_cmp(h).is_some_and(|o| o != Ordering::Greater),
        Bound::Excluded(h) => v.sql_cmp(h) == Some(Ordering::Less),
    };
    above && below
}

fn both(a: Cons, b: Cons) -> Cons {
    match (a, b) {
        (Cons::In(x), Cons::In(y)) => Cons::In(
            x.into_iter()
                .filter(|v| y.iter().any(|w| v.sql_cmp(w) == Some(Ordering::Equal)))
                .collect(),
        ),
        (Cons::In(x), Cons::Range(lo, hi)) | (Cons::Range(lo, hi), Cons::In(x)) => {
            Cons::In(x.into_iter().filter(|v| in_range(v, &lo, &hi)).collect())
        }
        (Cons::Range(l1, h1), Cons::Range(l2, h2)) => {
            Cons::Range(tighter_lower(l1, l2), tighter_upper(h1, h2))
        }
    }
}

fn and(a: Dnf, b: Dnf) -> Dnf {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(xs), Some(ys)) => {
            if xs.len().saturating_mul(ys.len()) > MAX_DISJUNCTS {
                // Either side alone is a superset of the conjunction.
                return Some(if xs.len() <= ys.len() { xs } else { ys });
            }
            let mut out = Vec::new();
            for x in &xs {
                for y in &ys {
                    let mut c = x.clone();
                    for (k, v) in y {
                        let merged = match c.remove(k) {
                            Some(old) => both(old, v.clone()),
                            None => v.clone(),
                        };
                        c.insert(*k, merged);
                    }
                    out.push(c);
                }
            }
            Some(out)
        }
    }
}

fn or(a: Dnf, b: Dnf) -> Dnf {
    match (a, b) {
        (Some(mut xs), Some(ys)) if xs.len() + ys.len() <= MAX_DISJUNCTS => {
            xs.extend(ys);
            Some(xs)
        }
        _ => None,
    }
}

/// The constraints `e` puts on the columns `slots` says are worth tracking (keys and
/// window bounds), values converted to the column's type.
fn constraints(e: &Expr, scope: &Scope, ctx: &Context<'_>, slots: &dyn Fn(usize) -> bool) -> Dnf {
    let slot = |x: &Expr| column_index(x, scope).filter(|i| slots(*i));
    let value = |x: &Expr, i: usize| -> Option<Value> {
        let v = constant(x, scope, ctx)?;
        if v.is_null() {
            return None;
        }
        let ty = &scope.columns[i].ty;
        let same_kind = matches!(
            (&v, ty),
            (Value::Boolean(_), SqlType::Boolean)
                | (Value::Int(_), SqlType::Int)
                | (Value::Bigint(_), SqlType::Bigint)
                | (Value::Double(_), SqlType::Double)
                | (Value::String(_), SqlType::String)
                | (Value::Bytes(_), SqlType::Bytes)
                | (Value::Timestamp(_), SqlType::Timestamp)
                | (Value::Date(_), SqlType::Date)
                | (Value::Time(_), SqlType::Time)
                | (Value::Decimal(_), SqlType::Decimal(..))
                | (Value::Array(_), SqlType::Array(_))
                | (Value::Map(_), SqlType::Map(..))
                | (Value::Struct(_), SqlType::Struct(_))
        );
        if same_kind {
            Some(v)
        } else {
            expr::cast(&v, ty).ok()
        }
    };
    let one = |i: usize, c: Cons| -> Dnf { Some(vec![BTreeMap::from([(i, c)])]) };
    match &e.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => and(
            constraints(left, scope, ctx, slots),
            constraints(right, scope, ctx, slots),
        ),
        ExprKind::Binary {
            op: BinaryOp::Or,
            left,
            right,
        } => or(
            constraints(left, scope, ctx, slots),
            constraints(right, scope, ctx, slots),
        ),
        ExprKind::Binary { op, left, right } if is_comparison(*op) && *op != BinaryOp::NotEq => {
            let (i, other, op) = match (slot(left), slot(right)) {
                (Some(i), _) => (i, right, *op),
                (None, Some(i)) => (
                    i,
                    left,
                    match op {
                        BinaryOp::Lt => BinaryOp::Gt,
                        BinaryOp::LtEq => BinaryOp::GtEq,
                        BinaryOp::Gt => BinaryOp::Lt,
                        BinaryOp::GtEq => BinaryOp::LtEq,
                        o => *o,
                    },
                ),
                _ => return None,
            };
            let v = value(other, i)?;
            one(
                i,
                match op {
                    BinaryOp::Eq => Cons::In(vec![v]),
                    BinaryOp::Lt => Cons::Range(Bound::Unbounded, Bound::Excluded(v)),
                    BinaryOp::LtEq => Cons::Range(Bound::Unbounded, Bound::Included(v)),
                    BinaryOp::Gt => Cons::Range(Bound::Excluded(v), Bound::Unbounded),
                    _ => Cons::Range(Bound::Included(v), Bound::Unbounded),
                },
            )
        }
        ExprKind::Between {
            expr: x,
            low,
            high,
            negated: false,
        } => {
            let i = slot(x)?;
            one(
                i,
                Cons::Range(
                    Bound::Included(value(low, i)?),
                    Bound::Included(value(high, i)?),
                ),
            )
        }
        ExprKind::InList {
            expr: x,
            list,
            negated: false,
        } => {
            let i = slot(x)?;
            let mut values = Vec::new();
            for item in list {
                if matches!(item.kind, ExprKind::Literal(Literal::Null)) {
                    continue;
                }
                values.push(value(item, i)?);
            }
            one(i, Cons::In(values))
        }
        _ => None,
    }
}

/// Key types whose values equal in SQL are equal in the engine's encoding (point
/// lookups find them).
fn exact_key_type(t: &SqlType) -> bool {
    match t {
        SqlType::Boolean
        | SqlType::Int
        | SqlType::Bigint
        | SqlType::Double
        | SqlType::String
        | SqlType::Bytes
        | SqlType::Timestamp
        | SqlType::Date
        | SqlType::Time => true,
        SqlType::Array(inner) => exact_key_type(inner),
        _ => false,
    }
}

/// A key type whose encoding keeps its order within negatives and within non-negatives.
fn integral(t: &SqlType) -> Option<(i64, i64)> {
    match t {
        SqlType::Int | SqlType::Date => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
        SqlType::Bigint | SqlType::Timestamp | SqlType::Time => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

fn integral_value(t: &SqlType, v: i64) -> Value {
    match t {
        SqlType::Int => Value::Int(v as i32),
        SqlType::Date => Value::Date(v as i32),
        SqlType::Timestamp => Value::Timestamp(v),
        SqlType::Time => Value::Time(v),
        _ => Value::Bigint(v),
    }
}

/// How a store is read.
#[derive(Debug, Clone, PartialEq)]
enum KeyAccess {
    /// These keys.
    Points(Vec<Row>),
    /// Keys within these inclusive bounds (each within the negatives or the others).
    Ranges(Vec<(Row, Row)>),
    Scan,
}

/// The keys a conjunct fixes, if it fixes every key column.
fn points_of(c: &Conj, keys: &[SqlType]) -> Option<Vec<Row>> {
    let mut rows: Vec<Row> = vec![Vec::new()];
    for (i, ty) in keys.iter().enumerate() {
        let Some(Cons::In(values)) = c.get(&i) else {
            return None;
        };
        if !exact_key_type(ty) {
            return None;
        }
        let mut values = values.clone();
        // -0.0 and 0.0 are equal but encoded apart.
        if let Some(z) = values
            .iter()
            .find(|v| matches!(v, Value::Double(d) if *d == 0.0))
        {
            let Value::Double(d) = z else { unreachable!() };
            values.push(Value::Double(-d));
        }
        if rows.len().saturating_mul(values.len()) > 10_000 {
            return None;
        }
        rows = rows
            .into_iter()
            .flat_map(|r| {
                values.iter().map(move |v| {
                    let mut r = r.clone();
                    r.push(v.clone());
                    r
                })
            })
            .collect();
    }
    Some(rows)
}

fn key_access(dnf: &Dnf, keys: &[SqlType]) -> KeyAccess {
    let Some(conjs) = dnf else {
        return KeyAccess::Scan;
    };
    if keys.is_empty() {
        return KeyAccess::Scan;
    }
    let mut points: Vec<Row> = Vec::new();
    let mut all_points = true;
    for c in conjs {
        match points_of(c, keys) {
            Some(p) => points.extend(p),
            None => {
                all_points = false;
                break;
            }
        }
    }
    if all_points {
        // By encoding: 0.0 and -0.0 are equal values but different keys.
        let mut seen = HashSet::new();
        points.retain(|p| seen.insert(encode_row(p)));
        return KeyAccess::Points(points);
    }
    let [ty] = keys else {
        return KeyAccess::Scan;
    };
    let Some((min, max)) = integral(ty) else {
        return KeyAccess::Scan;
    };
    let mut ranges = Vec::new();
    for c in conjs {
        let (lo, hi) = match c.get(&0) {
            Some(Cons::In(values)) => {
                for v in values {
                    if let Some(x) = v.as_i64() {
                        ranges.push((x, x));
                    }
                }
                continue;
            }
            Some(Cons::Range(lo, hi)) => {
                let lo = match lo {
                    Bound::Unbounded => min,
                    Bound::Included(v) => v.as_i64().unwrap_or(min),
                    Bound::Excluded(v) => v.as_i64().map_or(min, |x| x.saturating_add(1)),
                };
                let hi = match hi {
                    Bound::Unbounded => max,
                    Bound::Included(v) => v.as_i64().unwrap_or(max),
                    Bound::Excluded(v) => v.as_i64().map_or(max, |x| x.saturating_sub(1)),
                };
                (lo.max(min), hi.min(max))
            }
            None => return KeyAccess::Scan,
        };
        if lo <= hi {
            ranges.push((lo, hi));
        }
    }
    let mut out = Vec::new();
    for (lo, hi) in ranges {
        if lo < 0 {
            out.push((lo, hi.min(-1)));
        }
        if hi >= 0 {
            out.push((lo.max(0), hi));
        }
    }
    out.sort_unstable();
    out.dedup();
    KeyAccess::Ranges(
        out.into_iter()
            .map(|(lo, hi)| (vec![integral_value(ty, lo)], vec![integral_value(ty, hi)]))
            .collect(),
    )
}

/// The inclusive range of window starts a conjunct allows.
fn start_range(c: &Conj, ws: usize, we: usize, size: Option<i64>) -> (i64, i64) {
    let mut lo = i64::MIN;
    let mut hi = i64::MAX;
    let mut narrow = |cons: Option<&Cons>, shift: i64| match cons {
        Some(Cons::In(values)) => {
            let xs: Vec<i64> = values.iter().filter_map(Value::as_i64).collect();
            if xs.len() == values.len() {
                match (xs.iter().min(), xs.iter().max()) {
                    (Some(a), Some(b)) => {
                        lo = lo.max(a.saturating_sub(shift));
                        hi = hi.min(b.saturating_sub(shift));
                    }
                    _ => {
                        // IN () holds for no row.
                        lo = 1;
                        hi = 0;
                    }
                }
            }
        }
        Some(Cons::Range(l, h)) => {
            match l {
                Bound::Included(v) => {
                    if let Some(x) = v.as_i64() {
                        lo = lo.max(x.saturating_sub(shift));
                    }
                }
                Bound::Excluded(v) => {
                    if let Some(x) = v.as_i64() {
                        lo = lo.max(x.saturating_add(1).saturating_sub(shift));
                    }
                }
                Bound::Unbounded => {}
            }
            match h {
                Bound::Included(v) => {
                    if let Some(x) = v.as_i64() {
                        hi = hi.min(x.saturating_sub(shift));
                    }
                }
                Bound::Excluded(v) => {
                    if let Some(x) = v.as_i64() {
                        hi = hi.min(x.saturating_sub(1).saturating_sub(shift));
                    }
                }
                Bound::Unbounded => {}
            }
        }
        None => {}
    };
    narrow(c.get(&ws), 0);
    if let Some(size) = size {
        narrow(c.get(&we), size);
    }
    (lo, hi)
}

// ---------------------------------------------------------------------------------------
// Running

/// Takes rows of the source's layout: filters, projects, and keeps what the query asks
/// for.
struct Collector<'a> {
    filter: Option<&'a CompiledExpr>,
    outputs: &'a [Output],
    order: &'a [SortKey],
    limit: Option<u64>,
    log: &'a ProcessingLog,
    rows: Vec<(Row, Vec<Value>)>,
}

fn eval(e: &CompiledExpr, row: &[Value], log: &ProcessingLog) -> Value {
    match e.eval(row) {
        Ok(v) => v,
        Err(m) => {
            log(&m);
            Value::Null
        }
    }
}

impl Collector<'_> {
    /// Whether no more rows are wanted.
    fn full(&self) -> bool {
        self.order.is_empty() && self.limit.is_some_and(|n| self.rows.len() as u64 >= n)
    }

    /// Offers a row; false once no more are wanted.
    fn offer(&mut self, row: &Row) -> bool {
        if self.full() {
            return false;
        }
        if let Some(f) = self.filter {
            match f.matches(row) {
                Ok(true) => {}
                Ok(false) => return true,
                Err(m) => {
                    (self.log)(&m);
                    return true;
                }
            }
        }
        let out: Row = self
            .outputs
            .iter()
            .map(|o| eval(&o.expr, row, self.log))
            .collect();
        let keys = self
            .order
            .iter()
            .map(|k| match &k.by {
                SortBy::Output(i) => out[*i].clone(),
                SortBy::Expr(e) => eval(e, row, self.log),
            })
            .collect();
        self.rows.push((out, keys));
        !self.full()
    }

    fn finish(mut self) -> Vec<Row> {
        if !self.order.is_empty() {
            let order = self.order;
            self.rows.sort_by(|(_, a), (_, b)| {
                for (k, (x, y)) in order.iter().zip(a.iter().zip(b)) {
                    let o = match (x.is_null(), y.is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) if k.nulls_first => Ordering::Less,
                        (true, false) => Ordering::Greater,
                        (false, true) if k.nulls_first => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        (false, false) if k.descending => y.total_cmp(x),
                        (false, false) => x.total_cmp(y),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let mut rows: Vec<Row> = self.rows.into_iter().map(|(r, _)| r).collect();
        if let Some(n) = self.limit {
            rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        rows
    }
}

/// The row of a table a query writes (no header columns) from its key, value columns
/// and metadata (see [`plan::source_scope`]).
fn table_row(key: &Row, value: Row, rowtime: Value, window: Option<(i64, i64)>) -> Row {
    let mut row = Vec::with_capacity(key.len() + value.len() + 5);
    row.extend(key.iter().cloned());
    row.extend(value);
    row.push(rowtime);
    row.push(Value::Null);
    row.push(Value::Null);
    if let Some((s, e)) = window {
        row.push(Value::Bigint(s));
        row.push(Value::Bigint(e));
    }
    row
}

impl Prepared<'_> {
    fn run(&self, engine: &Engine, source: &dyn PullSource) -> Result<QueryResult> {
        let log = engine.processing_log();
        let mut c = Collector {
            filter: self.filter.as_ref(),
            outputs: &self.outputs,
            order: &self.order,
            limit: self.limit,
            log: &log,
            rows: Vec::new(),
        };
        let ctx = Context {
            functions: &engine.functions,
            types: &engine.catalog.types,
        };
        let nkeys = self.table.key_columns().count();
        let key_types: Vec<SqlType> = self.table.key_columns().map(|k| k.ty.clone()).collect();
        let width = self.scope.columns.len();
        let windowed = self.table.window.is_some();
        let (ws, we) = (width.wrapping_sub(2), width.wrapping_sub(1));
        let dnf: Dnf = match &self.where_ {
            Some(w) => constraints(w, &self.scope, &ctx, &|i| {
                i < nkeys || (windowed && (i == ws || i == we))
            }),
            None => None,
        };
        match &self.materialization {
            Materialization::Aggregate { query, window } => {
                let store = compile::aggregate_store(&query.id);
                let plan = &query.plan;
                let row_of = |key: &Row, accs: &Row, ts: Option<i64>, w: Option<(i64, i64)>| {
                    let at = ts.or(w.map(|(s, _)| s)).unwrap_or(0);
                    compile::materialized_row(plan, key, accs, w, at, &log).map(|value| {
                        table_row(key, value, ts.map_or(Value::Null, Value::Bigint), w)
                    })
                };
                match window {
                    None => {
                        let access = key_access(&dnf, &key_types);
                        read_kv(source, &store, &access, &mut |k, accs, ts| {
                            row_of(k, accs, Some(ts), None).is_none_or(|r| c.offer(&r))
                        })?;
                    }
                    Some(spec) => {
                        let session = matches!(spec, WindowSpec::Session { .. });
                        let size = match spec {
                            WindowSpec::Tumbling { size_ms, .. }
                            | WindowSpec::Hopping { size_ms, .. } => Some(*size_ms),
                            WindowSpec::Session { .. } => None,
                        };
                        let conjs: Vec<Conj> = dnf.clone().unwrap_or_else(|| vec![Conj::new()]);
                        let mut seen: HashSet<(Row, i64, i64)> = HashSet::new();
                        'conjs: for conj in &conjs {
                            let keys = points_of(conj, &key_types);
                            let (lo, hi) = start_range(conj, ws, we, size);
                            if lo > hi {
                                continue;
                            }
                            let keys: Vec<Option<Row>> = match keys {
                                Some(ks) => ks.into_iter().map(Some).collect(),
                                None => vec![None],
                            };
                            for k in keys {
                                let found = if session {
                                    source.sessions(&store, k.as_ref())?
                                } else {
                                    source.windows(&store, k.as_ref(), lo, hi)?
                                };
                                for w in found {
                                    let end = w.end.unwrap_or_else(|| {
                                        w.start.saturating_add(size.unwrap_or(0))
                                    });
                                    if !seen.insert((w.key.clone(), w.start, end)) {
                                        continue;
                                    }
                                    if let Some(r) =
                                        row_of(&w.key, &w.value, w.timestamp, Some((w.start, end)))
                                    {
                                        if !c.offer(&r) {
                                            break 'conjs;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Materialization::Derived { query, store } => {
                let plan = &query.plan;
                let access = key_access(&dnf, &key_types);
                read_kv(source, store, &access, &mut |_k, src, ts| {
                    if let Some(f) = &plan.filter {
                        match f.matches(src) {
                            Ok(true) => {}
                            Ok(false) => return true,
                            Err(m) => {
                                log(&m);
                                return true;
                            }
                        }
                    }
                    let key: Row = plan.key.iter().map(|o| eval(&o.expr, src, &log)).collect();
                    let value: Row = plan
                        .value
                        .iter()
                        .map(|o| eval(&o.expr, src, &log))
                        .collect();
                    c.offer(&table_row(&key, value, Value::Bigint(ts), None))
                })?;
            }
            Materialization::TableTopic => {
                let decoder = Decoder::new(self.table)?;
                let mut index: HashMap<Row, usize> = HashMap::new();
                let mut latest: Vec<Option<Row>> = Vec::new();
                for r in source.records(&self.table.topic)? {
                    let r = r?;
                    let Some(Decoded { identity, row, .. }) = decoder.decode(&r, &log) else {
                        continue;
                    };
                    if identity.iter().take(nkeys).all(Value::is_null) && nkeys > 0 {
                        continue;
                    }
                    match (row, index.get(&identity)) {
                        (Some(row), Some(i)) => latest[*i] = Some(row),
                        (Some(row), None) => {
                            index.insert(identity, latest.len());
                            latest.push(Some(row));
                        }
                        (None, Some(i)) => {
                            latest[*i] = None;
                            index.remove(&identity);
                        }
                        (None, None) => {}
                    }
                }
                for row in latest.into_iter().flatten() {
                    if !c.offer(&row) {
                        break;
                    }
                }
            }
            Materialization::StreamTopic => {
                let decoder = Decoder::new(self.table)?;
                if !c.full() {
                    for r in source.records(&self.table.topic)? {
                        let r = r?;
                        let Some(d) = decoder.decode(&r, &log) else {
                            continue;
                        };
                        // A record without a value: its value columns are NULL.
                        let row = d.row.unwrap_or_else(|| {
                            let nulls = vec![Value::Null; self.table.value_columns().count()];
                            decoder.row(&d.key, nulls, &r, d.window)
                        });
                        if !c.offer(&row) {
                            break;
                        }
                    }
                }
            }
        }
        let columns = self
            .outputs
            .iter()
            .map(|o| ResultColumn::new(o.name.clone(), o.ty.clone(), o.key))
            .collect();
        Ok(QueryResult {
            columns,
            rows: c.finish(),
        })
    }
}

/// Reads a key-value store as `access` says, handing each entry (once) to `f` until it
/// returns false.
fn read_kv(
    source: &dyn PullSource,
    store: &str,
    access: &KeyAccess,
    f: &mut dyn FnMut(&Row, &Row, i64) -> bool,
) -> Result<()> {
    match access {
        KeyAccess::Points(keys) => {
            for k in keys {
                if let Some((v, ts)) = source.get(store, k)? {
                    if !f(k, &v, ts) {
                        break;
                    }
                }
            }
        }
        KeyAccess::Ranges(ranges) => {
            let mut seen = HashSet::new();
            'ranges: for (lo, hi) in ranges {
                for (k, v, ts) in source.range(store, lo, hi)? {
                    if seen.insert(k.clone()) && !f(&k, &v, ts) {
                        break 'ranges;
                    }
                }
            }
        }
        KeyAccess::Scan => {
            for (k, v, ts) in source.all(store)? {
                if !f(&k, &v, ts) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// A record, decoded.
struct Decoded {
    /// Its key columns, and window bounds: what a table keeps one row of.
    identity: Row,
    key: Row,
    window: Option<(i64, i64)>,
    /// `None` for a record without a value (a table's tombstone).
    row: Option<Row>,
}

/// Decodes a source's records into its rows.
struct Decoder<'a> {
    source: &'a Source,
    keys: brook_streams::SerdeRef<Row>,
    windowed_keys: Option<brook_streams::SerdeRef<brook_streams::Windowed<Row>>>,
    values: brook_streams::SerdeRef<Option<Row>>,
    /// Where the `TIMESTAMP` column is in the row, if it gives the row time.
    timestamp_at: Option<usize>,
}

impl<'a> Decoder<'a> {
    fn new(source: &'a Source) -> Result<Decoder<'a>> {
        let keys = compile::key_serde(&source.key_format, &source.key_schema())?;
        let windowed_keys = source
            .window
            .map(|w| compile::windowed_key_serde(keys.clone(), &w));
        let values = compile::value_serde(&source.value_format, &source.value_schema())?;
        let scope = plan::source_scope(source, &source.name);
        let timestamp_at = source.timestamp.as_ref().and_then(|(name, format)| {
            if format.is_some() {
                return None;
            }
            scope.columns.iter().position(|c| c.name == *name)
        });
        Ok(Decoder {
            source,
            keys,
            windowed_keys,
            values,
            timestamp_at,
        })
    }

    /// A record's key and row; `None` if it does not match the schema (logged).
    fn decode(&self, r: &TopicRecord, log: &ProcessingLog) -> Option<Decoded> {
        let topic = self.source.topic.as_str();
        let skip = |what: &str, e: &dyn std::fmt::Display| {
            log(&format!(
                "{}: skipped a record whose {what} does not match the schema: {e}",
                self.source.name
            ));
        };
        let (mut key, window) = match &self.windowed_keys {
            Some(serde) => match r.key.as_deref() {
                None => (Vec::new(), None),
                Some(b) => match serde.deserialize(topic, Some(b)) {
                    Ok(w) => (w.key, Some((w.window.start(), w.window.end()))),
                    Err(e) => {
                        skip("key", &e);
                        return None;
                    }
                },
            },
            None => match self.keys.deserialize(topic, r.key.as_deref()) {
                Ok(k) => (k, None),
                Err(e) => {
                    skip("key", &e);
                    return None;
                }
            },
        };
        let value = match self.values.deserialize(topic, r.value.as_deref()) {
            Ok(v) => v,
            Err(e) => {
                skip("value", &e);
                return None;
            }
        };
        key.resize(self.source.key_columns().count(), Value::Null);
        let mut identity = key.clone();
        if let Some((s, e)) = window {
            identity.push(Value::Bigint(s));
            identity.push(Value::Bigint(e));
        }
        let row = value.map(|v| self.row(&key, v, r, window));
        Some(Decoded {
            identity,
            key,
            window,
            row,
        })
    }

    fn row(&self, key: &Row, value: Row, r: &TopicRecord, window: Option<(i64, i64)>) -> Row {
        let mut row = Vec::with_capacity(self.source.columns.len() + 5);
        row.extend(key.iter().cloned());
        row.extend(value);
        for c in self
            .source
            .columns
            .iter()
            .filter(|c| c.namespace == Namespace::Headers)
        {
            match &c.header_key {
                Some(k) => row.push(
                    r.headers
                        .iter()
                        .rev()
                        .find(|(hk, _)| hk == k)
                        .and_then(|(_, v)| v.clone())
                        .map(Value::Bytes)
                        .unwrap_or(Value::Null),
                ),
                None => row.push(Value::Array(
                    r.headers
                        .iter()
                        .map(|(k, v)| {
                            Value::Struct(vec![
                                ("KEY".into(), Value::String(k.clone())),
                                (
                                    "VALUE".into(),
                                    v.clone().map(Value::Bytes).unwrap_or(Value::Null),
                                ),
                            ])
                        })
                        .collect(),
                )),
            }
        }
        let rowtime = self
            .timestamp_at
            .and_then(|i| row.get(i))
            .and_then(|v| match v {
                Value::Bigint(t) | Value::Timestamp(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(r.timestamp);
        row.push(Value::Bigint(rowtime));
        row.push(Value::Int(r.partition));
        row.push(Value::Bigint(r.offset));
        match window {
            Some((s, e)) => {
                row.push(Value::Bigint(s));
                row.push(Value::Bigint(e));
            }
            None if self.source.window.is_some() => {
                row.push(Value::Null);
                row.push(Value::Null);
            }
            None => {}
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::qtt::exec::{encode_input, named_topics, TestRecord};

    /// A testbed running `sql` (DDL and persistent queries) with `records` (topic, key
    /// and value as a test file writes them, timestamp) piped in.
    fn bed(sql: &str, records: &[(&str, serde_json::Value, serde_json::Value, i64)]) -> Testbed {
        bed_with(sql, records, &[])
    }

    fn bed_with(
        sql: &str,
        records: &[(&str, serde_json::Value, serde_json::Value, i64)],
        properties: &[(&str, &str)],
    ) -> Testbed {
        let mut engine = Engine::new(
            properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        for t in named_topics(sql) {
            engine.add_topic(&t, 1);
        }
        engine.execute_sql(sql).unwrap();
        let mut bed = Testbed::new(engine).unwrap();
        for (topic, key, value, ts) in records {
            let r = TestRecord {
                topic: topic.to_string(),
                key: key.clone(),
                value: value.clone(),
                timestamp: Some(*ts),
                window: None,
                headers: Vec::new(),
            };
            let (k, v) = encode_input(&bed.engine, &r).unwrap();
            bed.pipe(topic, k, v, *ts).unwrap();
        }
        bed
    }

    /// Records which store calls a query made.
    struct Counting<'a> {
        inner: TestDriverSource<'a>,
        calls: RefCell<Vec<&'static str>>,
    }

    impl PullSource for Counting<'_> {
        fn get(&self, store: &str, key: &Row) -> Result<Option<(Row, i64)>> {
            self.calls.borrow_mut().push("get");
            self.inner.get(store, key)
        }
        fn range(&self, store: &str, from: &Row, to: &Row) -> Result<Vec<(Row, Row, i64)>> {
            self.calls.borrow_mut().push("range");
            self.inner.range(store, from, to)
        }
        fn all(&self, store: &str) -> Result<Vec<(Row, Row, i64)>> {
            self.calls.borrow_mut().push("all");
            self.inner.all(store)
        }
        fn windows(
            &self,
            store: &str,
            key: Option<&Row>,
            from: i64,
            to: i64,
        ) -> Result<Vec<StoredWindow>> {
            self.calls.borrow_mut().push(match (key, from, to) {
                (Some(_), i64::MIN, i64::MAX) => "windows of a key",
                (Some(_), _, _) => "windows of a key in a time range",
                (None, i64::MIN, i64::MAX) => "every window",
                (None, _, _) => "windows in a time range",
            });
            self.inner.windows(store, key, from, to)
        }
        fn sessions(&self, store: &str, key: Option<&Row>) -> Result<Vec<StoredWindow>> {
            self.calls.borrow_mut().push("sessions");
            self.inner.sessions(store, key)
        }
        fn records(&self, topic: &str) -> Result<Records<'_>> {
            self.calls.borrow_mut().push("records");
            self.inner.records(topic)
        }
    }

    /// The rows of a pull query and the store calls it made.
    fn run(bed: &Testbed, sql: &str) -> (QueryResult, Vec<&'static str>) {
        let c = Counting {
            inner: bed.source(),
            calls: RefCell::new(Vec::new()),
        };
        let r = pull_with(&bed.engine, &c, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        (r, c.calls.into_inner())
    }

    fn error(bed: &Testbed, sql: &str) -> String {
        match bed.pull(sql) {
            Ok(r) => panic!("{sql} gave {:?}", r.rows),
            Err(e) => e.to_string(),
        }
    }

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    fn header(r: &QueryResult) -> String {
        crate::result::header_schema(&r.columns, true)
    }

    fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
        rows.sort_by(|a, b| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        rows
    }

    use serde_json::json;

    const COUNTS: &str = "CREATE STREAM INPUT (ID INT KEY, V STRING) WITH (kafka_topic='input', value_format='JSON');
         CREATE TABLE COUNTS AS SELECT ID, COUNT(*) AS N, LATEST_BY_OFFSET(V) AS LAST FROM INPUT GROUP BY ID;";

    fn counts() -> Testbed {
        let mut records = Vec::new();
        for (i, id) in [5, -3, 12, 5, 40, 12, 5, 0, -20].into_iter().enumerate() {
            records.push((
                "input",
                json!(id),
                json!({"V": format!("v{i}")}),
                1000 + i as i64,
            ));
        }
        bed(COUNTS, &records)
    }

    #[test]
    fn key_lookups_read_only_their_keys() {
        let bed = counts();
        let (r, calls) = run(&bed, "SELECT * FROM COUNTS WHERE ID = 5;");
        assert_eq!(header(&r), "`ID` INTEGER KEY, `N` BIGINT, `LAST` STRING");
        assert_eq!(r.rows, vec![vec![Value::Int(5), Value::Bigint(3), s("v6")]]);
        assert_eq!(calls, vec!["get"]);
        let (r, calls) = run(
            &bed,
            "SELECT ID, N FROM COUNTS WHERE ID IN (12, 99) OR ID = 2 + 3;",
        );
        assert_eq!(
            sorted(r.rows),
            vec![
                vec![Value::Int(5), Value::Bigint(3)],
                vec![Value::Int(12), Value::Bigint(2)]
            ]
        );
        assert_eq!(calls, vec!["get", "get", "get"]);
        // Key lookup plus a filter on values.
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE ID IN (5, 12) AND N > 2;");
        assert_eq!(r.rows, vec![vec![Value::Int(5)]]);
        assert_eq!(calls, vec!["get", "get"]);
        // Contradictions read nothing.
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE ID = 5 AND ID = 12;");
        assert!(r.rows.is_empty());
        assert!(calls.is_empty(), "{calls:?}");
        // ROWTIME is the last update's.
        let (r, _) = run(&bed, "SELECT ROWTIME FROM COUNTS WHERE ID = 5;");
        assert_eq!(r.rows, vec![vec![Value::Bigint(1006)]]);
    }

    #[test]
    fn key_ranges_read_a_range_and_other_filters_scan() {
        let bed = counts();
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE ID > 0 AND ID <= 12;");
        assert_eq!(
            sorted(r.rows),
            vec![vec![Value::Int(5)], vec![Value::Int(12)]]
        );
        assert_eq!(calls, vec!["range"]);
        // A range across zero is two ranges (negative keys sort after the others).
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE ID BETWEEN -10 AND 5;");
        assert_eq!(
            sorted(r.rows),
            vec![
                vec![Value::Int(-3)],
                vec![Value::Int(0)],
                vec![Value::Int(5)]
            ]
        );
        assert_eq!(calls, vec!["range", "range"]);
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE ID < 0 OR ID = 40;");
        assert_eq!(
            sorted(r.rows),
            vec![
                vec![Value::Int(-20)],
                vec![Value::Int(-3)],
                vec![Value::Int(40)]
            ]
        );
        assert_eq!(calls, vec!["range", "range"]);
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE N = 2 OR ID = 0;");
        assert_eq!(
            sorted(r.rows),
            vec![vec![Value::Int(0)], vec![Value::Int(12)]]
        );
        assert_eq!(calls, vec!["all"]);
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE ID + 1 = 6;");
        assert_eq!(r.rows, vec![vec![Value::Int(5)]]);
        assert_eq!(calls, vec!["all"]);
        let (r, _) = run(&bed, "SELECT * FROM COUNTS;");
        assert_eq!(r.rows.len(), 6);
    }

    #[test]
    fn order_by_and_limit() {
        let bed = counts();
        let (r, _) = run(
            &bed,
            "SELECT ID, N FROM COUNTS ORDER BY N DESC, ID LIMIT 3;",
        );
        assert_eq!(
            r.rows,
            vec![
                vec![Value::Int(5), Value::Bigint(3)],
                vec![Value::Int(12), Value::Bigint(2)],
                vec![Value::Int(-20), Value::Bigint(1)],
            ]
        );
        // By position, and by an expression that is not projected.
        let (r, _) = run(&bed, "SELECT ID FROM COUNTS WHERE ID > -5 ORDER BY 1 DESC;");
        let ids: Vec<Row> = [40, 12, 5, 0, -3].map(|i| vec![Value::Int(i)]).into();
        assert_eq!(r.rows, ids);
        let (r, _) = run(&bed, "SELECT ID FROM COUNTS ORDER BY ABS(ID) ASC LIMIT 2;");
        assert_eq!(r.rows, vec![vec![Value::Int(0)], vec![Value::Int(-3)]]);
        let (r, _) = run(&bed, "SELECT ID FROM COUNTS LIMIT 2;");
        assert_eq!(r.rows.len(), 2);
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS LIMIT 0;");
        assert!(r.rows.is_empty());
        assert_eq!(calls, vec!["all"]);
        assert!(error(&bed, "SELECT ID FROM COUNTS ORDER BY 3;").contains("ORDER BY position 3"));
    }

    #[test]
    fn order_by_places_nulls() {
        let bed = bed(
            "CREATE STREAM S (K STRING KEY, X INT) WITH (kafka_topic='s', value_format='JSON');",
            &[
                ("s", json!("a"), json!({"X": 2}), 0),
                ("s", json!("b"), json!({}), 0),
                ("s", json!("c"), json!({"X": 1}), 0),
            ],
        );
        let ks =
            |r: QueryResult| -> Vec<Value> { r.rows.into_iter().map(|r| r[0].clone()).collect() };
        assert_eq!(
            ks(bed.pull("SELECT K FROM S ORDER BY X;").unwrap()),
            vec![s("b"), s("c"), s("a")]
        );
        assert_eq!(
            ks(bed.pull("SELECT K FROM S ORDER BY X DESC;").unwrap()),
            vec![s("a"), s("c"), s("b")]
        );
        assert_eq!(
            ks(bed.pull("SELECT K FROM S ORDER BY X NULLS LAST;").unwrap()),
            vec![s("c"), s("a"), s("b")]
        );
        assert_eq!(
            ks(bed
                .pull("SELECT K FROM S ORDER BY X DESC NULLS FIRST;")
                .unwrap()),
            vec![s("b"), s("a"), s("c")]
        );
    }

    #[test]
    fn order_by_is_for_pull_queries_only() {
        let mut engine = Engine::new(BTreeMap::new());
        engine.add_topic("s", 1);
        engine
            .execute_sql("CREATE STREAM S (K STRING KEY, X INT) WITH (kafka_topic='s', value_format='JSON');")
            .unwrap();
        let e = engine
            .execute_sql("CREATE STREAM T AS SELECT * FROM S ORDER BY X;")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ORDER BY is only supported in pull queries"),
            "{e}"
        );
        // ORDER is not taken for an alias, and the clause goes before LIMIT.
        let q = match parser::parse("SELECT * FROM S ORDER BY X DESC NULLS FIRST, K LIMIT 2;")
            .unwrap()
            .remove(0)
            .statement
        {
            Statement::Query(q) => q,
            _ => unreachable!(),
        };
        assert_eq!(q.from.source.alias, None);
        assert_eq!(q.limit, Some(2));
        assert_eq!(q.order_by.len(), 2);
        assert!(q.order_by[0].descending && q.order_by[0].nulls_first == Some(true));
        assert!(!q.order_by[1].descending && q.order_by[1].nulls_first.is_none());
        assert!(parser::parse("SELECT * FROM S ORDER BY X NULLS;").is_err());
        assert!(parser::parse("SELECT * FROM S LIMIT 1 ORDER BY X;").is_err());
    }

    #[test]
    fn windowed_aggregations() {
        let sql = "CREATE STREAM INPUT (ID STRING KEY, V INT) WITH (kafka_topic='input', value_format='JSON');
             CREATE TABLE W AS SELECT ID, COUNT(*) AS N FROM INPUT WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID;
             CREATE TABLE SW AS SELECT ID, COUNT(*) AS N FROM INPUT WINDOW SESSION (5 SECONDS) GROUP BY ID;";
        let mut records = Vec::new();
        for (id, ts) in [
            ("a", 11_345),
            ("a", 12_345),
            ("a", 12_999),
            ("b", 12_100),
            ("a", 30_000),
        ] {
            records.push(("input", json!(id), json!({"V": 1}), ts));
        }
        let bed = bed(sql, &records);
        let (r, calls) = run(
            &bed,
            "SELECT * FROM W WHERE ID = 'a' AND WINDOWSTART >= 12000;",
        );
        assert_eq!(
            header(&r),
            "`ID` STRING KEY, `WINDOWSTART` BIGINT KEY, `WINDOWEND` BIGINT KEY, `N` BIGINT"
        );
        assert_eq!(
            r.rows,
            vec![
                vec![
                    s("a"),
                    Value::Bigint(12_000),
                    Value::Bigint(13_000),
                    Value::Bigint(2)
                ],
                vec![
                    s("a"),
                    Value::Bigint(30_000),
                    Value::Bigint(31_000),
                    Value::Bigint(1)
                ],
            ]
        );
        assert_eq!(calls, vec!["windows of a key in a time range"]);
        // WINDOWEND bounds and text bounds narrow the window starts too.
        let (r, calls) = run(
            &bed,
            "SELECT ID, N FROM W WHERE WINDOWEND <= '1970-01-01T00:00:13' AND WINDOWSTART > 11000;",
        );
        assert_eq!(
            sorted(r.rows),
            vec![
                vec![s("a"), Value::Bigint(2)],
                vec![s("b"), Value::Bigint(1)]
            ]
        );
        assert_eq!(calls, vec!["windows in a time range"]);
        let (r, calls) = run(&bed, "SELECT * FROM W WHERE N > 1;");
        assert_eq!(r.rows.len(), 1);
        assert_eq!(calls, vec!["every window"]);
        let (r, _) = run(
            &bed,
            "SELECT WINDOWSTART FROM W WHERE ID = 'a' ORDER BY WINDOWSTART DESC LIMIT 1;",
        );
        assert_eq!(r.rows, vec![vec![Value::Bigint(30_000)]]);
        // Sessions: bounds and ROWTIME from the session.
        let (r, calls) = run(
            &bed,
            "SELECT ID, WINDOWSTART, WINDOWEND, ROWTIME, N FROM SW WHERE ID = 'a';",
        );
        assert_eq!(
            r.rows,
            vec![
                vec![
                    s("a"),
                    Value::Bigint(11_345),
                    Value::Bigint(12_999),
                    Value::Bigint(12_999),
                    Value::Bigint(3)
                ],
                vec![
                    s("a"),
                    Value::Bigint(30_000),
                    Value::Bigint(30_000),
                    Value::Bigint(30_000),
                    Value::Bigint(1)
                ],
            ]
        );
        assert_eq!(calls, vec!["sessions"]);
        // Hour 24 is the next midnight; text that is no time is an error.
        let (r, _) = run(
            &bed,
            "SELECT N FROM W WHERE ID = 'b' AND WINDOWSTART < '1970-01-01T24';",
        );
        assert_eq!(r.rows, vec![vec![Value::Bigint(1)]]);
        assert!(error(&bed, "SELECT * FROM W WHERE WINDOWSTART = 'soon';")
            .contains("Failed to parse window bound 'soon'"));
        assert!(error(
            &bed,
            "SELECT * FROM W WINDOW TUMBLING (SIZE 1 SECOND) WHERE ID = 'a';"
        )
        .contains("Pull queries don't support WINDOW clauses."));
    }

    #[test]
    fn tables_and_streams_without_aggregation() {
        let sql = "CREATE TABLE USERS (ID BIGINT PRIMARY KEY, NAME STRING, AGE INT) WITH (kafka_topic='users', value_format='JSON');
             CREATE TABLE ADULTS AS SELECT ID, UCASE(NAME) AS NAME, AGE FROM USERS WHERE AGE >= 18;
             CREATE SOURCE TABLE SRC (ID BIGINT PRIMARY KEY, NAME STRING) WITH (kafka_topic='users', value_format='JSON');
             CREATE STREAM EVENTS (ID BIGINT KEY, WHAT STRING) WITH (kafka_topic='events', value_format='JSON');
             CREATE STREAM BIG AS SELECT ID, UCASE(WHAT) AS WHAT FROM EVENTS;";
        let bed = bed(
            sql,
            &[
                ("users", json!(1), json!({"NAME": "ann", "AGE": 30}), 10),
                ("users", json!(2), json!({"NAME": "bob", "AGE": 12}), 11),
                ("users", json!(3), json!({"NAME": "cy", "AGE": 40}), 12),
                ("users", json!(3), serde_json::Value::Null, 13),
                ("users", json!(2), json!({"NAME": "bob", "AGE": 19}), 14),
                ("events", json!(1), json!({"WHAT": "a"}), 20),
                ("events", json!(2), json!({"WHAT": "b"}), 21),
                ("events", json!(1), json!({"WHAT": "c"}), 22),
            ],
        );
        let (r, calls) = run(&bed, "SELECT * FROM ADULTS WHERE ID = 2;");
        assert_eq!(header(&r), "`ID` BIGINT KEY, `NAME` STRING, `AGE` INTEGER");
        assert_eq!(
            r.rows,
            vec![vec![Value::Bigint(2), s("BOB"), Value::Int(19)]]
        );
        assert_eq!(calls, vec!["get"]);
        let (r, _) = run(&bed, "SELECT ID FROM ADULTS ORDER BY ID;");
        assert_eq!(r.rows, vec![vec![Value::Bigint(1)], vec![Value::Bigint(2)]]);
        // A source table: its topic, latest row per key, tombstones deleting.
        let (r, calls) = run(&bed, "SELECT * FROM SRC ORDER BY ID;");
        assert_eq!(
            r.rows,
            vec![
                vec![Value::Bigint(1), s("ann")],
                vec![Value::Bigint(2), s("bob")]
            ]
        );
        assert_eq!(calls, vec!["records"]);
        // A plain CREATE TABLE is not queryable, as in ksqlDB.
        assert!(error(&bed, "SELECT * FROM USERS;").contains(
            "The `USERS` table isn't queryable. To derive a queryable table, you can do 'CREATE TABLE QUERYABLE_USERS AS SELECT * FROM USERS'."
        ));
        // Streams: every record, keys not marked.
        let (r, _) = run(&bed, "SELECT * FROM EVENTS WHERE ID = 1;");
        assert_eq!(header(&r), "`ID` BIGINT, `WHAT` STRING");
        assert_eq!(
            r.rows,
            vec![
                vec![Value::Bigint(1), s("a")],
                vec![Value::Bigint(1), s("c")]
            ]
        );
        let (r, _) = run(
            &bed,
            "SELECT WHAT, ROWTIME FROM BIG WHERE ROWTIME > 20 LIMIT 1;",
        );
        assert_eq!(r.rows, vec![vec![s("B"), Value::Bigint(21)]]);
    }

    #[test]
    fn joins_and_header_columns() {
        let sql = "CREATE TABLE L (ID INT PRIMARY KEY, A STRING) WITH (kafka_topic='l', value_format='JSON');
             CREATE TABLE R (ID INT PRIMARY KEY, B STRING) WITH (kafka_topic='r', value_format='JSON');
             CREATE TABLE J AS SELECT L.ID AS ID, A, B FROM L JOIN R ON L.ID = R.ID WHERE B <> 'skip';
             CREATE STREAM H (K STRING KEY, V INT, TRACE BYTES HEADER('trace')) WITH (kafka_topic='h', value_format='JSON');";
        let mut bed = bed(
            sql,
            &[
                ("l", json!(1), json!({"A": "a1"}), 1),
                ("l", json!(2), json!({"A": "a2"}), 2),
                ("r", json!(1), json!({"B": "b1"}), 3),
                ("r", json!(2), json!({"B": "skip"}), 4),
                ("l", json!(3), json!({"A": "a3"}), 5),
                ("r", json!(3), json!({"B": "b3"}), 6),
            ],
        );
        let (r, calls) = run(&bed, "SELECT * FROM J WHERE ID IN (1, 2, 3);");
        assert_eq!(header(&r), "`ID` INTEGER KEY, `A` STRING, `B` STRING");
        assert_eq!(
            sorted(r.rows),
            vec![
                vec![Value::Int(1), s("a1"), s("b1")],
                vec![Value::Int(3), s("a3"), s("b3")]
            ]
        );
        assert_eq!(calls, vec!["get", "get", "get"]);
        // Header columns of a stream come from the records' headers.
        bed.topics.insert(
            "h".into(),
            vec![TopicRecord {
                partition: 0,
                offset: 0,
                timestamp: 7,
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(br#"{"V": 1}"#)),
                headers: vec![("trace".into(), Some(Bytes::from_static(b"t1")))],
            }],
        );
        let (r, _) = run(&bed, "SELECT * FROM H;");
        assert_eq!(header(&r), "`K` STRING, `V` INTEGER, `TRACE` BYTES");
        assert_eq!(
            r.rows,
            vec![vec![
                s("k"),
                Value::Int(1),
                Value::Bytes(Bytes::from_static(b"t1"))
            ]]
        );
    }

    #[test]
    fn errors_are_ksqldb_s() {
        let bed = counts();
        for (sql, message) in [
            ("SELECT * FROM COUNTS WHERE ID = '10';", "Error in WHERE expression: Cannot compare ID (INTEGER) to '10' (STRING) with EQUAL.\nStatement: (ID = '10')"),
            ("SELECT * FROM COUNTS WHERE ID = NULL;", "Comparison with NULL not supported: INTEGER = NULL\nUse 'IS NULL' or 'IS NOT NULL' instead.\nStatement: (ID = null)"),
            ("SELECT * FROM COUNTS WHERE LAST BETWEEN 1 AND 'x';", "Invalid expression: Cannot compare LAST (STRING) to 1 (INTEGER) with GREATER_THAN_OR_EQUAL"),
            ("SELECT * FROM COUNTS WHERE ID IN ('10', 8);", "'10' can not be converted to the type of the key column: ID INTEGER KEY"),
            ("SELECT * FROM COUNTS WHERE ID IN (NULL);", "Primary key columns can not be NULL: (ID = null)"),
            ("SELECT *, ROWPARTITION FROM COUNTS;", "Pull queries don't support the following columns in SELECT clauses: `ROWPARTITION`"),
            ("SELECT * FROM COUNTS WHERE ROWOFFSET > 1;", "Pull queries don't support the following columns in WHERE clauses: `ROWOFFSET`"),
            ("SELECT * FROM COUNTS WHERE WINDOWSTART = 1;", "WHERE column 'WINDOWSTART' cannot be resolved"),
            ("SELECT * FROM COUNTS GROUP BY ID;", "Pull queries don't support GROUP BY clauses."),
            ("SELECT * FROM COUNTS C JOIN INPUT I ON C.ID = I.ID;", "Pull queries don't support JOIN clauses."),
            ("SELECT N, N FROM COUNTS;", "Duplicate value columns found in schema: `N` BIGINT"),
            ("SELECT * FROM COUNTS WHERE LAST LIKE 1;", "LIKE"),
            ("SELECT * FROM COUNTS WHERE ID LIKE '1%';", "The column type for Like condition must be VARCHAR. The column type is INTEGER"),
            ("SELECT * FROM NOPE;", "NOPE does not exist"),
            ("SELECT COUNT(*) FROM COUNTS;", "aggregate functions"),
        ] {
            let e = error(&bed, sql);
            assert!(e.contains(message), "{sql}: {e}");
        }
    }

    #[test]
    fn disabled_table_scans_allow_only_key_lookups() {
        let mut records = Vec::new();
        for id in [1, 2, 3] {
            records.push(("input", json!(id), json!({"V": "x"}), 0));
        }
        let bed = bed_with(COUNTS, &records, &[(TABLE_SCAN_ENABLED, "false")]);
        let (r, calls) = run(&bed, "SELECT ID FROM COUNTS WHERE ID IN (1, 3) AND N > 0;");
        assert_eq!(r.rows.len(), 2);
        assert_eq!(calls, vec!["get", "get"]);
        for (sql, message) in [
            ("SELECT * FROM COUNTS WHERE N = 100;", "WHERE clause missing key column for disjunct: (N = 100)"),
            ("SELECT * FROM COUNTS WHERE ID != 1;", "Bound on key columns '[`ID` INTEGER KEY]' must currently be '='. "),
            ("SELECT * FROM COUNTS WHERE 0 < ID AND ID < 100;", "A comparison condition on the key column cannot be combined with other comparisons such as an IN predicate"),
            ("SELECT * FROM COUNTS WHERE ID + 10 = 20;", "A comparison must directly reference a key column."),
            ("SELECT * FROM COUNTS WHERE ID = N;", "A comparison must be between a key column and a resolvable expression."),
            ("SELECT * FROM COUNTS WHERE ID IN (2, N + 1);", "A comparison must be between a key column and a resolvable expression."),
            ("SELECT * FROM COUNTS;", TABLE_SCAN_ENABLED),
        ] {
            let e = error(&bed, sql);
            assert!(e.contains(message), "{sql}: {e}");
        }
        // Streams are always scanned.
        let (r, _) = run(&bed, "SELECT * FROM INPUT WHERE V = 'x';");
        assert_eq!(r.rows.len(), 3);
    }

    #[test]
    fn access_paths() {
        let int = [SqlType::Int];
        let c = |pairs: Vec<(usize, Cons)>| -> Conj { pairs.into_iter().collect() };
        let v = Value::Int;
        assert_eq!(key_access(&None, &int), KeyAccess::Scan);
        assert_eq!(
            key_access(&Some(vec![c(vec![(0, Cons::In(vec![v(1), v(2)]))])]), &int),
            KeyAccess::Points(vec![vec![v(1)], vec![v(2)]])
        );
        assert_eq!(
            key_access(
                &Some(vec![c(vec![(
                    0,
                    Cons::Range(Bound::Excluded(v(-5)), Bound::Unbounded)
                )])]),
                &int
            ),
            KeyAccess::Ranges(vec![
                (vec![v(-4)], vec![v(-1)]),
                (vec![v(0)], vec![v(i32::MAX)])
            ])
        );
        // Strings are not kept in order by the encoding; decimals not found by lookups.
        assert_eq!(
            key_access(
                &Some(vec![c(vec![(
                    0,
                    Cons::Range(Bound::Included(s("a")), Bound::Unbounded)
                )])]),
                &[SqlType::String]
            ),
            KeyAccess::Scan
        );
        assert_eq!(
            key_access(
                &Some(vec![c(vec![(0, Cons::In(vec![Value::Decimal(1.into())]))])]),
                &[SqlType::Decimal(4, 2)]
            ),
            KeyAccess::Scan
        );
        // Two key columns: every combination.
        let two = [SqlType::String, SqlType::Int];
        assert_eq!(
            key_access(
                &Some(vec![c(vec![
                    (0, Cons::In(vec![s("a"), s("b")])),
                    (1, Cons::In(vec![v(1)]))
                ])]),
                &two
            ),
            KeyAccess::Points(vec![vec![s("a"), v(1)], vec![s("b"), v(1)]])
        );
        assert_eq!(
            key_access(&Some(vec![c(vec![(0, Cons::In(vec![s("a")]))])]), &two),
            KeyAccess::Scan
        );
        // Doubles: 0.0 and -0.0 are both looked up.
        assert_eq!(
            key_access(
                &Some(vec![c(vec![(0, Cons::In(vec![Value::Double(0.0)]))])]),
                &[SqlType::Double]
            ),
            KeyAccess::Points(vec![vec![Value::Double(0.0)], vec![Value::Double(-0.0)]])
        );
        // Window starts from WINDOWSTART and WINDOWEND bounds.
        let conj = c(vec![
            (
                3,
                Cons::Range(Bound::Included(Value::Bigint(100)), Bound::Unbounded),
            ),
            (
                4,
                Cons::Range(Bound::Unbounded, Bound::Excluded(Value::Bigint(2000))),
            ),
        ]);
        assert_eq!(start_range(&conj, 3, 4, Some(1000)), (100, 999));
        assert_eq!(start_range(&conj, 3, 4, None), (100, i64::MAX));
    }
}
