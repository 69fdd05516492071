//! The engine on a cluster: statements that change the catalog are recorded as commands
//! in the compacted topic [`COMMAND_TOPIC`] and replayed at start, so streams, tables,
//! types and persistent queries come back after a restart; every persistent query runs
//! in one `brook-streams` runtime (one topology, one set of stream threads, one memory
//! budget), whose application id is `_confluent-ksql-<service id>`.
//!
//! A statement is tried on a copy of the engine first: only a statement that runs is
//! recorded, and the catalog changes after the command is written (`acks=all`). The
//! runtime is restarted with the new topology when the set of queries changes; queries
//! resume from their committed offsets and restore their state from their changelogs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use brook_client::producer::ProducerConfig;
use brook_client::{
    Admin, AdminConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerRecord,
    TopicPartition,
};
use brook_streams::task::DeserializationHandler;
use brook_streams::{KafkaStreams, StreamsConfig};
use bytes::Bytes;

use crate::ast::Statement;
use crate::compile::{self, TopologyBuilder};
use crate::engine::{Engine, StatementResult};
use crate::error::{Result, SqlError};
use crate::parser;
use crate::result::QueryResult;

/// The topic holding the engine's commands.
pub const COMMAND_TOPIC: &str = "__brook_sql_commands";

/// The processing log topic of service `service_id`, as ksqlDB names it
/// (`default_ksql_processing_log` for the default service id).
pub fn processing_log_topic(service_id: &str) -> String {
    format!("{service_id}ksql_processing_log")
}

/// How a runtime reaches its cluster and where it keeps state.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// `ksql.service.id`: servers with the same id share the catalog and the work.
    pub service_id: String,
    /// Where the queries' stores live.
    pub state_dir: PathBuf,
    /// Engine properties (ksqlDB names) for every statement.
    pub properties: BTreeMap<String, String>,
    /// `ksql.streams.num.stream.threads` (default 1).
    pub num_stream_threads: usize,
    /// Headless mode (ksqlDB's `--queries-file`): no command topic. The server runs its
    /// file's statements at every start; the queries get the same ids, so they continue
    /// from their committed offsets and their state.
    pub headless: bool,
}

impl RuntimeConfig {
    pub fn new(bootstrap_servers: &str, state_dir: impl Into<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            bootstrap_servers: bootstrap_servers.to_owned(),
            service_id: "default_".into(),
            state_dir: state_dir.into(),
            properties: BTreeMap::new(),
            num_stream_threads: 1,
            headless: false,
        }
    }
}

/// A recorded command: the statement and the properties it ran with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Command {
    statement: String,
    properties: BTreeMap<String, String>,
}

/// The SQL engine running on a cluster.
pub struct SqlRuntime {
    config: RuntimeConfig,
    rt: tokio::runtime::Runtime,
    admin: Admin,
    producer: Producer,
    engine: Engine,
    streams: Option<KafkaStreams>,
    /// The key of the next command this server records.
    next_command: u64,
    /// This server's part of command keys: servers sharing a service id write distinct keys.
    instance: String,
    /// The next command-topic offset to apply.
    command_offset: i64,
    /// Offsets of commands this server wrote and applied already.
    own_commands: std::collections::BTreeSet<i64>,
    /// The query ids the running topology holds.
    running: Vec<String>,
}

fn client_error(what: &str, e: impl std::fmt::Display) -> SqlError {
    SqlError::Streams(format!("{what}: {e}"))
}

/// Whether a statement changes the catalog (and is recorded).
fn is_command(s: &Statement) -> bool {
    matches!(
        s,
        Statement::CreateSource(_)
            | Statement::CreateAsSelect(_)
            | Statement::InsertInto { .. }
            | Statement::Drop { .. }
            | Statement::Terminate { .. }
            | Statement::CreateType { .. }
            | Statement::DropType { .. }
    )
}

impl SqlRuntime {
    /// Connects, replays the command topic and starts the queries it holds.
    pub fn start(config: RuntimeConfig) -> Result<SqlRuntime> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| client_error("cannot start a runtime", e))?;
        let (admin, producer) = rt.block_on(async {
            let admin = Admin::connect(&config.bootstrap_servers, AdminConfig::default())
                .await
                .map_err(|e| client_error("cannot reach the cluster", e))?;
            let producer_config = ProducerConfig::from_properties([
                ("bootstrap.servers", config.bootstrap_servers.as_str()),
                ("acks", "all"),
                ("linger.ms", "0"),
            ])
            .map_err(|e| client_error("producer config", e))?;
            let producer = Producer::connect(producer_config)
                .await
                .map_err(|e| client_error("cannot start a producer", e))?;
            Ok::<_, SqlError>((admin, producer))
        })?;
        let mut engine = Engine::new(config.properties.clone());
        let mut runtime = SqlRuntime {
            config,
            rt,
            admin,
            producer,
            engine: Engine::new(BTreeMap::new()),
            streams: None,
            next_command: 0,
            instance: format!(
                "{:x}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ),
            command_offset: 0,
            own_commands: Default::default(),
            running: Vec::new(),
        };
        if !runtime.config.headless {
            runtime.ensure_command_topic()?;
        }
        engine.set_processing_log(runtime.start_processing_log()?);
        runtime.sync_topics(&mut engine)?;
        let (commands, end) = if runtime.config.headless {
            (Vec::new(), 0)
        } else {
            runtime.read_commands(0)?
        };
        runtime.command_offset = end;
        runtime.apply_commands(&mut engine, commands);
        runtime.engine = engine;
        runtime.restart_queries()?;
        Ok(runtime)
    }

    /// The engine's state (catalog, queries).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How the runtime was started.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The cluster's topics with their partition counts, as they are now.
    pub fn topics(&mut self) -> Result<BTreeMap<String, i32>> {
        let topics = self.cluster_topics()?;
        self.engine.catalog.topics = topics.clone();
        Ok(topics)
    }

    /// Runs a script with request properties (a REST request's `streamsProperties`) on
    /// top of the engine's; the statements' `SET`s and `DEFINE`s last only for the
    /// script, as in a ksqlDB request.
    pub fn execute_with(
        &mut self,
        sql: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<Vec<StatementResult>> {
        let saved = self.engine.properties.clone();
        let variables = self.engine.variables.clone();
        self.engine.properties.extend(properties.clone());
        let r = self.execute(sql);
        self.engine.properties = saved;
        self.engine.variables = variables;
        r
    }

    /// The processing log: each message goes to the server log and, as a JSON record
    /// (`{"message": ...}`), to the processing log topic.
    fn start_processing_log(&self) -> Result<compile::ProcessingLog> {
        let topic = processing_log_topic(&self.config.service_id);
        self.create_topics(&[(topic.clone(), 1)])?;
        let producer = self.rt.block_on(async {
            let config = ProducerConfig::from_properties([
                ("bootstrap.servers", self.config.bootstrap_servers.as_str()),
                ("acks", "1"),
            ])
            .map_err(|e| client_error("producer config", e))?;
            Producer::connect(config)
                .await
                .map_err(|e| client_error("cannot start a producer", e))
        })?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        self.rt.spawn(async move {
            while let Some(message) = rx.recv().await {
                let value = serde_json::json!({ "message": message }).to_string();
                let _ = producer
                    .send(ProducerRecord::new(topic.clone(), Bytes::from(value)))
                    .await;
            }
            let _ = producer.close(Duration::from_secs(5)).await;
        });
        Ok(std::sync::Arc::new(move |m: &str| {
            tracing::warn!(target: "processing_log", "{m}");
            let _ = tx.send(m.to_owned());
        }))
    }

    fn ensure_command_topic(&self) -> Result<()> {
        self.rt.block_on(async {
            let topics = self
                .admin
                .list_topics(true)
                .await
                .map_err(|e| client_error("cannot list topics", e))?;
            if topics.iter().any(|t| t == COMMAND_TOPIC) {
                return Ok(());
            }
            let t = NewTopic::new(COMMAND_TOPIC, 1, 1).config("cleanup.policy", "compact");
            let r = self
                .admin
                .create_topics(&[t], false)
                .await
                .map_err(|e| client_error("cannot create the command topic", e))?;
            match r.get(COMMAND_TOPIC) {
                Some(Ok(_)) => Ok(()),
                // Another server made it first.
                Some(Err(e)) if e.to_string().contains("already exists") => Ok(()),
                Some(Err(e)) => Err(client_error("cannot create the command topic", e)),
                None => Ok(()),
            }
        })
    }

    /// Tells the engine which topics exist, with their partition counts.
    fn sync_topics(&self, engine: &mut Engine) -> Result<()> {
        engine.catalog.topics = self.cluster_topics()?;
        Ok(())
    }

    /// The cluster's topics (internal ones excepted) with their partition counts.
    fn cluster_topics(&self) -> Result<BTreeMap<String, i32>> {
        let described = self.rt.block_on(async {
            let names = self
                .admin
                .list_topics(false)
                .await
                .map_err(|e| client_error("cannot list topics", e))?;
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            self.admin
                .describe_topics(&refs)
                .await
                .map_err(|e| client_error("cannot describe topics", e))
        })?;
        Ok(described
            .into_iter()
            .filter_map(|(name, t)| t.ok().map(|t| (name, t.partitions.len() as i32)))
            .collect())
    }

    /// Applies recorded commands to `engine`. A command that ran when it was recorded
    /// runs again; one that does not (its topic was deleted since) is skipped, as ksqlDB's
    /// command runner does.
    fn apply_commands(&self, engine: &mut Engine, commands: Vec<(i64, Command)>) {
        for (_, c) in commands {
            engine.properties = self.config.properties.clone();
            engine.properties.extend(c.properties.clone());
            if let Err(e) = engine.execute_sql(&c.statement) {
                tracing::warn!(target: "brook_sql", "skipped command {:?}: {e}", c.statement);
            }
        }
        engine.properties = self.config.properties.clone();
    }

    /// Applies the commands other servers with the same service id recorded since this
    /// one last looked, and runs their queries here too (the streams runtime spreads the
    /// tasks over the servers). Returns whether anything changed.
    pub fn catch_up(&mut self) -> Result<bool> {
        if self.config.headless {
            return Ok(false);
        }
        let (commands, end) = self.read_commands(self.command_offset)?;
        self.command_offset = self.command_offset.max(end);
        let theirs: Vec<(i64, Command)> = commands
            .into_iter()
            .filter(|(o, _)| !self.own_commands.contains(o))
            .collect();
        let next = self.command_offset;
        self.own_commands.retain(|o| *o >= next);
        if theirs.is_empty() {
            return Ok(false);
        }
        let mut engine = self.engine.clone();
        self.sync_topics(&mut engine)?;
        self.apply_commands(&mut engine, theirs);
        self.engine = engine;
        self.restart_queries()?;
        Ok(true)
    }

    /// The commands recorded from offset `from` on, with their offsets, and the end offset.
    fn read_commands(&self, from: i64) -> Result<(Vec<(i64, Command)>, i64)> {
        self.rt.block_on(async {
            let mut c = Consumer::connect(ConsumerConfig::new(self.config.bootstrap_servers.clone()))
                .await
                .map_err(|e| client_error("cannot start a consumer", e))?;
            let tp = TopicPartition::new(COMMAND_TOPIC, 0);
            let end = c
                .end_offsets(std::slice::from_ref(&tp))
                .await
                .map_err(|e| client_error("cannot read the command topic", e))?
                .get(&tp)
                .copied()
                .unwrap_or(0);
            if end <= from {
                return Ok((Vec::new(), end));
            }
            c.assign(std::slice::from_ref(&tp));
            c.seek(&tp, from)
                .map_err(|e| client_error("cannot read the command topic", e))?;
            let mut out = Vec::new();
            // The consumer's position, not the last record's offset, says when the end is
            // reached (compaction leaves gaps); a topic that stops answering is an error.
            let mut last_progress = std::time::Instant::now();
            let mut position = from;
            while position < end {
                let records = c
                    .poll(Duration::from_millis(500))
                    .await
                    .map_err(|e| client_error("cannot read the command topic", e))?;
                let now = c
                    .position(&tp)
                    .await
                    .map_err(|e| client_error("cannot read the command topic", e))?;
                if now > position || !records.is_empty() {
                    last_progress = std::time::Instant::now();
                } else if last_progress.elapsed() > Duration::from_secs(60) {
                    return Err(client_error(
                        "cannot read the command topic",
                        format!("no progress at offset {now} of {end} for 60 s"),
                    ));
                }
                position = now;
                for r in records {
                    let Some(v) = r.value else { continue };
                    match serde_json::from_slice::<Command>(&v) {
                        Ok(cmd) => out.push((r.offset, cmd)),
                        Err(e) => {
                            tracing::warn!(target: "brook_sql", "skipped a damaged command at offset {}: {e}", r.offset)
                        }
                    }
                }
            }
            Ok((out, end))
        })
    }

    /// Runs a script. Each statement that changes the catalog is tried on a copy of the
    /// engine, recorded, then applied; `INSERT ... VALUES` records are produced.
    pub fn execute(&mut self, sql: &str) -> Result<Vec<StatementResult>> {
        let mut out = Vec::new();
        let mut caught_up = false;
        for s in parser::parse(sql)? {
            let stmt = self.engine.substituted(s)?;
            if is_command(&stmt.statement) {
                // Other servers' commands first, once per script (not per INSERT VALUES:
                // each look at the command topic is a consumer connection).
                if !caught_up {
                    self.catch_up()?;
                    caught_up = true;
                }
                let mut trial = self.engine.clone();
                self.sync_topics(&mut trial)?;
                let before = trial.catalog.topics.clone();
                let result = trial.execute(&stmt)?;
                // Topics the statement made (a sink, a source with PARTITIONS).
                let new_topics: Vec<(String, i32)> = trial
                    .catalog
                    .topics
                    .iter()
                    .filter(|(t, _)| !before.contains_key(*t))
                    .map(|(t, p)| (t.clone(), *p))
                    .collect();
                self.create_topics(&new_topics)?;
                self.record(&stmt.text)?;
                self.engine = trial;
                out.push(result);
                self.restart_queries()?;
            } else {
                let produced = self.engine.produced.len();
                out.push(self.engine.execute(&stmt)?);
                let records: Vec<_> = self.engine.produced.drain(produced..).collect();
                self.produce(records)?;
            }
        }
        Ok(out)
    }

    fn create_topics(&self, topics: &[(String, i32)]) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        self.rt.block_on(async {
            let new: Vec<NewTopic> = topics
                .iter()
                .map(|(t, p)| NewTopic::new(t.clone(), (*p).max(1), 1))
                .collect();
            let r = self
                .admin
                .create_topics(&new, false)
                .await
                .map_err(|e| client_error("cannot create topics", e))?;
            for (t, res) in r {
                if let Err(e) = res {
                    if !e.to_string().contains("already exists") {
                        return Err(client_error(&format!("cannot create topic {t}"), e));
                    }
                }
            }
            Ok(())
        })
    }

    fn record(&mut self, statement: &str) -> Result<()> {
        if self.config.headless {
            return Ok(());
        }
        let cmd = Command {
            statement: statement.to_owned(),
            properties: self.engine.properties.clone(),
        };
        let value =
            serde_json::to_vec(&cmd).map_err(|e| client_error("cannot encode a command", e))?;
        let key = format!("{}-{:020}", self.instance, self.next_command);
        let meta = self.rt.block_on(async {
            self.producer
                .send(
                    ProducerRecord::new(COMMAND_TOPIC, Bytes::from(value))
                        .with_key(Bytes::from(key))
                        .with_partition(0),
                )
                .await
                .map_err(|e| client_error("cannot record the command", e))
        })?;
        if meta.offset == self.command_offset {
            self.command_offset += 1;
        } else if meta.offset > self.command_offset {
            self.own_commands.insert(meta.offset);
        }
        self.next_command += 1;
        Ok(())
    }

    fn produce(&self, records: Vec<crate::engine::ProducedRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.rt.block_on(async {
            for r in records {
                let mut record = ProducerRecord::new(r.topic.clone(), r.value.unwrap_or_default())
                    .with_timestamp(r.timestamp);
                if let Some(k) = r.key {
                    record = record.with_key(k);
                }
                self.producer
                    .send(record)
                    .await
                    .map_err(|e| client_error(&format!("cannot write to {}", r.topic), e))?;
            }
            Ok(())
        })
    }

    /// Runs the engine's queries in one streams runtime, restarting it if they changed.
    fn restart_queries(&mut self) -> Result<()> {
        let ids: Vec<String> = self.engine.queries.iter().map(|q| q.id.clone()).collect();
        if ids == self.running && (self.streams.is_some() || ids.is_empty()) {
            return Ok(());
        }
        if let Some(s) = self.streams.take() {
            s.close_timeout(Duration::from_secs(30));
        }
        self.running = ids;
        if self.engine.queries.is_empty() {
            return Ok(());
        }
        let tb = TopologyBuilder::new();
        for q in &self.engine.queries {
            tb.add(&q.plan, &q.id, self.engine.processing_log(), None)?;
        }
        let topology = tb.build()?;
        let mut config = StreamsConfig::new(
            &format!("_confluent-ksql-{}", self.config.service_id),
            &self.config.bootstrap_servers,
        );
        config.state_dir = self.config.state_dir.clone();
        config.num_stream_threads = self.config.num_stream_threads.max(1);
        // ksqlDB's default (Kafka Streams' is 30 s): materialized state, which pull
        // queries read, is at most this far behind the record cache.
        config.commit_interval = Duration::from_millis(2000);
        config.deserialization_handler = DeserializationHandler::LogAndContinue;
        // ksqlDB's name for the record cache, with or without its `ksql.streams.` prefix.
        let cache = self
            .config
            .properties
            .get("ksql.streams.cache.max.bytes.buffering")
            .or_else(|| self.config.properties.get("cache.max.bytes.buffering"));
        if let Some(bytes) = cache {
            config.cache_max_bytes = bytes.parse().map_err(|_| {
                SqlError::analysis(
                    None,
                    format!("cache.max.bytes.buffering is not a size: {bytes}"),
                )
            })?;
        }
        if let Some(ms) = self
            .config
            .properties
            .get("ksql.streams.commit.interval.ms")
            .or_else(|| self.config.properties.get("commit.interval.ms"))
        {
            config.commit_interval = Duration::from_millis(ms.parse().map_err(|_| {
                SqlError::analysis(None, format!("commit.interval.ms is not a number: {ms}"))
            })?);
        }
        let streams = KafkaStreams::new(topology, config)?;
        streams.start()?;
        self.streams = Some(streams);
        Ok(())
    }

    /// Runs a pull query (a `SELECT` without `EMIT`) against the tables the queries
    /// materialize (see [`crate::pull`]).
    pub fn pull(&self, sql: &str) -> Result<QueryResult> {
        crate::pull::pull_on_cluster(
            &self.engine,
            self.streams.as_ref(),
            &self.config.bootstrap_servers,
            sql,
        )
    }

    /// A pull query with request properties (e.g. `ksql.query.pull.table.scan.enabled`)
    /// on top of the engine's.
    pub fn pull_with(
        &mut self,
        sql: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<QueryResult> {
        // Right after a query change the runtime rebalances (tasks assigned, stores
        // restored); a pull query waits for that, up to 30 s, instead of failing.
        if let Some(s) = &self.streams {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while matches!(
                s.state(),
                brook_streams::StreamsState::Created | brook_streams::StreamsState::Rebalancing
            ) && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let saved = self.engine.properties.clone();
        self.engine.properties.extend(properties.clone());
        let r = self.pull(sql);
        self.engine.properties = saved;
        r
    }

    /// Stops the queries.
    pub fn close(mut self) {
        if let Some(s) = self.streams.take() {
            s.close_timeout(Duration::from_secs(30));
        }
        let _ = self
            .rt
            .block_on(self.producer.close(Duration::from_secs(5)));
    }
}
