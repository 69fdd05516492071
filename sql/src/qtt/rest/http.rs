//! Running a REST run for real: against a node that is already running (a broker and the
//! SQL REST server), over Kafka and HTTP, as ksqlDB's `RestTestExecutor` does.
//!
//! For a run: create its topics (`topics`, the topic of every `CREATE STREAM|TABLE` with
//! its `PARTITIONS`, the input topics); `POST /ksql` each statement before the first query,
//! one at a time; produce the inputs (encoded by the formats of the sources over their
//! topics, which a local [`Engine`] replaying the statements knows); `POST /query` each
//! query with `auto.offset.reset=earliest`; read back the topics of the case's `outputs`.
//!
//! - A pull query answers from state that lags the inputs: it is retried every
//!   [`RETRY_EVERY`] until its answer matches the expected one, the answer's header differs
//!   (a retry cannot fix that), the answer stayed the same for [`HttpOptions::pull_settle`]
//!   or [`HttpOptions::pull_timeout`] has passed since the first pull query of the run;
//!   the last answer counts.
//! - A push query is read line by line until its `finalMessage`, until it sent as many
//!   rows as expected (when no final message is expected), or until
//!   [`HttpOptions::push_timeout`]; then the connection is dropped. With
//!   `waitForActivePushQuery` the inputs are produced once its header arrived.
//!
//! This code runs on the caller's thread with `reqwest::blocking`; the Kafka clients run
//! on a small tokio runtime of their own, entered with `block_on` only.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use brook_client::{
    Admin, AdminConfig, ClientError, Consumer, ConsumerConfig, ConsumerRecord, ErrorCode, NewTopic,
    Producer, ProducerConfig, ProducerRecord, TopicPartition,
};
use regex::Regex;
use serde_json::{json, Map, Value};

use super::{
    is_push_query, is_query, query_difference, ActualBody, ActualError, ActualResponse, ActualRun,
    ExecError, QueryResponse, RestRun,
};
use crate::engine::Engine;
use crate::qtt::exec::{decode_output, encode_input, named_topics, RawRecord, TestRecord};

/// How often a pull query is retried until it matches.
pub const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Where the node under test listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `host:port` of the Kafka listener.
    pub bootstrap: String,
    /// The SQL REST server.
    pub http: SocketAddr,
}

/// Time limits of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// How long pull queries are retried until they match, from the first one of a run.
    pub pull_timeout: Duration,
    /// A pull query whose answer did not change for this long is not retried any more
    /// (the state it reads has caught up; a match comes within a few hundred milliseconds).
    pub pull_settle: Duration,
    /// How long a push query is read at most.
    pub push_timeout: Duration,
    /// How long the expected output records are waited for.
    pub output_timeout: Duration,
    /// The limit of any other request (a statement, a topic creation, producing).
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            pull_timeout: Duration::from_secs(10),
            pull_settle: Duration::from_secs(3),
            push_timeout: Duration::from_secs(10),
            output_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The answer to a statement: 2xx and its JSON (or, for a query, its items), or an error.
enum Answer<T> {
    Ok(T),
    Error { status: u16, message: String },
}

/// Runs one run against the node at `node`. `Err` when the run cannot be carried out (the
/// node does not answer, an input cannot be encoded); a statement the server refuses is
/// `ActualRun::error`.
pub fn execute(
    run: &RestRun,
    node: &Endpoints,
    options: &HttpOptions,
) -> Result<ActualRun, ExecError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rest-qtt-client")
        .enable_all()
        .build()
        .map_err(|e| ExecError::new(format!("cannot start a tokio runtime: {e}")))?;
    let first_query = run
        .statements
        .iter()
        .position(|s| is_query(s))
        .unwrap_or(run.statements.len());
    let shadow = shadow_engine(run, first_query);
    create_topics(&rt, node, run, options)?;
    let http = reqwest::blocking::Client::builder()
        .build()
        .map_err(|e| ExecError::new(format!("cannot build an HTTP client: {e}")))?;
    let client = Http {
        http,
        base: format!("http://{}", node.http),
        properties: &run.properties,
        timeout: options.request_timeout,
        settle: options.pull_settle,
    };
    let mut actual = ActualRun::default();
    let mut inputs = Inputs {
        produced: false,
        rt: &rt,
        node,
        shadow: &shadow,
        run,
        timeout: options.request_timeout,
    };
    let mut pull_deadline: Option<Instant> = None;
    for (i, statement) in run.statements.iter().enumerate() {
        if i == first_query && !run.wait_for_active_push_query {
            inputs.produce()?;
        }
        let answer = if !is_query(statement) {
            match client.ksql(statement)? {
                Answer::Ok(Value::Array(entities)) => Answer::Ok(
                    entities
                        .into_iter()
                        .map(|e| ActualResponse {
                            statement: i,
                            body: ActualBody::Admin(e),
                        })
                        .collect::<Vec<_>>(),
                ),
                Answer::Ok(other) => Answer::Ok(vec![ActualResponse {
                    statement: i,
                    body: ActualBody::Admin(other),
                }]),
                Answer::Error { status, message } => Answer::Error { status, message },
            }
        } else {
            let expected = run.expected_query(actual.responses.len());
            let items = if is_push_query(statement) {
                client.push(statement, expected, options.push_timeout, &mut || {
                    if run.wait_for_active_push_query {
                        inputs.produce()
                    } else {
                        Ok(())
                    }
                })?
            } else {
                let deadline =
                    *pull_deadline.get_or_insert_with(|| Instant::now() + options.pull_timeout);
                client.pull(statement, expected, run.verify_order, deadline)?
            };
            match items {
                Answer::Ok(items) => Answer::Ok(vec![ActualResponse {
                    statement: i,
                    body: ActualBody::Query(items),
                }]),
                Answer::Error { status, message } => Answer::Error { status, message },
            }
        };
        match answer {
            Answer::Ok(responses) => actual.responses.extend(responses),
            Answer::Error { status, message } => {
                actual.error = Some(ActualError {
                    statement: i,
                    status,
                    message,
                });
                return Ok(actual);
            }
        }
    }
    inputs.produce()?;
    if !run.outputs.is_empty() {
        actual.records = read_outputs(&rt, node, &shadow, run, options)?;
    }
    Ok(actual)
}

/// An engine that ran the statements before the first query (up to the first that
/// fails), for the formats and schemas of the sources.
fn shadow_engine(run: &RestRun, upto: usize) -> Engine {
    let mut properties = run.properties.clone();
    properties
        .entry("ksql.service.id".into())
        .or_insert_with(|| "some.ksql.service.id".into());
    let mut engine = Engine::new(properties);
    for t in &run.topics {
        engine.add_topic(&t.name, t.partitions.unwrap_or(1));
    }
    for r in &run.inputs {
        engine.add_topic(&r.topic, 1);
    }
    for s in &run.statements {
        for t in named_topics(s) {
            engine.add_topic(&t, 1);
        }
    }
    for s in &run.statements[..upto] {
        if engine.execute_sql(s).is_err() {
            break;
        }
    }
    engine
}

/// `PARTITIONS=<n>` in a `WITH` clause.
static PARTITIONS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bPARTITIONS\s*=\s*'?\s*(\d+)").expect("a constant, valid regex")
});

/// Whether a statement declares a source over an existing topic: `CREATE [OR REPLACE]
/// [SOURCE] STREAM|TABLE` without `AS SELECT`.
fn declares_source(statement: &str) -> bool {
    let words: Vec<String> = statement
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(64)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let mut rest = words.iter().map(String::as_str);
    if rest.next() != Some("CREATE") {
        return false;
    }
    let kind = rest.find(|w| !matches!(*w, "OR" | "REPLACE" | "SOURCE"));
    matches!(kind, Some("STREAM" | "TABLE"))
        && !words.windows(2).any(|p| p[0] == "AS" && p[1] == "SELECT")
}

/// The topics a run needs before its statements, with their partition counts: its
/// `topics`, the topic of each source a statement declares (with the statement's
/// `PARTITIONS`), its input topics.
pub fn topics_to_create(run: &RestRun) -> BTreeMap<String, i32> {
    let mut topics = BTreeMap::new();
    for t in &run.topics {
        topics.insert(t.name.clone(), t.partitions.unwrap_or(1));
    }
    for s in run.statements.iter().filter(|s| declares_source(s)) {
        if let Some(topic) = named_topics(s).into_iter().next() {
            let partitions = PARTITIONS
                .captures(s)
                .and_then(|c| c[1].parse().ok())
                .unwrap_or(1);
            topics.entry(topic).or_insert(partitions);
        }
    }
    for r in &run.inputs {
        topics.entry(r.topic.clone()).or_insert(1);
    }
    topics
}

fn client_error(what: &str) -> impl Fn(ClientError) -> ExecError + '_ {
    move |e| ExecError::new(format!("{what}: {e}"))
}

async fn within<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, ExecError>>,
) -> Result<T, ExecError> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| ExecError::new(format!("{what}: no answer within {limit:?}")))?
}

fn create_topics(
    rt: &tokio::runtime::Runtime,
    node: &Endpoints,
    run: &RestRun,
    options: &HttpOptions,
) -> Result<(), ExecError> {
    let topics = topics_to_create(run);
    if topics.is_empty() {
        return Ok(());
    }
    rt.block_on(within(
        options.request_timeout,
        "creating the topics",
        async {
            let admin = Admin::connect(&node.bootstrap, AdminConfig::default())
                .await
                .map_err(client_error("connecting to the broker"))?;
            let new: Vec<NewTopic> = topics
                .iter()
                .map(|(name, partitions)| NewTopic::new(name.clone(), *partitions, 1))
                .collect();
            let results = admin
                .create_topics(&new, false)
                .await
                .map_err(client_error("creating the topics"))?;
            for (name, result) in results {
                if let Err(e) = result {
                    if e.code != ErrorCode::TOPIC_ALREADY_EXISTS {
                        return Err(ExecError::new(format!("creating topic {name}: {e}")));
                    }
                }
            }
            Ok(())
        },
    ))
}

/// The inputs of a run, produced once.
struct Inputs<'a> {
    produced: bool,
    rt: &'a tokio::runtime::Runtime,
    node: &'a Endpoints,
    shadow: &'a Engine,
    run: &'a RestRun,
    timeout: Duration,
}

impl Inputs<'_> {
    fn produce(&mut self) -> Result<(), ExecError> {
        if std::mem::replace(&mut self.produced, true) || self.run.inputs.is_empty() {
            return Ok(());
        }
        let records = self
            .run
            .inputs
            .iter()
            .map(|r| producer_record(self.shadow, r))
            .collect::<Result<Vec<_>, _>>()?;
        let bootstrap = self.node.bootstrap.clone();
        self.rt
            .block_on(within(self.timeout, "producing the inputs", async move {
                let mut config = ProducerConfig::default();
                for (k, v) in [
                    ("bootstrap.servers", bootstrap.as_str()),
                    ("client.id", "rest-qtt"),
                    ("acks", "all"),
                    ("linger.ms", "0"),
                    ("max.in.flight.requests.per.connection", "1"),
                ] {
                    config
                        .set(k, v)
                        .map_err(|e| ExecError::new(format!("producer config {k}: {e}")))?;
                }
                let producer = Producer::connect(config)
                    .await
                    .map_err(client_error("connecting the producer"))?;
                let deliveries: Vec<_> = records.into_iter().map(|r| producer.send(r)).collect();
                for (i, d) in deliveries.into_iter().enumerate() {
                    d.await
                        .map_err(|e| ExecError::new(format!("producing input {i}: {e}")))?;
                }
                producer
                    .close(Duration::from_secs(5))
                    .await
                    .map_err(client_error("closing the producer"))
            }))
    }
}

/// An input record as the producer sends it: encoded by the formats of the source over
/// its topic; timestamp 0 when the case gives none (as ksqlDB's runner).
fn producer_record(shadow: &Engine, r: &TestRecord) -> Result<ProducerRecord, ExecError> {
    let (key, value) =
        encode_input(shadow, r).map_err(|e| ExecError::new(format!("encoding an input: {e}")))?;
    let mut record = ProducerRecord {
        topic: r.topic.clone(),
        partition: None,
        key,
        value,
        headers: Vec::new(),
        timestamp: Some(r.timestamp.unwrap_or(0)),
    };
    for (k, v) in &r.headers {
        record = record.with_header(k.clone(), v.as_deref());
    }
    Ok(record)
}

/// The HTTP side of a run.
struct Http<'a> {
    http: reqwest::blocking::Client,
    base: String,
    properties: &'a BTreeMap<String, String>,
    timeout: Duration,
    settle: Duration,
}

impl Http<'_> {
    fn send(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Result<reqwest::blocking::Response, (u16, String)>, ExecError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .timeout(timeout)
            .send()
            .map_err(|e| ExecError::new(format!("POST {path}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(response));
        }
        let text = response.text().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(text);
        Ok(Err((status.as_u16(), message)))
    }

    fn properties(&self, query: bool) -> Value {
        let mut props = Map::new();
        if query {
            props.insert("ksql.streams.auto.offset.reset".into(), json!("earliest"));
        }
        for (k, v) in self.properties {
            props.insert(k.clone(), json!(v));
        }
        Value::Object(props)
    }

    /// `POST /ksql` with one statement.
    fn ksql(&self, statement: &str) -> Result<Answer<Value>, ExecError> {
        let body = json!({"ksql": statement, "streamsProperties": self.properties(false)});
        match self.send("/ksql", &body, self.timeout)? {
            Ok(response) => {
                let text = response
                    .text()
                    .map_err(|e| ExecError::new(format!("POST /ksql: reading the answer: {e}")))?;
                let value = serde_json::from_str(&text).map_err(|e| {
                    ExecError::new(format!("POST /ksql: the answer is not JSON ({e}): {text}"))
                })?;
                Ok(Answer::Ok(value))
            }
            Err((status, message)) => Ok(Answer::Error { status, message }),
        }
    }

    fn query_body(&self, statement: &str) -> Value {
        json!({"ksql": statement, "streamsProperties": self.properties(true)})
    }

    /// A pull query, retried until it matches `expected` (see the module's text).
    fn pull(
        &self,
        statement: &str,
        expected: Option<&QueryResponse>,
        verify_order: bool,
        deadline: Instant,
    ) -> Result<Answer<Vec<Value>>, ExecError> {
        // The last answer (by its parts: a query id differs every time) and since when it
        // has not changed.
        let mut last: Option<(Result<QueryResponse, String>, Instant)> = None;
        loop {
            let answer = match self.send("/query", &self.query_body(statement), self.timeout)? {
                Ok(response) => {
                    let text = response.text().map_err(|e| {
                        ExecError::new(format!("POST /query: reading the answer: {e}"))
                    })?;
                    Answer::Ok(parse_items(&text))
                }
                Err((status, message)) => Answer::Error { status, message },
            };
            let (retry, parts) = match (&answer, expected) {
                (Answer::Error { status, message }, _) => {
                    (*status >= 500, Err(format!("{status} {message}")))
                }
                (Answer::Ok(items), Some(e)) => {
                    let got = QueryResponse::from_items(items);
                    let retry = (e.schema.is_none() || e.schema == got.schema)
                        && query_difference(e, &got, verify_order).is_some();
                    (retry, Ok(got))
                }
                (Answer::Ok(_), None) => (false, Ok(QueryResponse::default())),
            };
            let now = Instant::now();
            let settled = match &last {
                Some((previous, since)) if *previous == parts => now - *since >= self.settle,
                _ => {
                    last = Some((parts, now));
                    false
                }
            };
            if !retry || settled || now + RETRY_EVERY > deadline {
                return Ok(answer);
            }
            std::thread::sleep(RETRY_EVERY);
        }
    }

    /// A push query, read until done (see the module's text); `on_header` runs once the
    /// header arrived.
    fn push(
        &self,
        statement: &str,
        expected: Option<&QueryResponse>,
        limit: Duration,
        on_header: &mut dyn FnMut() -> Result<(), ExecError>,
    ) -> Result<Answer<Vec<Value>>, ExecError> {
        let response = match self.send("/query", &self.query_body(statement), limit)? {
            Ok(r) => r,
            Err((status, message)) => return Ok(Answer::Error { status, message }),
        };
        let wanted_rows = expected.map(|e| e.rows.len());
        let wants_final = expected.is_some_and(|e| e.final_message.is_some());
        let mut response = response;
        let mut parser = ItemParser::default();
        let mut items = Vec::new();
        let (mut rows, mut header) = (0, false);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            // A read error is the time limit (or the server leaving): what came counts.
            let n = match response.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for item in parser.feed(&chunk[..n]) {
                let (is_header, is_row, is_final) = (
                    item.get("header").is_some(),
                    item.get("row").is_some(),
                    item.get("finalMessage").is_some(),
                );
                items.push(item);
                if is_header && !header {
                    header = true;
                    on_header()?;
                }
                rows += usize::from(is_row);
                if is_final {
                    return Ok(Answer::Ok(items));
                }
            }
            if header && !wants_final && wanted_rows.is_some_and(|n| rows >= n) {
                break;
            }
        }
        items.extend(parser.finish());
        Ok(Answer::Ok(items))
    }
}

/// The items of a whole `/query` answer: a JSON array, or (when it is not one, e.g. cut
/// short) what [`ItemParser`] finds in it.
pub fn parse_items(text: &str) -> Vec<Value> {
    if let Ok(Value::Array(items)) = serde_json::from_str(text) {
        return items;
    }
    let mut parser = ItemParser::default();
    let mut items = parser.feed(text.as_bytes());
    items.extend(parser.finish());
    items
}

/// Splits a streamed `/query` answer into its items as the bytes arrive, whatever the
/// line breaks: the answer is one JSON array (`[{"header":..},\n{"row":..},\n...]`), and an
/// item is complete once its closing brace came, before any separator after it. An answer
/// that does not start with `[` (`PRINT`'s text) is split into lines, each a string item.
#[derive(Debug, Default)]
pub struct ItemParser {
    mode: Mode,
    /// The bytes of the item (or text line) being read.
    current: Vec<u8>,
    /// Nesting inside the current item.
    depth: usize,
    in_string: bool,
    escaped: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    #[default]
    Start,
    Array,
    Done,
    Text,
}

impl ItemParser {
    /// The items completed by `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        for &b in bytes {
            match self.mode {
                Mode::Start => match b {
                    b'[' => self.mode = Mode::Array,
                    b if b.is_ascii_whitespace() => {}
                    _ => {
                        self.mode = Mode::Text;
                        self.text_byte(b, &mut out);
                    }
                },
                Mode::Text => self.text_byte(b, &mut out),
                Mode::Done => {}
                Mode::Array => self.array_byte(b, &mut out),
            }
        }
        out
    }

    /// What is left at the end of the answer: a last line of text, or an item cut short
    /// (as a string, so that it shows in a difference).
    pub fn finish(&mut self) -> Vec<Value> {
        let rest = std::mem::take(&mut self.current);
        let text = String::from_utf8_lossy(&rest).trim().to_string();
        if text.is_empty() {
            Vec::new()
        } else {
            vec![Value::String(text)]
        }
    }

    fn text_byte(&mut self, b: u8, out: &mut Vec<Value>) {
        if b == b'\n' {
            out.extend(self.finish());
        } else {
            self.current.push(b);
        }
    }

    fn array_byte(&mut self, b: u8, out: &mut Vec<Value>) {
        if self.depth == 0 {
            match b {
                b'{' | b'[' => {
                    self.depth = 1;
                    self.current.push(b);
                }
                b']' => self.mode = Mode::Done,
                // Separators, and scalar items (none are expected), are skipped.
                _ => {}
            }
            return;
        }
        self.current.push(b);
        if self.in_string {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
            return;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                if self.depth == 0 {
                    let bytes = std::mem::take(&mut self.current);
                    out.push(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    }));
                }
            }
            _ => {}
        }
    }
}

/// The records on the topics of the run's `outputs`, decoded by the formats of the
/// sources over them: waited for until each topic has as many as expected (then a little
/// longer, for extra ones) or until the time limit.
fn read_outputs(
    rt: &tokio::runtime::Runtime,
    node: &Endpoints,
    shadow: &Engine,
    run: &RestRun,
    options: &HttpOptions,
) -> Result<BTreeMap<String, Vec<TestRecord>>, ExecError> {
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    for r in &run.outputs {
        *wanted.entry(r.topic.clone()).or_default() += 1;
    }
    let limit = options.output_timeout;
    let read: BTreeMap<String, Vec<ConsumerRecord>> = rt.block_on(within(
        limit + options.request_timeout,
        "reading the outputs",
        async {
            let mut config = ConsumerConfig::new(node.bootstrap.clone());
            for (k, v) in [
                ("client.id", "rest-qtt"),
                ("auto.offset.reset", "earliest"),
                ("fetch.max.wait.ms", "100"),
                ("enable.auto.commit", "false"),
            ] {
                config
                    .set(k, v)
                    .map_err(|e| ExecError::new(format!("consumer config {k}: {e}")))?;
            }
            let mut consumer = Consumer::connect(config)
                .await
                .map_err(client_error("connecting the consumer"))?;
            let mut parts = Vec::new();
            for topic in wanted.keys() {
                match consumer.cluster().topic(topic).await {
                    Ok(t) => parts.extend(
                        t.partitions
                            .iter()
                            .map(|p| TopicPartition::new(topic.clone(), p.partition)),
                    ),
                    Err(ClientError::NoSuchTopic(_)) => {}
                    Err(e) => return Err(ExecError::new(format!("output topic {topic}: {e}"))),
                }
            }
            let mut got: BTreeMap<String, Vec<ConsumerRecord>> = BTreeMap::new();
            if parts.is_empty() {
                return Ok(got);
            }
            consumer.assign(&parts);
            consumer
                .seek_to_beginning(&parts)
                .map_err(client_error("seeking the outputs"))?;
            let deadline = Instant::now() + limit;
            let mut extra_polls = 2;
            loop {
                let complete = wanted
                    .iter()
                    .all(|(t, n)| got.get(t).map_or(0, Vec::len) >= *n);
                if complete {
                    if extra_polls == 0 {
                        break;
                    }
                    extra_polls -= 1;
                } else if Instant::now() >= deadline {
                    break;
                }
                let records = consumer
                    .poll(Duration::from_millis(100))
                    .await
                    .map_err(client_error("reading the outputs"))?;
                for r in records {
                    got.entry(r.topic.clone()).or_default().push(r);
                }
            }
            Ok(got)
        },
    ))?;
    let mut out = BTreeMap::new();
    for (topic, records) in read {
        let decoded = records
            .into_iter()
            .map(|r| {
                let raw = RawRecord {
                    key: r.key,
                    value: r.value,
                    timestamp: r.timestamp,
                    headers: r.headers,
                };
                decode_output(shadow, &topic, &raw)
                    .map_err(|e| ExecError::new(format!("decoding an output: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(topic, decoded);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qtt::exec::TestTopic;

    fn run_of(statements: &[&str]) -> RestRun {
        RestRun {
            name: "r".into(),
            statements: statements.iter().map(|s| s.to_string()).collect(),
            properties: BTreeMap::new(),
            topics: vec![TestTopic {
                name: "declared".into(),
                partitions: Some(3),
            }],
            inputs: vec![TestRecord {
                topic: "in_only".into(),
                key: Value::Null,
                value: Value::Null,
                timestamp: None,
                window: None,
                headers: Vec::new(),
            }],
            outputs: Vec::new(),
            responses: Vec::new(),
            expected_error: None,
            wait_for_active_push_query: false,
            verify_order: false,
        }
    }

    #[test]
    fn topics_of_a_run() {
        let run = run_of(&[
            "CREATE STREAM S (A INT) WITH (kafka_topic='t1', value_format='JSON', PARTITIONS = 4);",
            "create or replace table T (K INT PRIMARY KEY) with (KAFKA_TOPIC='t2', format='JSON');",
            "CREATE STREAM X WITH (kafka_topic='sink', partitions=2) AS SELECT * FROM S;",
            "CREATE SOURCE TABLE U (K INT PRIMARY KEY) WITH (kafka_topic='declared', value_format='JSON', partitions=9);",
        ]);
        assert_eq!(
            topics_to_create(&run),
            BTreeMap::from([
                ("declared".to_string(), 3),
                ("in_only".to_string(), 1),
                ("t1".to_string(), 4),
                ("t2".to_string(), 1),
            ])
        );
    }

    #[test]
    fn streamed_items() {
        let whole = "[{\"header\":{\"queryId\":\"q\",\"schema\":\"`K` INT\"}},\n\
                     {\"row\":{\"columns\":[\"a]}\\\"\",[2]]}},\n{\"finalMessage\":\"Limit Reached\"}]";
        let expected = [
            json!({"header": {"queryId": "q", "schema": "`K` INT"}}),
            json!({"row": {"columns": ["a]}\"", [2]]}}),
            json!({"finalMessage": "Limit Reached"}),
        ];
        assert_eq!(parse_items(whole), expected);
        // Byte by byte: each item as soon as it closed, before its separator.
        let mut parser = ItemParser::default();
        let mut got = Vec::new();
        let mut after_header = None;
        for (i, b) in whole.bytes().enumerate() {
            let items = parser.feed(&[b]);
            if !items.is_empty() && after_header.is_none() {
                after_header = Some(i);
            }
            got.extend(items);
        }
        assert_eq!(got, expected);
        assert_eq!(whole.as_bytes()[after_header.expect("an item")], b'}');
        assert!(parser.finish().is_empty());
        // Separators before items (the server's style), a stream cut short.
        assert_eq!(
            parse_items("[{\"header\":{}}\n,{\"row\":{\"columns\":[1]}}\n,{\"row\":"),
            [
                json!({"header": {}}),
                json!({"row": {"columns": [1]}}),
                json!("{\"row\":")
            ]
        );
        // PRINT's text.
        assert_eq!(
            parse_items("Key format: KAFKA_STRING\nrowtime: 1, key: a, value: b\n"),
            [
                json!("Key format: KAFKA_STRING"),
                json!("rowtime: 1, key: a, value: b")
            ]
        );
        assert!(parse_items("").is_empty());
        assert!(parse_items("[]").is_empty());
    }
}
