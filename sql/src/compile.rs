//! A [`QueryPlan`] compiled into a `brook-streams` topology, with the DSL: sources become
//! streams or tables of rows (`Row` keys and values), and each step of the plan an
//! operator. Records reach and leave the topology in the sources' and sink's formats;
//! between sub-topologies (repartition topics) and in stores, rows use the engine's own
//! encoding (`value::encode_row`).

use std::sync::Arc;
use std::time::Duration;

use brook_streams::serde::SerdeError;
use brook_streams::{
    Consumed, Grouped, JoinWindows, Joined, KStream, KTable, Materialized, Processor,
    ProcessorContext, Produced, Record, Serde, SerdeRef, SessionWindows, StreamJoined,
    StreamsBuilder, TableJoined, TimeWindows, Topology, Windowed, WindowedSerdes,
};
use bytes::Bytes;

use crate::ast::{JoinKind, SourceKind};
use crate::catalog::{Source, WindowInfo, WindowKind};
use crate::error::{Result, SqlError};
use crate::expr::CompiledExpr;
use crate::format::{self, FormatSpec, RowSerde};
use crate::plan::{JoinShape, JoinStep, QueryPlan, SourceStep, WindowSpec};
use crate::types::{Namespace, SqlType};
use crate::value::{decode_row, encode_row, Row, Value};

/// Where expression and record errors go (ksqlDB's processing log).
pub type ProcessingLog = Arc<dyn Fn(&str) + Send + Sync>;

/// Logs to the server log.
pub fn default_log() -> ProcessingLog {
    Arc::new(|m: &str| tracing::warn!(target: "processing_log", "{m}"))
}

// ---- serdes ------------------------------------------------------------------------------

/// A key in a format: a `Row` of the key columns. A null key reads as a row of NULLs; a
/// keyless side reads and writes nothing.
struct KeySerde {
    inner: Arc<dyn RowSerde>,
    width: usize,
}

impl Serde<Row> for KeySerde {
    fn serialize(&self, _topic: &str, data: &Row) -> Result<Option<Bytes>, SerdeError> {
        // No key (an empty row: a null key read, passed on), or a single NULL column, is
        // a null key; several NULL columns computed by the query are a key of NULLs.
        if self.width == 0
            || data.is_empty()
            || (self.width == 1 && data.iter().all(Value::is_null))
        {
            return Ok(None);
        }
        self.inner.serialize(Some(data)).map_err(SerdeError::Custom)
    }

    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Row, SerdeError> {
        if self.width == 0 {
            return Ok(Vec::new());
        }
        // A null key reads as an empty row (the source row pads its key columns with
        // NULLs), so that a query passing the key on writes a null key again.
        match self.inner.deserialize(data).map_err(SerdeError::Custom)? {
            Some(r) => Ok(r),
            None => Ok(Vec::new()),
        }
    }
}

/// A value in a format; `None` is a tombstone.
struct ValueSerde {
    inner: Arc<dyn RowSerde>,
}

impl Serde<Option<Row>> for ValueSerde {
    fn serialize(&self, _topic: &str, data: &Option<Row>) -> Result<Option<Bytes>, SerdeError> {
        self.inner
            .serialize(data.as_deref())
            .map_err(SerdeError::Custom)
    }

    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Row>, SerdeError> {
        self.inner.deserialize(data).map_err(SerdeError::Custom)
    }
}

/// A stream's value in a format (never a tombstone).
struct StreamValueSerde {
    inner: Arc<dyn RowSerde>,
}

impl Serde<Row> for StreamValueSerde {
    fn serialize(&self, _topic: &str, data: &Row) -> Result<Option<Bytes>, SerdeError> {
        if data.is_empty() {
            // A projected null value (see `SourceProcessor`).
            return Ok(None);
        }
        self.inner.serialize(Some(data)).map_err(SerdeError::Custom)
    }

    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Row, SerdeError> {
        match self.inner.deserialize(data).map_err(SerdeError::Custom)? {
            Some(r) => Ok(r),
            None => Err(SerdeError::Custom("a null value".into())),
        }
    }
}

/// Rows in the engine's own encoding (repartition topics, stores).
struct InternalRow;

impl Serde<Row> for InternalRow {
    fn serialize(&self, _topic: &str, data: &Row) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::from(encode_row(data))))
    }

    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Row, SerdeError> {
        match data {
            Some(b) => decode_row(b).map_err(|e| SerdeError::Custom(e.to_string())),
            None => Err(SerdeError::Custom("a null internal row".into())),
        }
    }
}

fn internal() -> SerdeRef<Row> {
    Arc::new(InternalRow)
}

fn schema_of(columns: &[(String, SqlType)]) -> Vec<(String, SqlType)> {
    columns.to_vec()
}

/// The key serde of a format over `columns`.
pub fn key_serde(format: &FormatSpec, columns: &[(String, SqlType)]) -> Result<SerdeRef<Row>> {
    let inner = format::row_serde(format, &schema_of(columns), true)
        .map_err(|m| SqlError::analysis(None, m))?;
    Ok(Arc::new(KeySerde {
        inner,
        width: columns.len(),
    }))
}

/// The value serde of a format over `columns` (tombstones as `None`).
pub fn value_serde(
    format: &FormatSpec,
    columns: &[(String, SqlType)],
) -> Result<SerdeRef<Option<Row>>> {
    let inner = format::row_serde(format, &schema_of(columns), false)
        .map_err(|m| SqlError::analysis(None, m))?;
    Ok(Arc::new(ValueSerde { inner }))
}

fn stream_value_serde(format: &FormatSpec, columns: &[(String, SqlType)]) -> Result<SerdeRef<Row>> {
    let inner = format::row_serde(format, &schema_of(columns), false)
        .map_err(|m| SqlError::analysis(None, m))?;
    Ok(Arc::new(StreamValueSerde { inner }))
}

/// The key serde of a possibly windowed key.
pub fn windowed_key_serde(inner: SerdeRef<Row>, window: &WindowInfo) -> SerdeRef<Windowed<Row>> {
    match (window.kind, window.size_ms) {
        (WindowKind::Session, _) | (_, None) => WindowedSerdes::session_windowed(inner),
        (_, Some(size)) => {
            WindowedSerdes::time_windowed(inner, Duration::from_millis(size.max(0) as u64))
        }
    }
}

// ---- the flows between steps -----------------------------------------------------------

enum Flow {
    Stream(KStream<Row, Row>),
    Table(KTable<Row, Row>),
}

/// Builds a source's row from a record (see `plan` for the layout).
struct SourceRow {
    /// Called once per record read (a query's consumed-records metric).
    on_record: Option<RecordHook>,
    source: Arc<Source>,
    timestamp_col: Option<(usize, TimestampReader)>,
    log: ProcessingLog,
    windowed: bool,
}

impl SourceRow {
    fn row(
        &self,
        key: &Row,
        window: Option<(i64, i64)>,
        value: Row,
        r: &Record<(), ()>,
        partition: i32,
        offset: i64,
    ) -> Row {
        let mut row = Vec::with_capacity(self.source.columns.len() + 5);
        row.extend(key.iter().cloned());
        let key_width = self.source.key_columns().count();
        for _ in key.len()..key_width {
            row.push(Value::Null);
        }
        row.extend(value);
        for c in self
            .source
            .columns
            .iter()
            .filter(|c| c.namespace == Namespace::Headers)
        {
            match &c.header_key {
                Some(k) => {
                    let v = r
                        .headers
                        .iter()
                        .rev()
                        .find(|h| h.key == *k)
                        .and_then(|h| h.value.clone())
                        .map(Value::Bytes)
                        .unwrap_or(Value::Null);
                    row.push(v);
                }
                None => {
                    let items = r
                        .headers
                        .iter()
                        .map(|h| {
                            Value::Struct(vec![
                                ("KEY".into(), Value::String(h.key.clone())),
                                (
                                    "VALUE".into(),
                                    h.value.clone().map(Value::Bytes).unwrap_or(Value::Null),
                                ),
                            ])
                        })
                        .collect();
                    row.push(Value::Array(items));
                }
            }
        }
        row.push(Value::Bigint(r.timestamp));
        row.push(Value::Int(partition));
        row.push(Value::Bigint(offset));
        if let Some((s, e)) = window {
            row.push(Value::Bigint(s));
            row.push(Value::Bigint(e));
        } else if self.windowed {
            row.push(Value::Null);
            row.push(Value::Null);
        }
        row
    }

    /// The record's timestamp from the `TIMESTAMP` column, if the source has one.
    fn timestamp(&self, row: &Row) -> std::result::Result<Option<i64>, String> {
        match &self.timestamp_col {
            Some((i, reader)) => reader.read(row.get(*i)).map(Some),
            None => Ok(None),
        }
    }
}

struct SourceProcessor {
    spec: Arc<SourceRow>,
    table: bool,
    decode: Arc<Decode>,
}

/// How a source's key is read.
enum KeyDecoder {
    Plain(SerdeRef<Row>),
    Windowed(SerdeRef<Windowed<Row>>),
}

/// A source's key and value formats.
struct Decode {
    keys: KeyDecoder,
    values: SerdeRef<Option<Row>>,
}

impl SourceProcessor {
    fn handle(
        &self,
        ctx: &mut ProcessorContext<'_, Row, Option<Row>>,
        key: Row,
        window: Option<(i64, i64)>,
        value: Option<Row>,
        r: Record<(), ()>,
    ) -> brook_streams::Result<()> {
        if let Some(hook) = &self.spec.on_record {
            hook();
        }
        let partition = ctx.partition().unwrap_or(0);
        let offset = ctx.offset().unwrap_or(0);
        if self.table && key.is_empty() && self.spec.source.key_columns().count() > 0 {
            (self.spec.log)(&format!(
                "{}: skipped a record with a null key",
                self.spec.source.name
            ));
            return Ok(());
        }
        let Some(value) = value else {
            if self.table {
                return ctx.forward(Record {
                    key,
                    value: None,
                    timestamp: r.timestamp,
                    headers: r.headers,
                });
            }
            // A stream record without a value: its value columns are NULL and the row is
            // marked (one column past the end), so that projections write a null value
            // and filters, joins and aggregations skip it, as ksqlDB does.
            let width = self.spec.source.value_columns().count();
            let mut row = self.spec.row(
                &key,
                window,
                vec![Value::Null; width],
                &r,
                partition,
                offset,
            );
            row.push(Value::Null);
            return ctx.forward(Record {
                key,
                value: Some(row),
                timestamp: r.timestamp,
                headers: r.headers,
            });
        };
        let row = self.spec.row(&key, window, value, &r, partition, offset);
        let mut ts = r.timestamp;
        match self.spec.timestamp(&row) {
            Ok(Some(t)) => ts = t,
            Ok(None) => {}
            Err(m) => {
                (self.spec.log)(&format!("{}: skipped a record: {m}", self.spec.source.name));
                return Ok(());
            }
        }
        if ts < 0 {
            (self.spec.log)(&format!(
                "{}: skipped a record with a negative timestamp {ts}",
                self.spec.source.name
            ));
            return Ok(());
        }
        let mut row = row;
        if self.spec.timestamp_col.is_some() {
            let rt = self.spec.source.columns.len();
            if let Some(v) = row.get_mut(rt) {
                *v = Value::Bigint(ts);
            }
        }
        ctx.forward(Record {
            key,
            value: Some(row),
            timestamp: ts,
            headers: r.headers,
        })
    }
}

impl Processor<Option<Bytes>, Option<Bytes>, Row, Option<Row>> for SourceProcessor {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Row, Option<Row>>,
        record: Record<Option<Bytes>, Option<Bytes>>,
    ) -> brook_streams::Result<()> {
        let spec = self.spec.clone();
        let topic = spec.source.topic.as_str();
        let skip = |what: &str, e: SerdeError| {
            (self.spec.log)(&format!(
                "{}: skipped a record whose {what} does not match the schema: {e}",
                self.spec.source.name
            ));
        };
        let (key, window) = match &self.decode.keys {
            KeyDecoder::Plain(k) => match k.deserialize(topic, record.key.as_deref()) {
                Ok(k) => (k, None),
                Err(e) => {
                    skip("key", e);
                    return Ok(());
                }
            },
            KeyDecoder::Windowed(k) => match record.key.as_deref() {
                // A windowed source's record without a key has no window either.
                None => (Vec::new(), None),
                Some(bytes) => match k.deserialize(topic, Some(bytes)) {
                    Ok(w) => (w.key, Some((w.window.start(), w.window.end()))),
                    Err(e) => {
                        skip("key", e);
                        return Ok(());
                    }
                },
            },
        };
        let value = match self
            .decode
            .values
            .deserialize(topic, record.value.as_deref())
        {
            Ok(v) => v,
            Err(e) => {
                skip("value", e);
                return Ok(());
            }
        };
        let meta = Record {
            key: (),
            value: (),
            timestamp: record.timestamp,
            headers: record.headers,
        };
        self.handle(ctx, key, window, value, meta)
    }
}

/// Evaluates, sending a failure to the processing log and using NULL, as ksqlDB does.
fn eval(e: &CompiledExpr, row: &[Value], log: &ProcessingLog) -> Value {
    match e.eval(row) {
        Ok(v) => v,
        Err(m) => {
            log(&m);
            Value::Null
        }
    }
}

/// Whether a predicate is TRUE for `row` (NULL and errors are not), without copying the
/// value it looks at.
fn holds(e: &CompiledExpr, row: &[Value], log: &ProcessingLog) -> bool {
    match e.matches(row) {
        Ok(b) => b,
        Err(m) => {
            log(&m);
            false
        }
    }
}

fn source_flow(
    tb: &TopologyBuilder,
    step: &SourceStep,
    log: &ProcessingLog,
    store: &str,
    on_record: Option<RecordHook>,
) -> Result<Flow> {
    let src = &step.source;
    let keys = key_serde(&src.key_format, &src.key_schema())?;
    // Only the value columns the query uses are built.
    let values: SerdeRef<Option<Row>> = Arc::new(ValueSerde {
        inner: format::row_serde_reading(
            &src.value_format,
            &src.value_schema(),
            false,
            Some(&step.used_values),
        )
        .map_err(|m| SqlError::analysis(None, m))?,
    });
    let timestamp_col = match &src.timestamp {
        Some((name, fmt)) => {
            let i = step
                .scope
                .columns
                .iter()
                .position(|c| c.name == *name)
                .ok_or_else(|| SqlError::analysis(None, format!("The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'")))?;
            Some((i, TimestampReader::new(fmt.as_deref())?))
        }
        None => None,
    };
    let spec = Arc::new(SourceRow {
        on_record,
        source: Arc::new(src.clone()),
        timestamp_col,
        log: log.clone(),
        windowed: src.window.is_some(),
    });
    let table = src.kind == SourceKind::Table;
    // The source reads bytes and decodes them here, so that a record that does not match
    // its schema goes to the processing log and is skipped, whatever the deserialization
    // handler says (as in ksqlDB).
    let decode = Decode {
        keys: match &src.window {
            None => KeyDecoder::Plain(keys),
            Some(w) => KeyDecoder::Windowed(windowed_key_serde(keys, w)),
        },
        values,
    };
    let raw = tb.raw_source(&src.topic);
    let decode = Arc::new(decode);
    let rows: KStream<Row, Option<Row>> = raw
        .process(
            move || SourceProcessor {
                spec: spec.clone(),
                table,
                decode: decode.clone(),
            },
            None,
            &[],
        )
        .assume_partitioned();
    if table {
        let t = rows.to_table_with_tombstones(
            Materialized::as_store(store)
                .with_key_serde(internal())
                .with_value_serde(internal()),
        );
        Ok(Flow::Table(t))
    } else {
        Ok(Flow::Stream(rows.flat_map_values(|v: Option<Row>| v)))
    }
}

fn nulls(n: usize) -> Row {
    vec![Value::Null; n]
}

fn concat(l: &Row, r: &Row) -> Row {
    let mut v = Vec::with_capacity(l.len() + r.len());
    v.extend(l.iter().cloned());
    v.extend(r.iter().cloned());
    v
}

/// Re-keys a stream by a join expression, dropping rows whose key is NULL.
fn rekey(s: &KStream<Row, Row>, e: &CompiledExpr, log: &ProcessingLog) -> KStream<Row, Row> {
    let e = e.clone();
    let log = log.clone();
    s.flat_map(move |_k: Row, v: Row| {
        let key = eval(&e, &v, &log);
        if key.is_null() {
            None
        } else {
            Some((vec![key], v))
        }
    })
}

/// Drops the rows of null values (see `SourceProcessor`) from a stream of rows `width`
/// wide.
fn without_null_values(flow: Flow, width: usize) -> Flow {
    match flow {
        Flow::Stream(s) => Flow::Stream(s.filter(move |_k, v: &Row| v.len() <= width)),
        t => t,
    }
}

fn join_flow(
    left: Flow,
    step: &JoinStep,
    right: Flow,
    log: &ProcessingLog,
    query_id: &str,
    n: usize,
) -> Result<Flow> {
    let lw = step.left_width;
    let rw = step.right.scope.columns.len();
    let left = without_null_values(left, lw);
    let right = without_null_values(right, rw);
    let name = format!("{query_id}-Join{n}");
    match (step.shape, left, right) {
        (JoinShape::StreamTable, Flow::Stream(l), Flow::Table(r)) => {
            let l = if step.left_is_key {
                l
            } else {
                rekey(&l, &step.left_expr, log)
            };
            let joined = Joined::with(internal(), internal(), internal()).with_name(&name);
            let s = match step.kind {
                JoinKind::Inner => l.join_table(&r, |a: &Row, b: &Row| concat(a, b), joined),
                _ => l.left_join_table(
                    &r,
                    move |a: &Row, b: Option<&Row>| match b {
                        Some(b) => concat(a, b),
                        None => concat(a, &nulls(rw)),
                    },
                    joined,
                ),
            };
            Ok(Flow::Stream(s))
        }
        (
            JoinShape::StreamStream {
                before_ms,
                after_ms,
                grace_ms,
                eager,
            },
            Flow::Stream(l),
            Flow::Stream(r),
        ) => {
            let l = if step.left_is_key {
                l
            } else {
                rekey(&l, &step.left_expr, log)
            };
            let r = if step.right_is_key {
                r
            } else {
                rekey(&r, &step.right_expr, log)
            };
            let ms = |x: i64| Duration::from_millis(x.max(0) as u64);
            let eagerly = |w: JoinWindows| if eager { w.with_eager_unmatched() } else { w };
            let windows = eagerly(
                JoinWindows::of_time_difference_and_grace(ms(before_ms), ms(grace_ms))
                    .before(ms(before_ms))
                    .after(ms(after_ms)),
            );
            let joined = StreamJoined::with(internal(), internal(), internal())
                .with_name(&name)
                .with_store_name(&name);
            let s = match step.kind {
                JoinKind::Inner => l.join(&r, |a: &Row, b: &Row| concat(a, b), windows, joined),
                JoinKind::Left => l.left_join(
                    &r,
                    move |a: &Row, b: Option<&Row>| match b {
                        Some(b) => concat(a, b),
                        None => concat(a, &nulls(rw)),
                    },
                    windows,
                    joined,
                ),
                JoinKind::Right => {
                    let windows = eagerly(
                        JoinWindows::of_time_difference_and_grace(ms(after_ms), ms(grace_ms))
                            .before(ms(after_ms))
                            .after(ms(before_ms)),
                    );
                    r.left_join(
                        &l,
                        move |b: &Row, a: Option<&Row>| match a {
                            Some(a) => concat(a, b),
                            None => concat(&nulls(lw), b),
                        },
                        windows,
                        joined,
                    )
                }
                JoinKind::Full => l.outer_join(
                    &r,
                    move |a: Option<&Row>, b: Option<&Row>| {
                        let a = a.cloned().unwrap_or_else(|| nulls(lw));
                        let b = b.cloned().unwrap_or_else(|| nulls(rw));
                        concat(&a, &b)
                    },
                    windows,
                    joined,
                ),
            };
            Ok(Flow::Stream(s))
        }
        (JoinShape::TableTable, Flow::Table(l), Flow::Table(r)) => {
            let joined = Joined::with(internal(), internal(), internal()).with_name(&name);
            let m = || {
                Materialized::as_store(&format!("{name}-store"))
                    .with_key_serde(internal())
                    .with_value_serde(internal())
            };
            let t = match step.kind {
                JoinKind::Inner => l.join_with(&r, |a: &Row, b: &Row| concat(a, b), joined, m()),
                JoinKind::Left => l.left_join_with(
                    &r,
                    move |a: &Row, b: Option<&Row>| match b {
                        Some(b) => concat(a, b),
                        None => concat(a, &nulls(rw)),
                    },
                    joined,
                    m(),
                ),
                JoinKind::Right => {
                    let joined = Joined::with(internal(), internal(), internal()).with_name(&name);
                    r.left_join_with(
                        &l,
                        move |b: &Row, a: Option<&Row>| match a {
                            Some(a) => concat(a, b),
                            None => concat(&nulls(lw), b),
                        },
                        joined,
                        m(),
                    )
                }
                JoinKind::Full => l.outer_join_with(
                    &r,
                    move |a: Option<&Row>, b: Option<&Row>| {
                        let a = a.cloned().unwrap_or_else(|| nulls(lw));
                        let b = b.cloned().unwrap_or_else(|| nulls(rw));
                        concat(&a, &b)
                    },
                    joined,
                    m(),
                ),
            };
            Ok(Flow::Table(t))
        }
        (JoinShape::ForeignKey, Flow::Table(l), Flow::Table(r)) => {
            let e = step.left_expr.clone();
            let log2 = log.clone();
            let fk = move |v: &Row| -> Option<Row> {
                let k = eval(&e, v, &log2);
                if k.is_null() {
                    None
                } else {
                    Some(vec![k])
                }
            };
            let m = Materialized::as_store(&format!("{name}-store"))
                .with_key_serde(internal())
                .with_value_serde(internal());
            let t = match step.kind {
                JoinKind::Inner => l.join_foreign_key_with(
                    &r,
                    fk,
                    |a: &Row, b: &Row| concat(a, b),
                    TableJoined::as_name(&name),
                    m,
                ),
                _ => l.left_join_foreign_key_with(
                    &r,
                    fk,
                    move |a: &Row, b: Option<&Row>| match b {
                        Some(b) => concat(a, b),
                        None => concat(a, &nulls(rw)),
                    },
                    TableJoined::as_name(&name),
                    m,
                ),
            };
            Ok(Flow::Table(t))
        }
        _ => Err(SqlError::analysis(
            None,
            "this join of these inputs is not supported",
        )),
    }
}

/// Accumulators of one group: one `Value` per aggregate call.
fn init_accs(plan: &QueryPlan) -> Row {
    plan.aggregate
        .as_ref()
        .map(|a| a.aggregates.iter().map(|c| c.function.initial()).collect())
        .unwrap_or_default()
}

/// A callback run once per record a query reads.
pub type RecordHook = Arc<dyn Fn() + Send + Sync>;

/// Where a transient query's rows go, on the stream thread: the key columns, the value
/// columns (`None`: the table row was deleted) and the window, for windowed results.
pub type TransientSink = Arc<dyn Fn(&Row, Option<&Row>, Option<(i64, i64)>) + Send + Sync>;

/// The topology of `plan` (which writes to `plan.sink`).
pub fn build_topology(plan: &QueryPlan, query_id: &str, log: ProcessingLog) -> Result<Topology> {
    build_topology_with(plan, query_id, log, None)
}

/// [`build_topology`], calling `on_record` for every record the query reads.
pub fn build_topology_with(
    plan: &QueryPlan,
    query_id: &str,
    log: ProcessingLog,
    on_record: Option<RecordHook>,
) -> Result<Topology> {
    let tb = TopologyBuilder::new();
    tb.add(plan, query_id, log, on_record)?;
    tb.build()
}

/// A topic's records as bytes.
type RawStream = KStream<Option<Bytes>, Option<Bytes>>;

/// Several queries in one topology (what a server runs: one runtime for all its
/// queries). Queries reading the same topic share its source node, which reads bytes;
/// each query decodes them in its own format.
pub struct TopologyBuilder {
    b: StreamsBuilder,
    sources: std::cell::RefCell<std::collections::HashMap<String, RawStream>>,
}

impl Default for TopologyBuilder {
    fn default() -> Self {
        TopologyBuilder::new()
    }
}

impl TopologyBuilder {
    pub fn new() -> TopologyBuilder {
        TopologyBuilder {
            b: StreamsBuilder::new(),
            sources: Default::default(),
        }
    }

    /// The source node of `topic`, made once.
    fn raw_source(&self, topic: &str) -> RawStream {
        self.sources
            .borrow_mut()
            .entry(topic.to_owned())
            .or_insert_with(|| {
                self.b.stream::<Option<Bytes>, Option<Bytes>>(
                    &[topic],
                    Consumed::with(
                        brook_streams::Serdes::optional(brook_streams::Serdes::bytes()),
                        brook_streams::Serdes::optional(brook_streams::Serdes::bytes()),
                    ),
                )
            })
            .clone()
    }

    /// Adds the query `plan` (its stores, internal topics and processors are named after
    /// `query_id`), calling `on_record` for every record it reads.
    pub fn add(
        &self,
        plan: &QueryPlan,
        query_id: &str,
        log: ProcessingLog,
        on_record: Option<RecordHook>,
    ) -> Result<()> {
        add_query(self, plan, query_id, log, on_record)
    }

    /// The topology of every query added.
    pub fn build(self) -> Result<Topology> {
        Ok(self.b.build()?)
    }
}

fn add_query(
    tb: &TopologyBuilder,
    plan: &QueryPlan,
    query_id: &str,
    log: ProcessingLog,
    on_record: Option<RecordHook>,
) -> Result<()> {
    let mut flows = Vec::new();
    for (i, s) in plan.sources.iter().enumerate() {
        flows.push(source_flow(
            tb,
            s,
            &log,
            &format!("{query_id}-source-{i}"),
            on_record.clone(),
        )?);
    }
    let mut flows = flows.into_iter();
    let mut flow = flows
        .next()
        .ok_or_else(|| SqlError::analysis(None, "a query needs a source"))?;
    for (n, (step, right)) in plan.joins.iter().zip(flows).enumerate() {
        flow = join_flow(flow, step, right, &log, query_id, n)?;
    }
    let width: usize = plan.sources.iter().map(|s| s.scope.columns.len()).sum();
    if plan.filter.is_some() || !plan.table_functions.is_empty() || plan.aggregate.is_some() {
        flow = without_null_values(flow, width);
    }
    if let Some(f) = &plan.filter {
        let f = f.clone();
        let log = log.clone();
        flow = match flow {
            Flow::Stream(s) => Flow::Stream(s.filter(move |_k, v| holds(&f, v, &log))),
            Flow::Table(t) => Flow::Table(t.filter(move |_k, v| holds(&f, v, &log))),
        };
    }
    if !plan.table_functions.is_empty() {
        let Flow::Stream(s) = flow else {
            return Err(SqlError::analysis(None, "table functions need a stream"));
        };
        let tfs = plan.table_functions.clone();
        let log = log.clone();
        flow = Flow::Stream(s.flat_map_values(move |v: Row| {
            let mut results: Vec<Vec<Value>> = Vec::new();
            for tf in &tfs {
                let args: Vec<Value> = tf.args.iter().map(|a| eval(a, &v, &log)).collect();
                match (tf.function.eval)(&args) {
                    Ok(r) => results.push(r),
                    Err(m) => {
                        log(&m);
                        results.push(Vec::new());
                    }
                }
            }
            let n = results.iter().map(Vec::len).max().unwrap_or(0);
            (0..n)
                .map(|i| {
                    let mut row = v.clone();
                    for r in &results {
                        row.push(r.get(i).cloned().unwrap_or(Value::Null));
                    }
                    row
                })
                .collect::<Vec<_>>()
        }));
    }

    let sink = plan.sink.as_ref();
    let key_cols: Vec<(String, SqlType)> = plan
        .key
        .iter()
        .map(|c| (c.name.clone(), c.ty.clone()))
        .collect();
    let value_cols: Vec<(String, SqlType)> = plan
        .value
        .iter()
        .map(|c| (c.name.clone(), c.ty.clone()))
        .collect();

    if let Some(agg) = &plan.aggregate {
        let group = agg.group_by.clone();
        let log1 = log.clone();
        let grouped_input: KStream<Row, Row>;
        let aggs = Arc::new(agg.aggregates.clone());
        let initial = init_accs(plan);
        let add = {
            let aggs = aggs.clone();
            let log = log.clone();
            move |row: &Row, accs: Row| -> Row {
                accs.into_iter()
                    .zip(aggs.iter())
                    .map(|(acc, call)| {
                        let args: Vec<Value> =
                            call.args.iter().map(|a| eval(a, row, &log)).collect();
                        match call.function.add(acc.clone(), &args) {
                            Ok(v) => v,
                            Err(m) => {
                                log(&m);
                                acc
                            }
                        }
                    })
                    .collect()
            }
        };
        let result_row: ResultRowFn = {
            let aggs = aggs.clone();
            Arc::new(
                move |key: &Row, accs: &Row, window: Option<(i64, i64)>| -> Row {
                    let mut row = key.clone();
                    for (acc, call) in accs.iter().zip(aggs.iter()) {
                        row.push(call.function.result(acc));
                    }
                    if let Some((s, e)) = window {
                        row.push(Value::Bigint(s));
                        row.push(Value::Bigint(e));
                    }
                    row.push(Value::Null); // ROWTIME is filled from the record below
                    row
                },
            )
        };
        // HAVING filters the aggregated table: a group that stops passing is deleted
        // downstream (a tombstone), one that never passed is not written.
        let having: Option<HavingFn> = plan.having.clone().map(|h| {
            let rr = result_row.clone();
            let log = log.clone();
            let f: HavingFn = Arc::new(move |k: &Row, acc: &Row, w: Option<(i64, i64)>| {
                holds(&h, &rr(k, acc, w), &log)
            });
            f
        });
        let project_values: Vec<CompiledExpr> = plan.value.iter().map(|c| c.expr.clone()).collect();
        let log2 = log.clone();
        let finish: FinishFn = Arc::new(move |post: Row| -> Option<Row> {
            Some(
                project_values
                    .iter()
                    .map(|e| eval(e, &post, &log2))
                    .collect(),
            )
        });
        match (flow, agg.window) {
            (Flow::Stream(s), window) => {
                grouped_input = if agg.by_key {
                    // Grouped by the key it has: no repartition; null keys are dropped.
                    s.filter(|k: &Row, _v: &Row| !k.iter().any(Value::is_null))
                } else {
                    s.flat_map(move |_k: Row, v: Row| {
                        let key: Row = group.iter().map(|g| eval(g, &v, &log1)).collect();
                        if key.iter().any(Value::is_null) {
                            None
                        } else {
                            Some((key, v))
                        }
                    })
                };
                let grouped = grouped_input.group_by_key(
                    Grouped::with(internal(), internal()).with_name(&format!("{query_id}-GroupBy")),
                );
                let store = aggregate_store(query_id);
                match window {
                    None => {
                        let init = initial.clone();
                        let add = add.clone();
                        let table = grouped.aggregate(
                            move || init.clone(),
                            move |_k, v: Row, acc: Row| add(&v, acc),
                            Materialized::as_store(&store)
                                .with_key_serde(internal())
                                .with_value_serde(internal()),
                        );
                        finish_aggregate(
                            table,
                            &having,
                            &result_row,
                            &finish,
                            sink,
                            plan,
                            &key_cols,
                            &value_cols,
                        )?;
                    }
                    Some(w) => {
                        let init = initial.clone();
                        let add = add.clone();
                        let ms = |x: i64| Duration::from_millis(x.max(0) as u64);
                        // Without GRACE PERIOD, a window accepts late records for 24 hours
                        // (Kafka Streams' old default, which ksqlDB keeps); EMIT FINAL then
                        // emits when the window ends.
                        let default_grace = if plan.emit_final { 0 } else { 24 * 3600 * 1000 };
                        let materialized = Materialized::as_store(&store)
                            .with_key_serde(internal())
                            .with_value_serde(internal());
                        let table: KTable<Windowed<Row>, Row> = match w {
                            WindowSpec::Tumbling {
                                size_ms, grace_ms, ..
                            } => {
                                let tw = TimeWindows::of_size_and_grace(
                                    ms(size_ms),
                                    ms(grace_ms.unwrap_or(default_grace)),
                                );
                                let mut ws = grouped.windowed_by(tw);
                                if plan.emit_final {
                                    ws = ws
                                        .emit_strategy(brook_streams::EmitStrategy::OnWindowClose);
                                }
                                ws.aggregate(
                                    move || init.clone(),
                                    move |_k, v: Row, acc: Row| add(&v, acc),
                                    materialized,
                                )
                            }
                            WindowSpec::Hopping {
                                size_ms,
                                advance_ms,
                                grace_ms,
                                ..
                            } => {
                                let tw = TimeWindows::of_size_and_grace(
                                    ms(size_ms),
                                    ms(grace_ms.unwrap_or(default_grace)),
                                )
                                .advance_by(ms(advance_ms));
                                let mut ws = grouped.windowed_by(tw);
                                if plan.emit_final {
                                    ws = ws
                                        .emit_strategy(brook_streams::EmitStrategy::OnWindowClose);
                                }
                                ws.aggregate(
                                    move || init.clone(),
                                    move |_k, v: Row, acc: Row| add(&v, acc),
                                    materialized,
                                )
                            }
                            WindowSpec::Session {
                                gap_ms, grace_ms, ..
                            } => {
                                let sw = SessionWindows::with_inactivity_gap_and_grace(
                                    ms(gap_ms),
                                    ms(grace_ms.unwrap_or(default_grace)),
                                );
                                let aggs2 = aggs.clone();
                                let log3 = log.clone();
                                let mut ws = grouped.windowed_by(sw);
                                if plan.emit_final {
                                    ws = ws
                                        .emit_strategy(brook_streams::EmitStrategy::OnWindowClose);
                                }
                                ws.aggregate(
                                    move || init.clone(),
                                    move |_k, v: Row, acc: Row| add(&v, acc),
                                    move |_k, a: Row, b: Row| {
                                        a.into_iter()
                                            .zip(b)
                                            .zip(aggs2.iter())
                                            .map(|((x, y), call)| {
                                                match call.function.merge(x.clone(), y) {
                                                    Ok(v) => v,
                                                    Err(m) => {
                                                        log3(&m);
                                                        x
                                                    }
                                                }
                                            })
                                            .collect()
                                    },
                                    materialized,
                                )
                            }
                        };
                        let table = match &having {
                            Some(h) => {
                                let h = h.clone();
                                table.filter(move |k: &Windowed<Row>, acc: &Row| {
                                    h(&k.key, acc, Some((k.window.start(), k.window.end())))
                                })
                            }
                            None => table,
                        };
                        let finish = finish.clone();
                        let rr = result_row.clone();
                        let out = table.to_stream().process(
                            move || PostAggregate {
                                f: {
                                    let finish = finish.clone();
                                    let rr = rr.clone();
                                    Arc::new(move |k: &Windowed<Row>, acc: &Row| {
                                        finish_row(
                                            &rr,
                                            &finish,
                                            &k.key,
                                            acc,
                                            Some((k.window.start(), k.window.end())),
                                        )
                                    })
                                },
                            },
                            None,
                            &[],
                        );
                        let window = agg.window.map(|w| w.info()).unwrap_or(WindowInfo {
                            kind: WindowKind::Tumbling,
                            size_ms: None,
                        });
                        write_windowed(out, sink, plan, &window, &key_cols, &value_cols)?;
                    }
                }
            }
            (Flow::Table(t), _) => {
                // Rows whose grouping key has a NULL are in no group (a row that moves to a
                // NULL key leaves its old group).
                let t = {
                    let group = group.clone();
                    let log = log.clone();
                    t.filter(move |_k: &Row, v: &Row| {
                        group.iter().all(|g| !eval(g, v, &log).is_null())
                    })
                };
                let group = group.clone();
                let log1 = log.clone();
                let grouped = t.group_by(
                    move |_k: &Row, v: &Row| {
                        let key: Row = group.iter().map(|g| eval(g, v, &log1)).collect();
                        (key, v.clone())
                    },
                    Grouped::with(internal(), internal()).with_name(&format!("{query_id}-GroupBy")),
                );
                let store = aggregate_store(query_id);
                let init = initial.clone();
                let add2 = add.clone();
                let aggs3 = aggs.clone();
                let log3 = log.clone();
                let table = grouped.aggregate(
                    move || init.clone(),
                    move |k: &Row, v: Row, acc: Row| {
                        if k.iter().any(Value::is_null) {
                            return acc;
                        }
                        add2(&v, acc)
                    },
                    move |k: &Row, v: Row, acc: Row| {
                        if k.iter().any(Value::is_null) {
                            return acc;
                        }
                        acc.into_iter()
                            .zip(aggs3.iter())
                            .map(|(a, call)| {
                                let args: Vec<Value> =
                                    call.args.iter().map(|x| eval(x, &v, &log3)).collect();
                                match call.function.undo(a.clone(), &args) {
                                    Some(Ok(v)) => v,
                                    Some(Err(m)) => {
                                        log3(&m);
                                        a
                                    }
                                    None => a,
                                }
                            })
                            .collect()
                    },
                    Materialized::as_store(&store)
                        .with_key_serde(internal())
                        .with_value_serde(internal()),
                );
                finish_aggregate(
                    table,
                    &having,
                    &result_row,
                    &finish,
                    sink,
                    plan,
                    &key_cols,
                    &value_cols,
                )?;
            }
        }
        return Ok(());
    }

    // No aggregation: project.
    let key_exprs: Vec<CompiledExpr> = plan.key.iter().map(|c| c.expr.clone()).collect();
    let tf_width = plan.table_functions.len();
    let value_exprs: Vec<CompiledExpr> = plan.value.iter().map(|c| c.expr.clone()).collect();
    match flow {
        Flow::Stream(s) => {
            let log = log.clone();
            if let (Some(w), Some(sink)) = (&plan.window, sink) {
                // Rows of a windowed source: the key gets its window back, from the row's
                // WINDOWSTART and WINDOWEND.
                let base = plan.sources[0].source.columns.len() + 3;
                let keyed = with_windows(&s, base, &plan.key, &plan.value, width + tf_width, &log);
                let keys = windowed_key_serde(key_serde(&sink.key_format, &key_cols)?, w);
                let values = stream_value_serde(&sink.value_format, &value_cols)?;
                keyed.to(&sink.topic, Produced::with(keys, values));
                return Ok(());
            }
            let null_key = plan.partition_by.is_some() && key_exprs.is_empty();
            let record_key = plan.key_from_record && key_exprs.len() == 1;
            // A query that passes the source's key on writes a null key where it read one.
            let passes_key =
                plan.partition_by.is_none() && plan.joins.is_empty() && !key_exprs.is_empty();
            let out = s.map(move |k: Row, v: Row| {
                let key: Row = if null_key || (passes_key && k.is_empty()) {
                    Vec::new()
                } else if record_key {
                    k
                } else {
                    key_exprs.iter().map(|e| eval(e, &v, &log)).collect()
                };
                let value: Row = if v.len() > width + tf_width {
                    Vec::new()
                } else {
                    value_exprs.iter().map(|e| eval(e, &v, &log)).collect()
                };
                (key, value)
            });
            let out = match plan.limit {
                Some(n) => limit(out, n),
                None => out,
            };
            if let Some(sink) = sink {
                let keys = key_serde(&sink.key_format, &key_cols)?;
                let values = stream_value_serde(&sink.value_format, &value_cols)?;
                let out = with_sink_timestamp(out, plan)?;
                out.to(&sink.topic, Produced::with(keys, values));
            } else if let Some(emit) = plan.emit.clone() {
                out.foreach(move |k, v| emit(k, Some(v), None));
            }
        }
        Flow::Table(t) => {
            let log = log.clone();
            let out = t.map_values(move |_k: &Row, v: &Row| {
                value_exprs
                    .iter()
                    .map(|e| eval(e, v, &log))
                    .collect::<Row>()
            });
            let out = out.to_stream();
            write_table_stream(out, sink, plan, &key_cols, &value_cols)?;
        }
    }
    Ok(())
}

type ResultRowFn = Arc<dyn Fn(&Row, &Row, Option<(i64, i64)>) -> Row + Send + Sync>;
type FinishFn = Arc<dyn Fn(Row) -> Option<Row> + Send + Sync>;
type HavingFn = Arc<dyn Fn(&Row, &Row, Option<(i64, i64)>) -> bool + Send + Sync>;

/// An unwindowed aggregation's table through HAVING and the projection, to the sink.
#[allow(clippy::too_many_arguments)]
fn finish_aggregate(
    table: KTable<Row, Row>,
    having: &Option<HavingFn>,
    result_row: &ResultRowFn,
    finish: &FinishFn,
    sink: Option<&crate::plan::SinkSpec>,
    plan: &QueryPlan,
    key_cols: &[(String, SqlType)],
    value_cols: &[(String, SqlType)],
) -> Result<()> {
    let table = match having {
        Some(h) => {
            let h = h.clone();
            table.filter(move |k: &Row, acc: &Row| h(k, acc, None))
        }
        None => table,
    };
    let (finish, rr) = (finish.clone(), result_row.clone());
    let out = table.to_stream().process(
        move || PostAggregate {
            f: {
                let finish = finish.clone();
                let rr = rr.clone();
                Arc::new(move |k: &Row, acc: &Row| finish_row(&rr, &finish, k, acc, None))
            },
        },
        None,
        &[],
    );
    write_table_stream(out, sink, plan, key_cols, value_cols)
}

fn finish_row(
    rr: &ResultRowFn,
    finish: &FinishFn,
    key: &Row,
    acc: &Row,
    window: Option<(i64, i64)>,
) -> Option<Row> {
    finish(rr(key, acc, window))
}

/// Turns aggregation results into output rows (HAVING, projection); the record's
/// timestamp becomes the row's ROWTIME.
type PostFn<K> = Arc<dyn Fn(&K, &Row) -> Option<Row> + Send + Sync>;

struct PostAggregate<K> {
    f: PostFn<K>,
}

impl<K: brook_streams::Data> Processor<K, Option<Row>, K, Option<Row>> for PostAggregate<K> {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Option<Row>>,
        record: Record<K, Option<Row>>,
    ) -> brook_streams::Result<()> {
        let value = match &record.value {
            Some(acc) => (self.f)(&record.key, acc),
            None => None,
        };
        ctx.forward(Record {
            key: record.key,
            value,
            timestamp: record.timestamp,
            headers: record.headers,
        })
    }
}

fn write_table_stream(
    out: KStream<Row, Option<Row>>,
    sink: Option<&crate::plan::SinkSpec>,
    plan: &QueryPlan,
    key_cols: &[(String, SqlType)],
    value_cols: &[(String, SqlType)],
) -> Result<()> {
    if let Some(sink) = sink {
        let keys = key_serde(&sink.key_format, key_cols)?;
        let values = value_serde(&sink.value_format, value_cols)?;
        let out = with_sink_timestamp(out, plan)?;
        out.to(&sink.topic, Produced::with(keys, values));
    } else if let Some(emit) = plan.emit.clone() {
        out.foreach(move |k, v| emit(k, v.as_ref(), None));
    }
    Ok(())
}

fn write_windowed(
    out: KStream<Windowed<Row>, Option<Row>>,
    sink: Option<&crate::plan::SinkSpec>,
    plan: &QueryPlan,
    window: &WindowInfo,
    key_cols: &[(String, SqlType)],
    value_cols: &[(String, SqlType)],
) -> Result<()> {
    if let Some(sink) = sink {
        let keys = windowed_key_serde(key_serde(&sink.key_format, key_cols)?, window);
        let values = value_serde(&sink.value_format, value_cols)?;
        out.to(&sink.topic, Produced::with(keys, values));
    } else if let Some(emit) = plan.emit.clone() {
        out.foreach(move |k: &Windowed<Row>, v: &Option<Row>| {
            emit(&k.key, v.as_ref(), Some((k.window.start(), k.window.end())))
        });
    }
    Ok(())
}

/// Forwards only the first `n` records.
fn limit(s: KStream<Row, Row>, n: u64) -> KStream<Row, Row> {
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    s.filter(move |_k, _v| seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n)
}

/// Sets each record's timestamp from the sink's `TIMESTAMP` column, if it has one.
fn with_sink_timestamp<V: RowValue>(
    s: KStream<Row, V>,
    plan: &QueryPlan,
) -> Result<KStream<Row, V>> {
    let Some(at) = plan.sink_timestamp.clone() else {
        return Ok(s);
    };
    let reader = TimestampReader::new(at.format.as_deref())?;
    Ok(s.process(
        move || SinkTimestamp {
            at: at.clone(),
            reader: reader.clone(),
        },
        None,
        &[],
    ))
}

/// A sink's value: a row, or a table's optional row.
trait RowValue: brook_streams::Data {
    fn row(&self) -> Option<&Row>;
}

impl RowValue for Row {
    fn row(&self) -> Option<&Row> {
        Some(self)
    }
}

impl RowValue for Option<Row> {
    fn row(&self) -> Option<&Row> {
        self.as_ref()
    }
}

/// Sets each record's timestamp from the sink's `TIMESTAMP` column (ksqlDB drops records
/// whose timestamp is missing or negative; a table's deletions keep theirs).
struct SinkTimestamp {
    at: crate::plan::SinkTimestamp,
    reader: TimestampReader,
}

impl<V: RowValue> Processor<Row, V, Row, V> for SinkTimestamp {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Row, V>,
        mut record: Record<Row, V>,
    ) -> brook_streams::Result<()> {
        let value = if self.at.in_key {
            record.key.get(self.at.index)
        } else {
            match record.value.row() {
                Some(r) => r.get(self.at.index),
                None => return ctx.forward(record),
            }
        };
        match self.reader.read(value) {
            Ok(t) if t >= 0 => {
                record.timestamp = t;
                ctx.forward(record)
            }
            _ => Ok(()),
        }
    }
}

/// Reads a record timestamp from a `TIMESTAMP` column's value: BIGINT or TIMESTAMP as
/// it is, a STRING through its `TIMESTAMP_FORMAT` with the built-in
/// `PARSE_TIMESTAMP(text, format)` (a Java `DateTimeFormatter` pattern, UTC), bound once.
#[derive(Clone)]
struct TimestampReader {
    /// `PARSE_TIMESTAMP` bound to the format, and the format as its second argument.
    parser: Option<(crate::functions::BoundScalar, Value)>,
}

impl TimestampReader {
    fn new(format: Option<&str>) -> Result<TimestampReader> {
        use crate::functions::{Arg, FunctionRegistry};
        let Some(format) = format else {
            return Ok(TimestampReader { parser: None });
        };
        static BUILTINS: std::sync::OnceLock<FunctionRegistry> = std::sync::OnceLock::new();
        let registry = BUILTINS.get_or_init(FunctionRegistry::with_builtins);
        let f = registry
            .scalar("PARSE_TIMESTAMP")
            .ok_or_else(|| SqlError::analysis(None, "PARSE_TIMESTAMP is not registered"))?;
        let format = Value::String(format.to_owned());
        let bound = f
            .bind(&[
                Arg::typed(SqlType::String),
                Arg {
                    ty: Some(SqlType::String),
                    literal: Some(format.clone()),
                },
            ])
            .map_err(|m| SqlError::analysis(None, format!("TIMESTAMP_FORMAT: {m}")))?;
        Ok(TimestampReader {
            parser: Some((bound, format)),
        })
    }

    fn read(&self, value: Option<&Value>) -> std::result::Result<i64, String> {
        match value {
            Some(Value::Bigint(t)) | Some(Value::Timestamp(t)) => Ok(*t),
            Some(Value::Int(t)) => Ok(i64::from(*t)),
            Some(Value::String(s)) => {
                let Some((bound, format)) = &self.parser else {
                    return Err(format!(
                        "a TIMESTAMP column of type STRING needs TIMESTAMP_FORMAT: {s}"
                    ));
                };
                match (bound.eval)(&[Value::String(s.clone()), format.clone()])? {
                    Value::Timestamp(t) | Value::Bigint(t) => Ok(t),
                    other => Err(format!("PARSE_TIMESTAMP gave {other:?}")),
                }
            }
            Some(Value::Null) | None => Err("the timestamp column is null".into()),
            Some(v) => Err(format!("cannot use {v:?} as a timestamp")),
        }
    }
}

/// The row a materialized aggregation holds for `key` (what its table shows): the
/// accumulators' results through HAVING and the projection of `plan`, `None` if HAVING
/// drops it. Pull queries read tables this way, from the aggregation's store.
pub fn materialized_row(
    plan: &QueryPlan,
    key: &Row,
    accs: &Row,
    window: Option<(i64, i64)>,
    timestamp: i64,
    log: &ProcessingLog,
) -> Option<Row> {
    let agg = plan.aggregate.as_ref()?;
    let mut post = key.clone();
    for (acc, call) in accs.iter().zip(agg.aggregates.iter()) {
        post.push(call.function.result(acc));
    }
    if let Some((s, e)) = window {
        post.push(Value::Bigint(s));
        post.push(Value::Bigint(e));
    }
    post.push(Value::Bigint(timestamp));
    if let Some(h) = &plan.having {
        if !holds(h, &post, log) {
            return None;
        }
    }
    Some(
        plan.value
            .iter()
            .map(|c| eval(&c.expr, &post, log))
            .collect(),
    )
}

/// The store an aggregation of query `query_id` keeps its accumulators in.
pub fn aggregate_store(query_id: &str) -> String {
    format!("{query_id}-Aggregate-Materialize")
}

/// The projection of rows of a windowed source, keyed by their windows.
fn with_windows(
    s: &KStream<Row, Row>,
    base: usize,
    key: &[crate::plan::OutputColumn],
    value: &[crate::plan::OutputColumn],
    width: usize,
    log: &ProcessingLog,
) -> KStream<Windowed<Row>, Row> {
    let key: Vec<CompiledExpr> = key.iter().map(|c| c.expr.clone()).collect();
    let value: Vec<CompiledExpr> = value.iter().map(|c| c.expr.clone()).collect();
    let log = log.clone();
    s.map(move |_k: Row, v: Row| {
        let start = v.get(base).and_then(Value::as_i64).unwrap_or(0);
        let end = v.get(base + 1).and_then(Value::as_i64).unwrap_or(start);
        let k: Row = key.iter().map(|e| eval(e, &v, &log)).collect();
        let out: Row = if v.len() > width {
            Vec::new()
        } else {
            value.iter().map(|e| eval(e, &v, &log)).collect()
        };
        (
            Windowed::new(k, brook_streams::Window::new(start, end)),
            out,
        )
    })
}
