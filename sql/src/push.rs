//! Push queries: a `SELECT ... EMIT CHANGES` runs as a transient query until its `LIMIT`
//! is reached or its client goes away. Like ksqlDB, a push query is its own streams
//! application (`_confluent-ksql-<service id>transient_<id>`), reading its sources from
//! `auto.offset.reset` (ksqlDB's default, `latest`, or `earliest`), with no record cache
//! so that every change reaches the client; its rows are handed to the caller through a
//! channel. Closing it stops its stream threads, deletes its state and its internal
//! topics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brook_client::{Admin, AdminConfig};
use brook_streams::task::DeserializationHandler;
use brook_streams::{KafkaStreams, StreamsConfig};
use tokio::sync::mpsc;

use crate::ast::{Query, Statement};
use crate::compile::{TopologyBuilder, TransientSink};
use crate::engine::Engine;
use crate::error::{Result, SqlError};
use crate::plan::{Planner, QueryPlan};
use crate::result::ResultColumn;
use crate::value::{Row, Value};

/// Where push queries run.
#[derive(Debug, Clone)]
pub struct PushConfig {
    pub bootstrap_servers: String,
    pub service_id: String,
    /// Transient queries keep their (short-lived) state under `<state_dir>/transient`.
    pub state_dir: PathBuf,
}

/// A row of a push query; `tombstone` marks a table row that was deleted (its key columns
/// are set, the others are null).
#[derive(Debug, Clone, PartialEq)]
pub struct PushRow {
    pub values: Row,
    pub tombstone: bool,
}

/// A running push query.
pub struct PushQuery {
    /// `transient_<SOURCE>_<n>`.
    pub id: String,
    pub columns: Vec<ResultColumn>,
    pub limit: Option<u64>,
    /// Rows as the query produces them; closed when the query stops.
    pub rows: mpsc::Receiver<PushRow>,
    running: Option<Running>,
}

struct Running {
    streams: KafkaStreams,
    application_id: String,
    bootstrap_servers: String,
    state_dir: PathBuf,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// How many rows may wait for a slow client before the query's stream thread waits too.
const BUFFERED_ROWS: usize = 1024;

/// The `auto.offset.reset` a request asks for (`streamsProperties`, with or without
/// ksqlDB's `ksql.streams.` prefix), else ksqlDB's default for push queries, `latest`.
pub fn offset_reset(properties: &BTreeMap<String, String>) -> Result<String> {
    let v = properties
        .get("ksql.streams.auto.offset.reset")
        .or_else(|| properties.get("auto.offset.reset"))
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_else(|| "latest".into());
    match v.as_str() {
        "earliest" | "latest" => Ok(v),
        other => Err(SqlError::analysis(
            None,
            format!("Invalid value {other} for configuration auto.offset.reset: String must be one of: latest, earliest, none"),
        )),
    }
}

/// Plans `query` as a transient query: the plan, its columns in `SELECT` order, and for
/// each of them its place in the key-then-value row the plan produces.
pub fn plan_transient(engine: &Engine, query: &Query) -> Result<(QueryPlan, Vec<ResultColumn>)> {
    let planner = Planner {
        catalog: &engine.catalog,
        functions: &engine.functions,
        sink_name: None,
        keyless_projection: engine.new_planner(),
    };
    let plan = planner.plan(query, None)?;
    let columns = output_order(&plan)
        .into_iter()
        .map(|(i, key)| {
            let c = if key {
                &plan.key[i]
            } else {
                &plan.value[i - plan.key.len()]
            };
            ResultColumn::new(c.name.clone(), c.ty.clone(), key)
        })
        .collect();
    Ok((plan, columns))
}

/// For each output column in `SELECT` order, its index in the plan's key-then-value row
/// and whether it is a key column. Columns the projection does not name (a grouping key
/// the query does not select) are not returned.
fn output_order(plan: &QueryPlan) -> Vec<(usize, bool)> {
    let names: Vec<&str> = plan
        .key
        .iter()
        .chain(plan.value.iter())
        .map(|c| c.name.as_str())
        .collect();
    let mut order: Vec<(usize, bool)> = Vec::new();
    for n in &plan.select_names {
        if let Some(i) = names.iter().position(|m| m == n) {
            if !order.iter().any(|(j, _)| *j == i) {
                order.push((i, i < plan.key.len()));
            }
        }
    }
    if order.is_empty() {
        return (0..names.len()).map(|i| (i, i < plan.key.len())).collect();
    }
    order
}

impl PushQuery {
    /// Starts `sql` (one `SELECT ... EMIT CHANGES`) on the cluster.
    pub fn start(
        engine: &Engine,
        config: &PushConfig,
        sql: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<PushQuery> {
        let mut parsed = crate::parser::parse(sql)?;
        if parsed.len() != 1 {
            return Err(SqlError::analysis(None, "Expected exactly one statement"));
        }
        let stmt = engine.substituted(parsed.remove(0))?;
        let Statement::Query(query) = &stmt.statement else {
            return Err(SqlError::at(stmt.pos, "a push query is a SELECT"));
        };
        if query.emit.is_none() {
            return Err(SqlError::at(
                query.pos,
                "a pull query (no EMIT CHANGES) is not a push query",
            ));
        }
        let reset = offset_reset(properties)?;
        let (mut plan, columns) = plan_transient(engine, query)?;
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!(
            "transient_{}_{}{}",
            query.from.source.name.name,
            n,
            nanos % 1_000_000_007
        );
        let (tx, rx) = mpsc::channel(BUFFERED_ROWS);
        let order = output_order(&plan);
        let key_width = plan.key.len();
        let null = Value::Null;
        let sink: TransientSink = Arc::new(move |key: &Row, value: Option<&Row>, _window| {
            let tombstone = value.is_none();
            // A record without a key (a stream's null key) has no key values: its key
            // columns are null.
            let row: Vec<&Value> = key
                .iter()
                .chain(std::iter::repeat(&null))
                .take(key_width.max(key.len()))
                .chain(value.into_iter().flatten())
                .collect();
            let values: Row = order
                .iter()
                .map(|(i, is_key)| {
                    if tombstone && !is_key {
                        Value::Null
                    } else {
                        row.get(*i).map(|v| (*v).clone()).unwrap_or(Value::Null)
                    }
                })
                .collect();
            // A client that went away: the query is being closed; drop the row.
            let _ = tx.blocking_send(PushRow { values, tombstone });
        });
        plan.emit = Some(sink);
        let tb = TopologyBuilder::new();
        tb.add(&plan, &id, engine.processing_log(), None)?;
        let topology = tb.build()?;
        let application_id = format!("_confluent-ksql-{}{id}", config.service_id);
        let state_dir = config.state_dir.join("transient").join(&id);
        let mut sc = StreamsConfig::new(&application_id, &config.bootstrap_servers);
        sc.state_dir = state_dir.clone();
        sc.cache_max_bytes = 0;
        sc.deserialization_handler = DeserializationHandler::LogAndContinue;
        sc.commit_interval = Duration::from_secs(30);
        sc.consumer_overrides
            .push(("auto.offset.reset".into(), reset));
        let streams = KafkaStreams::new(topology, sc)?;
        streams.start()?;
        Ok(PushQuery {
            id,
            columns,
            limit: plan.limit,
            rows: rx,
            running: Some(Running {
                streams,
                application_id,
                bootstrap_servers: config.bootstrap_servers.clone(),
                state_dir,
            }),
        })
    }

    /// Stops the query in the background: its threads, its state directory and its
    /// internal topics (repartition and changelog topics named after its application id).
    pub fn close(&mut self) {
        self.rows.close();
        if let Some(r) = self.running.take() {
            // Closing joins the stream threads, which may wait on a full channel that
            // was just closed; neither may block a caller on an async runtime.
            std::thread::spawn(move || r.stop());
        }
    }
}

impl Running {
    fn stop(self) {
        self.streams.close_timeout(Duration::from_secs(30));
        drop(self.streams);
        let _ = std::fs::remove_dir_all(&self.state_dir);
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let prefix = format!("{}-", self.application_id);
        rt.block_on(async {
            let Ok(admin) = Admin::connect(&self.bootstrap_servers, AdminConfig::default()).await
            else {
                return;
            };
            if let Ok(topics) = admin.list_topics(true).await {
                let internal: Vec<&str> = topics
                    .iter()
                    .filter(|t| t.starts_with(&prefix))
                    .map(String::as_str)
                    .collect();
                if !internal.is_empty() {
                    if let Err(e) = admin.delete_topics(&internal).await {
                        tracing::warn!(target: "brook_sql", "cannot delete the internal topics of {}: {e}", self.application_id);
                    }
                }
            }
        });
    }
}

impl Drop for PushQuery {
    fn drop(&mut self) {
        self.close();
    }
}
