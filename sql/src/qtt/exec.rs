//! Running one case: its statements on a fresh engine, each persistent query on its own
//! test driver, and what they wrote.

use std::collections::BTreeMap;

use std::sync::Arc;

use brook_streams::task::DeserializationHandler;
use brook_streams::{Header, Headers, Serdes, StreamsConfig, TopologyTestDriver};
use bytes::Bytes;

use crate::catalog::{Source, WindowKind};
use crate::compile;
use crate::engine::Engine;
use crate::error::SqlError;
use crate::format;

/// A record of a test file (input or expected output), fields as the file gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord {
    pub topic: String,
    pub key: serde_json::Value,
    /// `Null` is a tombstone.
    pub value: serde_json::Value,
    pub timestamp: Option<i64>,
    pub window: Option<TestWindow>,
    /// Header key and value bytes (`None` for a null header value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A windowed key's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestWindow {
    pub start: i64,
    pub end: i64,
    pub session: bool,
}

/// A pre-declared topic of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTopic {
    pub name: String,
    pub partitions: Option<i32>,
}

/// One run of a case, with `{FORMAT}` and `{CONFIG}` already replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecCase {
    pub statements: Vec<String>,
    pub inputs: Vec<TestRecord>,
    /// Engine properties (ksqlDB names), values as strings.
    pub properties: BTreeMap<String, String>,
    pub topics: Vec<TestTopic>,
}

/// A source in the catalog after the run, for a case's `post` checks.
#[derive(Debug, Clone, PartialEq)]
pub struct PostSource {
    pub name: String,
    /// `STREAM` or `TABLE`.
    pub kind: String,
    /// As ksqlDB prints it: `ID BIGINT KEY, NAME STRING`.
    pub schema: String,
    pub key_format: String,
    pub value_format: String,
    pub windowed: bool,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecOutput {
    /// Records written per topic, in order; each field decoded into the JSON a test file
    /// uses for it, by the format of the source over that topic.
    pub records: BTreeMap<String, Vec<TestRecord>>,
    pub sources: Vec<PostSource>,
    /// Topics that exist after the run.
    pub topics: Vec<String>,
}

/// Runs one case. `Err` is the first statement that failed (with its error).
///
/// As ksqlDB's own runner does: the statements run in order on a fresh engine; then each
/// persistent query runs on its own test driver, in creation order, seeing the records
/// `INSERT ... VALUES` produced, then the test inputs of its source topics in listed
/// order, then what earlier queries wrote to its source topics.
pub fn execute(case: &ExecCase) -> Result<ExecOutput, SqlError> {
    let mut properties = case.properties.clone();
    properties
        .entry("ksql.service.id".into())
        .or_insert_with(|| "some.ksql.service.id".into());
    let mut engine = Engine::new(properties);
    engine.now_ms = Arc::new(|| 0);
    for t in &case.topics {
        engine.add_topic(&t.name, t.partitions.unwrap_or(1));
    }
    for r in &case.inputs {
        engine.add_topic(&r.topic, 1);
    }
    // ksqlDB's runner creates the topics its statements name before running them.
    for s in &case.statements {
        for t in named_topics(s) {
            engine.add_topic(&t, 1);
        }
    }
    for s in &case.statements {
        engine.execute_sql(s)?;
    }
    // Every record written, per topic, in order: (key, value, timestamp, headers).
    let mut written: BTreeMap<String, Vec<RawRecord>> = BTreeMap::new();
    for p in &engine.produced {
        written.entry(p.topic.clone()).or_default().push(RawRecord {
            key: p.key.clone(),
            value: p.value.clone(),
            timestamp: p.timestamp,
            headers: Headers::default(),
        });
    }
    // Test inputs, encoded by the format of a source over their topic.
    let mut inputs: Vec<(String, RawRecord)> = Vec::new();
    for r in &case.inputs {
        let (key, value) = encode_input(&engine, r)?;
        let mut headers = Headers::default();
        for (k, v) in &r.headers {
            headers.push(Header {
                key: k.clone(),
                value: v.clone().map(Bytes::from),
            });
        }
        inputs.push((
            r.topic.clone(),
            RawRecord {
                key,
                value,
                timestamp: r.timestamp.unwrap_or(0),
                headers,
            },
        ));
    }
    let config = {
        let mut c = StreamsConfig::new("qtt", "dummy:1234");
        c.deserialization_handler = DeserializationHandler::LogAndContinue;
        c
    };
    for q in &engine.queries {
        let topology = compile::build_topology(&q.plan, &q.id, engine.processing_log())?;
        let topics = q.plan.source_topics();
        let sink_topic = q.plan.sink.as_ref().map(|s| s.topic.clone());
        let driver = TopologyTestDriver::with_config(topology, &config, false, 0)?;
        let out = sink_topic.as_ref().map(|t| {
            driver.create_output_topic(
                t,
                Serdes::optional(Serdes::bytes()),
                Serdes::optional(Serdes::bytes()),
            )
        });
        let mut feed: Vec<(String, RawRecord)> = Vec::new();
        for p in &engine.produced {
            if topics.contains(&p.topic) {
                feed.push((
                    p.topic.clone(),
                    RawRecord {
                        key: p.key.clone(),
                        value: p.value.clone(),
                        timestamp: p.timestamp,
                        headers: Headers::default(),
                    },
                ));
            }
        }
        for (t, r) in &inputs {
            if topics.contains(t) {
                feed.push((t.clone(), r.clone()));
            }
        }
        for t in &topics {
            if let Some(rs) = earlier_outputs(&written, t, &engine) {
                for r in rs {
                    feed.push((t.clone(), r));
                }
            }
        }
        let mut results = Vec::new();
        let drain = |results: &mut Vec<RawRecord>| -> Result<(), SqlError> {
            if let Some(out) = &out {
                for r in out.read_records_to_list()? {
                    results.push(RawRecord {
                        key: r.key,
                        value: r.value,
                        timestamp: r.timestamp,
                        headers: r.headers,
                    });
                }
            }
            Ok(())
        };
        for (t, r) in feed {
            driver.pipe_raw(&t, r.key, r.value, r.timestamp, r.headers)?;
            drain(&mut results)?;
        }
        drain(&mut results)?;
        driver.close()?;
        if let Some(t) = sink_topic {
            written.entry(t).or_default().extend(results);
        }
    }
    let mut output = ExecOutput::default();
    for (topic, records) in &written {
        let decoded = records
            .iter()
            .map(|r| decode_output(&engine, topic, r))
            .collect::<Result<Vec<_>, SqlError>>()?;
        output.records.insert(topic.clone(), decoded);
    }
    for s in engine.catalog.sources.values() {
        output.sources.push(PostSource {
            name: s.name.clone(),
            kind: s.kind.to_string(),
            schema: s
                .schema_text()
                .replace('`', "")
                .replace(" PRIMARY KEY", " KEY"),
            key_format: s.key_format.kind.name().to_owned(),
            value_format: s.value_format.kind.name().to_owned(),
            windowed: s.window.is_some(),
        });
    }
    output.topics = engine.catalog.topics.keys().cloned().collect();
    Ok(output)
}

/// A record as bytes.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Headers,
}

/// The records earlier queries wrote to `topic` (INSERT VALUES records were fed already).
fn earlier_outputs(
    written: &BTreeMap<String, Vec<RawRecord>>,
    topic: &str,
    engine: &Engine,
) -> Option<Vec<RawRecord>> {
    let rs = written.get(topic)?;
    let inserted = engine.produced.iter().filter(|p| p.topic == topic).count();
    Some(rs.iter().skip(inserted).cloned().collect())
}

/// The source whose format reads `topic`: the one a query writes, else the first.
pub fn source_for<'a>(engine: &'a Engine, topic: &'a str) -> Option<&'a Source> {
    let mut all: Vec<&Source> = engine.catalog.sources_on_topic(topic).collect();
    all.sort_by_key(|s| s.written_by.is_none());
    all.into_iter().next()
}

/// A test record's key and value as bytes, in the formats of the source over its topic
/// (a windowed source's key gets its window appended).
pub fn encode_input(
    engine: &Engine,
    r: &TestRecord,
) -> Result<(Option<Bytes>, Option<Bytes>), SqlError> {
    let Some(src) = source_for(engine, &r.topic) else {
        // A topic no source reads: its bytes do not matter.
        let key = match &r.key {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(Bytes::from(s.clone())),
            other => Some(Bytes::from(other.to_string())),
        };
        let value = match &r.value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(Bytes::from(s.clone())),
            other => Some(Bytes::from(other.to_string())),
        };
        return Ok((key, value));
    };
    let key = format::test_value_to_bytes(&src.key_format, &src.key_schema(), true, &r.key)
        .map_err(|m| SqlError::Record(format!("test input key for {}: {m}", r.topic)))?;
    let key = match (&r.window, &src.window) {
        (Some(w), Some(_)) => {
            let inner = key.unwrap_or_default();
            let mut b = inner.to_vec();
            if w.session {
                b.extend_from_slice(&w.end.to_be_bytes());
                b.extend_from_slice(&w.start.to_be_bytes());
            } else {
                b.extend_from_slice(&w.start.to_be_bytes());
            }
            Some(Bytes::from(b))
        }
        _ => key,
    };
    let value =
        format::test_value_to_bytes(&src.value_format, &src.value_schema(), false, &r.value)
            .map_err(|m| SqlError::Record(format!("test input value for {}: {m}", r.topic)))?;
    Ok((key, value))
}

/// A record read from `topic`, decoded into the JSON a test file uses, by the format of
/// the source over that topic.
pub fn decode_output(engine: &Engine, topic: &str, r: &RawRecord) -> Result<TestRecord, SqlError> {
    let headers = r
        .headers
        .iter()
        .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
        .collect();
    let Some(src) = source_for(engine, topic) else {
        return Ok(TestRecord {
            topic: topic.to_owned(),
            key: r
                .key
                .as_ref()
                .map(|k| serde_json::Value::String(String::from_utf8_lossy(k).into_owned()))
                .unwrap_or(serde_json::Value::Null),
            value: r
                .value
                .as_ref()
                .map(|k| serde_json::Value::String(String::from_utf8_lossy(k).into_owned()))
                .unwrap_or(serde_json::Value::Null),
            timestamp: Some(r.timestamp),
            window: None,
            headers,
        });
    };
    let mut window = None;
    let mut key_bytes: Option<Vec<u8>> = r.key.as_ref().map(|k| k.to_vec());
    if let (Some(w), Some(k)) = (&src.window, &r.key) {
        let session = w.kind == WindowKind::Session;
        let n = if session { 16 } else { 8 };
        if k.len() >= n {
            let (inner, suffix) = k.split_at(k.len() - n);
            let be = |b: &[u8]| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[..8]);
                i64::from_be_bytes(a)
            };
            let (start, end) = if session {
                (be(&suffix[8..16]), be(&suffix[..8]))
            } else {
                let s = be(suffix);
                (s, s.saturating_add(w.size_ms.unwrap_or(0)))
            };
            window = Some(TestWindow {
                start,
                end,
                session,
            });
            key_bytes = if inner.is_empty() {
                None
            } else {
                Some(inner.to_vec())
            };
        }
    }
    let key = format::bytes_to_test_value(
        &src.key_format,
        &src.key_schema(),
        true,
        key_bytes.as_deref(),
    )
    .map_err(|m| SqlError::Record(format!("output key on {topic}: {m}")))?;
    let value = format::bytes_to_test_value(
        &src.value_format,
        &src.value_schema(),
        false,
        r.value.as_deref(),
    )
    .map_err(|m| SqlError::Record(format!("output value on {topic}: {m}")))?;
    Ok(TestRecord {
        topic: topic.to_owned(),
        key,
        value,
        timestamp: Some(r.timestamp),
        window,
        headers,
    })
}

/// The topics `KAFKA_TOPIC='...'` properties in `sql` name.
pub fn named_topics(sql: &str) -> Vec<String> {
    let upper = sql.to_ascii_uppercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = upper[from..].find("KAFKA_TOPIC") {
        let rest = &sql[from + i + "KAFKA_TOPIC".len()..];
        let rest = rest.trim_start();
        if let Some(rest) = rest.strip_prefix('=') {
            let rest = rest.trim_start();
            if let Some(rest) = rest.strip_prefix('\'') {
                if let Some(end) = rest.find('\'') {
                    out.push(rest[..end].to_owned());
                }
            }
        }
        from += i + "KAFKA_TOPIC".len();
    }
    out
}
