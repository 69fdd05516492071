//! The SQL engine's REST API, compatible with ksqlDB's, so ksqlDB's clients and tools work
//! unchanged:
//!
//! | endpoint | what it does |
//! |---|---|
//! | `POST /ksql` | runs statements (`{"ksql": "...;", "streamsProperties": {}}`); answers a list of entities (`currentStatus`, `streams`, `tables`, `queries`, `properties`, `kafka_topics`, `sourceDescription`, and Brook's `text` for other listings) |
//! | `POST /query` | runs a pull or push query (`{"ksql": "SELECT ...;"}`); rows stream as ksqlDB's chunked JSON array: a `header`, one `row` per line, a `finalMessage` |
//! | `POST /query-stream` | the same with `{"sql": ...}`: delimited JSON (a header object, then one array per row), a JSON array with `Accept: application/json`, or an Arrow IPC stream with `Accept: application/vnd.apache.arrow.stream` |
//! | `POST /close-query` | stops a push query (`{"queryId": ...}`) |
//! | `POST /inserts-stream` | a `{"target": "S"}` line, then one JSON object per line; one ack line per row |
//! | `GET /info`, `/healthcheck`, `/status` | server info, health, command statuses |
//!
//! Errors have ksqlDB's body: `{"@type": "statement_error", "error_code": 40001,
//! "message": ..., "statementText": ..., "entities": [...]}`. A headless server (started
//! with a queries file) answers 403 to statements and queries, as ksqlDB's does.
//!
//! The engine itself ([`SqlRuntime`]) is synchronous: handlers call it on tokio's blocking
//! pool, one statement at a time; push queries run as their own streams applications
//! ([`crate::push`]) and stream to their client as rows arrive.

pub mod entity;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value as JsonValue};
use tokio::sync::{mpsc, Notify};
use tokio_stream::wrappers::ReceiverStream;

use crate::ast::SourceKind;
use crate::ast::{DescribeTarget, ParsedStatement, ShowWhat, Statement};
use crate::engine::StatementResult;
use crate::error::SqlError;
use crate::push::{PushConfig, PushQuery};
use crate::result::{header_schema, QueryResult, ResultColumn};
use crate::runtime::SqlRuntime;
use crate::value::Row;
use entity::*;

/// How the REST server behaves.
#[derive(Debug, Clone, Default)]
pub struct RestOptions {
    /// Headless mode (a queries file): statements and queries over REST are refused.
    pub headless: bool,
}

/// The state the REST handlers share: the engine and the running push queries.
pub struct SqlService {
    runtime: Mutex<Option<SqlRuntime>>,
    push_config: PushConfig,
    options: RestOptions,
    /// Push queries by id, for `/close-query`.
    push_queries: Mutex<HashMap<String, Arc<Notify>>>,
    /// `commandId` -> (status, message), for `/status`.
    statuses: Mutex<BTreeMap<String, (String, String)>>,
    sequence: AtomicI64,
}

const HEADLESS: &str = "The server is running in headless mode: it runs only the statements of its queries file. Interactive use is disabled.";

impl SqlService {
    pub fn new(runtime: SqlRuntime, options: RestOptions) -> Arc<SqlService> {
        let c = runtime.config();
        let push_config = PushConfig {
            bootstrap_servers: c.bootstrap_servers.clone(),
            service_id: c.service_id.clone(),
            state_dir: c.state_dir.clone(),
        };
        Arc::new(SqlService {
            runtime: Mutex::new(Some(runtime)),
            push_config,
            options,
            push_queries: Mutex::new(HashMap::new()),
            statuses: Mutex::new(BTreeMap::new()),
            sequence: AtomicI64::new(0),
        })
    }

    /// Runs `f` on the engine (on the calling thread: call from a blocking context).
    pub fn with_runtime<T>(
        &self,
        f: impl FnOnce(&mut SqlRuntime) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let mut guard = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
        let rt = guard
            .as_mut()
            .ok_or_else(|| SqlError::Streams("the server is shutting down".into()))?;
        f(rt)
    }

    /// Stops the push queries and the engine's queries (blocking).
    pub fn shutdown(&self) {
        for (_, stop) in self
            .push_queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            stop.notify_one();
        }
        let rt = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = rt {
            rt.close();
        }
    }

    /// Runs the statements of `sql` one by one, as `POST /ksql` does: the entities, or the
    /// failing statement's error with the entities before it.
    pub fn run_statements(
        &self,
        sql: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<Vec<JsonValue>, (StatusCode, JsonValue)> {
        let statements = crate::parser::parse(sql).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                statement_error(&e.to_string(), sql, &[]),
            )
        })?;
        let mut entities = Vec::new();
        for s in statements {
            match self.run_statement(&s, properties) {
                Ok(Some(e)) => entities.push(e),
                Ok(None) => {}
                Err(e) => {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        statement_error(&e.to_string(), &s.text, &entities),
                    ))
                }
            }
        }
        Ok(entities)
    }

    fn run_statement(
        &self,
        s: &ParsedStatement,
        properties: &BTreeMap<String, String>,
    ) -> Result<Option<JsonValue>, SqlError> {
        let text = s.text.as_str();
        self.with_runtime(|rt| {
            let engine = rt.engine();
            let listing = match &s.statement {
                Statement::Show(ShowWhat::Streams { .. }) => {
                    Some(sources(text, &engine.catalog, SourceKind::Stream))
                }
                Statement::Show(ShowWhat::Tables { .. }) => {
                    Some(sources(text, &engine.catalog, SourceKind::Table))
                }
                Statement::Show(ShowWhat::Queries { .. }) => {
                    Some(queries(text, &engine.queries, &engine.catalog))
                }
                Statement::Show(ShowWhat::Properties) => {
                    let c = rt.config();
                    let mut p: BTreeMap<String, String> = [
                        ("ksql.service.id", c.service_id.clone()),
                        ("ksql.streams.bootstrap.servers", c.bootstrap_servers.clone()),
                        ("ksql.streams.state.dir", c.state_dir.display().to_string()),
                        ("ksql.streams.num.stream.threads", c.num_stream_threads.to_string()),
                        ("ksql.streams.cache.max.bytes.buffering", "10485760".into()),
                        ("ksql.streams.auto.offset.reset", "earliest".into()),
                        ("ksql.query.pull.table.scan.enabled", "true".into()),
                        ("ksql.headless", c.headless.to_string()),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                    p.extend(engine.properties.clone());
                    p.extend(properties.clone());
                    Some(entity::properties(text, &p))
                }
                Statement::Describe {
                    target: DescribeTarget::Source(name),
                    extended,
                } => match engine.catalog.source(&name.name) {
                    Some(src) => {
                        let partitions = engine.catalog.topics.get(&src.topic).copied();
                        Some(source_description(
                            text,
                            src,
                            &engine.catalog,
                            partitions,
                            *extended,
                        ))
                    }
                    None => {
                        return Err(SqlError::at(
                            name.pos,
                            format!("Could not find STREAM/TABLE '{}' in the Metastore", name.name),
                        ))
                    }
                },
                Statement::Query(_) | Statement::Print { .. } => {
                    return Err(SqlError::analysis(
                        None,
                        "The following statement types should be issued to the websocket endpoint '/query':\n\t* PRINT\n\t* SELECT",
                    ))
                }
                _ => None,
            };
            if let Some(l) = listing {
                return Ok(Some(l));
            }
            if let Statement::Show(ShowWhat::Topics { all, .. }) = &s.statement {
                let topics = rt.topics()?;
                return Ok(Some(entity::topics(text, &topics, *all)));
            }
            let before: Vec<String> = rt.engine().queries.iter().map(|q| q.id.clone()).collect();
            let mut results = rt.execute_with(text, properties)?;
            let Some(result) = results.pop() else {
                return Ok(None);
            };
            let message = match &result {
                StatementResult::Message(m) => m.clone(),
                StatementResult::QueryStarted { message, .. } => message.clone(),
                StatementResult::Text(t) => return Ok(Some(entity::text(text, t))),
            };
            // ksqlDB answers these with no entity.
            if matches!(
                s.statement,
                Statement::InsertValues { .. }
                    | Statement::Define { .. }
                    | Statement::Undefine { .. }
            ) {
                return Ok(None);
            }
            let query_id = match &result {
                StatementResult::QueryStarted { id, .. } => Some(id.clone()),
                _ => rt
                    .engine()
                    .queries
                    .iter()
                    .map(|q| q.id.clone())
                    .find(|id| !before.contains(id)),
            };
            let id = statement_command_id(&s.statement);
            let seq = self.sequence.fetch_add(1, Ordering::SeqCst);
            self.statuses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), ("SUCCESS".into(), message.clone()));
            Ok(Some(current_status(
                text,
                &id,
                &message,
                query_id.as_deref(),
                seq,
            )))
        })
    }
}

/// The command id of a statement, as ksqlDB builds it.
fn statement_command_id(s: &Statement) -> String {
    let kind = |k: SourceKind| match k {
        SourceKind::Stream => "stream",
        SourceKind::Table => "table",
    };
    match s {
        Statement::CreateSource(c) => command_id(kind(c.kind), &c.name.name, "create"),
        Statement::CreateAsSelect(c) => command_id(kind(c.kind), &c.name.name, "create"),
        Statement::InsertInto { target, .. } => command_id("stream", &target.name, "create"),
        Statement::Drop { kind: k, name, .. } => command_id(kind(*k), &name.name, "drop"),
        Statement::Terminate { query_id } => {
            format!("terminate/{}/execute", query_id.as_deref().unwrap_or("ALL"))
        }
        Statement::CreateType { name, .. } => command_id("type", name, "create"),
        Statement::DropType { name, .. } => command_id("type", name, "drop"),
        _ => "cluster/`CLUSTER`/execute".into(),
    }
}

/// The routes of the API.
pub fn router(service: Arc<SqlService>) -> Router {
    Router::new()
        .route("/ksql", post(ksql))
        .route("/query", post(query))
        .route("/query-stream", post(query_stream))
        .route("/close-query", post(close_query))
        .route("/inserts-stream", post(inserts_stream))
        .route("/info", get(info))
        .route("/healthcheck", get(healthcheck))
        .route("/status", get(status))
        .route("/status/{kind}/{entity}/{action}", get(status_one))
        .with_state(service)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<SqlService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Commands other servers with the same service id record reach this one within
    // about a second.
    let s = service.clone();
    let tail = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let s = s.clone();
            let r = tokio::task::spawn_blocking(move || s.with_runtime(|rt| rt.catch_up())).await;
            if let Ok(Err(e)) = r {
                tracing::warn!(target: "brook_sql", "cannot read the command topic: {e}");
            }
        }
    });
    let r = axum::serve(listener, router(service))
        .with_graceful_shutdown(shutdown)
        .await;
    tail.abort();
    r
}

struct ApiError(StatusCode, JsonValue);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl ApiError {
    fn bad(message: impl std::fmt::Display, statement: &str) -> ApiError {
        ApiError(
            StatusCode::BAD_REQUEST,
            statement_error(&message.to_string(), statement, &[]),
        )
    }
}

fn headless_check(service: &SqlService) -> Result<(), ApiError> {
    if service.options.headless {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            generic_error(ERROR_FORBIDDEN, HEADLESS),
        ));
    }
    Ok(())
}

/// Parses a JSON body, answering ksqlDB's 400 for a bad one.
fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            generic_error(ERROR_BAD_REQUEST, &format!("Invalid request body: {e}")),
        )
    })
}

/// Request properties as text (ksqlDB accepts numbers and booleans too).
fn text_properties(p: &BTreeMap<String, JsonValue>) -> BTreeMap<String, String> {
    p.iter()
        .map(|(k, v)| {
            let v = match v {
                JsonValue::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[derive(Deserialize)]
struct KsqlRequest {
    ksql: String,
    #[serde(default, rename = "streamsProperties")]
    streams_properties: BTreeMap<String, JsonValue>,
    #[serde(default, rename = "sessionVariables")]
    session_variables: BTreeMap<String, JsonValue>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            generic_error(ERROR_SERVER, &format!("internal error: {e}")),
        )
    })
}

async fn ksql(State(service): State<Arc<SqlService>>, body: Bytes) -> Result<Response, ApiError> {
    headless_check(&service)?;
    let req: KsqlRequest = parse_body(&body)?;
    let props = text_properties(&req.streams_properties);
    let vars = text_properties(&req.session_variables);
    let sql = with_variables(&req.ksql, &vars);
    let s = service.clone();
    match blocking(move || s.run_statements(&sql, &props)).await? {
        Ok(entities) => Ok(Json(JsonValue::Array(entities)).into_response()),
        Err((status, body)) => Err(ApiError(status, body)),
    }
}

/// Session variables: `DEFINE`s that come before the statements.
fn with_variables(sql: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in vars {
        out.push_str(&format!("DEFINE {k} = '{}';\n", v.replace('\'', "''")));
    }
    out.push_str(sql);
    out
}

/// A query to run: pull (answered at once) or push (streamed).
enum Running {
    /// The query id, the rows, and whether the query read a stream (ksqlDB ends those
    /// with "Query Completed").
    Pull(String, QueryResult, bool),
    Push(Box<PushQuery>),
    Print(crate::rest::print::Print),
}

mod print;

/// Starts the single query of `sql` with `properties`.
fn start_query(
    service: &SqlService,
    sql: &str,
    properties: &BTreeMap<String, String>,
) -> Result<Running, SqlError> {
    let mut parsed = crate::parser::parse(sql)?;
    if parsed.len() != 1 {
        return Err(SqlError::analysis(
            None,
            format!("Expected exactly one statement, got {}", parsed.len()),
        ));
    }
    let stmt = parsed.remove(0);
    match &stmt.statement {
        Statement::Query(q) if q.emit.is_some() => {
            let engine = service.with_runtime(|rt| Ok(rt.engine().clone()))?;
            let mut props = engine.properties.clone();
            props.extend(properties.clone());
            let pq = PushQuery::start(&engine, &service.push_config, &stmt.text, &props)?;
            Ok(Running::Push(Box::new(pq)))
        }
        Statement::Query(q) => {
            let source = q.from.source.name.name.clone();
            let id = format!(
                "query_{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0)
            );
            let (r, stream) = service.with_runtime(|rt| {
                let stream = rt
                    .engine()
                    .catalog
                    .source(&source)
                    .is_some_and(|s| s.kind == SourceKind::Stream);
                Ok((rt.pull_with(&stmt.text, properties)?, stream))
            })?;
            Ok(Running::Pull(id, r, stream))
        }
        Statement::Print {
            topic,
            from_beginning,
            interval,
            limit,
        } => Ok(Running::Print(print::Print::start(
            &service.push_config.bootstrap_servers,
            topic,
            *from_beginning || properties_reset_earliest(properties),
            interval.unwrap_or(1),
            *limit,
        )?)),
        _ => Err(SqlError::analysis(
            None,
            "The /query endpoint runs SELECT and PRINT statements; use /ksql for the others",
        )),
    }
}

fn properties_reset_earliest(p: &BTreeMap<String, String>) -> bool {
    crate::push::offset_reset(p).is_ok_and(|r| r == "earliest")
}

/// How rows are written to a client.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// `/query`: `[{"header":...},\n{"row":{"columns":[...]}},\n...{"finalMessage":...}]`.
    Ksql,
    /// `/query-stream`, delimited: a header object line, then one array per line.
    Delimited,
    /// `/query-stream` with `Accept: application/json`: one JSON array.
    JsonArray,
    /// `/query-stream` with `Accept: application/vnd.apache.arrow.stream`.
    Arrow,
}

struct Writer {
    shape: Shape,
    arrow: Option<crate::arrow::ArrowStreamEncoder>,
}

impl Writer {
    fn new(shape: Shape) -> Writer {
        Writer { shape, arrow: None }
    }

    fn header(
        &mut self,
        id: &str,
        columns: &[ResultColumn],
        pull: bool,
    ) -> Result<Bytes, SqlError> {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let text = match self.shape {
            Shape::Ksql => format!(
                "[{}",
                json!({"header": {"queryId": id, "schema": header_schema(columns, pull)}})
            ),
            Shape::Delimited => format!(
                "{}\n",
                json!({"queryId": id, "columnNames": names, "columnTypes": column_types(columns)})
            ),
            Shape::JsonArray => format!(
                "[{}",
                json!({"queryId": id, "columnNames": names, "columnTypes": column_types(columns)})
            ),
            Shape::Arrow => {
                let (enc, bytes) = crate::arrow::ArrowStreamEncoder::new(columns)?;
                self.arrow = Some(enc);
                return Ok(Bytes::from(bytes));
            }
        };
        Ok(Bytes::from(text))
    }

    fn rows(&mut self, rows: &[(Row, bool)]) -> Result<Bytes, SqlError> {
        if self.shape == Shape::Arrow {
            let plain: Vec<Row> = rows.iter().map(|(r, _)| r.clone()).collect();
            let enc = self
                .arrow
                .as_mut()
                .ok_or_else(|| SqlError::Streams("no Arrow header".into()))?;
            return Ok(Bytes::from(enc.batch(&plain)?));
        }
        let mut out = String::new();
        for (row, tombstone) in rows {
            let r = row_json(row);
            match self.shape {
                Shape::Ksql => {
                    out.push_str(",\n");
                    let mut obj = json!({"columns": r});
                    if *tombstone {
                        obj["tombstone"] = json!(true);
                    }
                    out.push_str(&json!({ "row": obj }).to_string());
                }
                Shape::Delimited => {
                    out.push_str(&r.to_string());
                    out.push('\n');
                }
                Shape::JsonArray => {
                    out.push_str(",\n");
                    out.push_str(&r.to_string());
                }
                Shape::Arrow => {}
            }
        }
        Ok(Bytes::from(out))
    }

    fn finish(&mut self, final_message: Option<&str>) -> Result<Bytes, SqlError> {
        let text = match self.shape {
            Shape::Ksql => match final_message {
                Some(m) => format!(",\n{}]\n", json!({ "finalMessage": m })),
                None => "]\n".to_string(),
            },
            Shape::Delimited => String::new(),
            Shape::JsonArray => "]\n".to_string(),
            Shape::Arrow => {
                return match self.arrow.take() {
                    Some(enc) => Ok(Bytes::from(enc.finish()?)),
                    None => Ok(Bytes::new()),
                }
            }
        };
        Ok(Bytes::from(text))
    }
}

#[derive(Deserialize)]
struct QueryRequest {
    #[serde(alias = "sql")]
    ksql: String,
    #[serde(default, rename = "streamsProperties", alias = "properties")]
    properties: BTreeMap<String, JsonValue>,
    #[serde(default, rename = "sessionVariables")]
    session_variables: BTreeMap<String, JsonValue>,
}

async fn query(State(service): State<Arc<SqlService>>, body: Bytes) -> Result<Response, ApiError> {
    run_query(service, body, Shape::Ksql).await
}

async fn query_stream(
    State(service): State<Arc<SqlService>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let shape = if accept.contains("application/vnd.apache.arrow.stream") {
        Shape::Arrow
    } else if accept.contains("application/json") && !accept.contains("delimited") {
        Shape::JsonArray
    } else {
        Shape::Delimited
    };
    run_query(service, body, shape).await
}

type Chunks = mpsc::Sender<Result<Bytes, Infallible>>;

async fn run_query(
    service: Arc<SqlService>,
    body: Bytes,
    shape: Shape,
) -> Result<Response, ApiError> {
    headless_check(&service)?;
    let req: QueryRequest = parse_body(&body)?;
    let props = text_properties(&req.properties);
    let vars = text_properties(&req.session_variables);
    let sql = req.ksql.clone();
    let s = service.clone();
    let running = blocking(move || {
        let sql = if vars.is_empty() {
            sql
        } else {
            // Variables apply to the query only.
            let mut engine_vars = s.with_runtime(|rt| Ok(rt.engine().variables.clone()))?;
            engine_vars.extend(vars);
            crate::parser::substitute_variables(&sql, &engine_vars)?
        };
        start_query(&s, &sql, &props)
    })
    .await?
    .map_err(|e| ApiError::bad(e, &req.ksql))?;
    let content_type = match shape {
        Shape::Ksql | Shape::JsonArray => "application/json",
        Shape::Delimited => "application/vnd.ksqlapi.delimited.v1",
        Shape::Arrow => "application/vnd.apache.arrow.stream",
    };
    let mut writer = Writer::new(shape);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let query_id;
    match running {
        Running::Pull(id, result, stream) => {
            query_id = id.clone();
            let mut chunks = vec![writer.header(&id, &result.columns, true)];
            let rows: Vec<(Row, bool)> = result.rows.into_iter().map(|r| (r, false)).collect();
            chunks.push(writer.rows(&rows));
            chunks.push(writer.finish(stream.then_some("Query Completed")));
            let mut out = Vec::new();
            for c in chunks {
                out.extend_from_slice(&c.map_err(|e| ApiError::bad(e, &req.ksql))?);
            }
            return Ok((
                [
                    (header::CONTENT_TYPE, content_type.to_string()),
                    (header::HeaderName::from_static("x-query-id"), query_id),
                ],
                out,
            )
                .into_response());
        }
        Running::Push(pq) => {
            query_id = pq.id.clone();
            let head = writer
                .header(&pq.id, &pq.columns, false)
                .map_err(|e| ApiError::bad(e, &req.ksql))?;
            let stop = Arc::new(Notify::new());
            service
                .push_queries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pq.id.clone(), stop.clone());
            let _ = tx.send(Ok(head)).await;
            let svc = service.clone();
            tokio::spawn(async move {
                let id = pq.id.clone();
                stream_push(*pq, writer, tx, stop).await;
                svc.push_queries
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            });
        }
        Running::Print(p) => {
            query_id = "print".into();
            tokio::spawn(print::stream(p, tx));
        }
    }
    let body = Body::from_stream(ReceiverStream::new(rx));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::HeaderName::from_static("x-query-id"), query_id),
        ],
        body,
    )
        .into_response())
}

/// Streams a push query's rows to its client until its LIMIT, `/close-query`, or the
/// client going away; then stops the query.
async fn stream_push(mut pq: PushQuery, mut writer: Writer, tx: Chunks, stop: Arc<Notify>) {
    let mut sent: u64 = 0;
    let limit = pq.limit;
    let mut final_message = None;
    if limit == Some(0) {
        final_message = Some("Limit Reached");
    } else {
        loop {
            tokio::select! {
                row = pq.rows.recv() => {
                    let Some(row) = row else {
                        final_message = Some("Query Completed");
                        break;
                    };
                    let mut batch = vec![(row.values, row.tombstone)];
                    // Whatever else is already there goes in the same chunk.
                    while limit.is_none_or(|n| sent + (batch.len() as u64) < n) {
                        match pq.rows.try_recv() {
                            Ok(r) => batch.push((r.values, r.tombstone)),
                            Err(_) => break,
                        }
                    }
                    sent += batch.len() as u64;
                    let Ok(chunk) = writer.rows(&batch) else { break };
                    if tx.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                    if limit.is_some_and(|n| sent >= n) {
                        final_message = Some("Limit Reached");
                        break;
                    }
                }
                _ = stop.notified() => {
                    final_message = Some("Query Completed");
                    break;
                }
                _ = tx.closed() => break,
            }
        }
    }
    if !tx.is_closed() {
        if let Ok(end) = writer.finish(final_message) {
            let _ = tx.send(Ok(end)).await;
        }
    }
    pq.close();
}

#[derive(Deserialize)]
struct CloseRequest {
    #[serde(rename = "queryId")]
    query_id: String,
}

async fn close_query(
    State(service): State<Arc<SqlService>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CloseRequest = parse_body(&body)?;
    let stop = service
        .push_queries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&req.query_id);
    match stop {
        Some(s) => {
            s.notify_one();
            Ok(Json(json!({})).into_response())
        }
        None => Err(ApiError(
            StatusCode::BAD_REQUEST,
            generic_error(
                ERROR_BAD_REQUEST,
                &format!("No query with id {}", req.query_id),
            ),
        )),
    }
}

async fn inserts_stream(
    State(service): State<Arc<SqlService>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    headless_check(&service)?;
    let text = String::from_utf8_lossy(&body);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    #[derive(Deserialize)]
    struct Target {
        target: String,
    }
    let target: Target = serde_json::from_str(first).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            generic_error(
                ERROR_BAD_REQUEST,
                &format!("The first line must be {{\"target\": \"<stream>\"}}: {e}"),
            ),
        )
    })?;
    let rows: Vec<String> = lines.map(str::to_owned).collect();
    let s = service.clone();
    let out = blocking(move || inserts::insert_rows(&s, &target.target, &rows)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.ksqlapi.delimited.v1")],
        out,
    )
        .into_response())
}

mod inserts;

async fn info(State(service): State<Arc<SqlService>>) -> Json<JsonValue> {
    Json(json!({"KsqlServerInfo": {
        "version": env!("CARGO_PKG_VERSION"),
        "kafkaClusterId": "brook",
        "ksqlServiceId": service.push_config.service_id,
        "serverStatus": "RUNNING",
    }}))
}

async fn healthcheck(State(service): State<Arc<SqlService>>) -> Response {
    let s = service.clone();
    let kafka = blocking(move || s.with_runtime(|rt| rt.topics()).is_ok())
        .await
        .unwrap_or(false);
    let body = json!({
        "isHealthy": kafka,
        "details": {
            "metastore": {"isHealthy": true},
            "kafka": {"isHealthy": kafka},
            "commandRunner": {"isHealthy": true},
        },
    });
    let status = if kafka {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn status(State(service): State<Arc<SqlService>>) -> Json<JsonValue> {
    let statuses: serde_json::Map<String, JsonValue> = service
        .statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, (s, _))| (k.clone(), json!(s)))
        .collect();
    Json(json!({ "commandStatuses": statuses }))
}

async fn status_one(
    State(service): State<Arc<SqlService>>,
    Path((kind, entity, action)): Path<(String, String, String)>,
) -> Result<Json<JsonValue>, ApiError> {
    let key = format!("{kind}/{entity}/{action}");
    let statuses = service.statuses.lock().unwrap_or_else(|e| e.into_inner());
    match statuses.get(&key) {
        Some((s, m)) => Ok(Json(json!({"status": s, "message": m}))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            generic_error(ERROR_NOT_FOUND, &format!("Command not found: {key}")),
        )),
    }
}
