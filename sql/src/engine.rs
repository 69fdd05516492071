//! The engine: runs statements against the catalog. DDL changes the catalog; `CREATE ...
//! AS SELECT` and `INSERT INTO ... SELECT` plan a persistent query (compiled into a
//! topology by [`compile`](crate::compile)); `INSERT INTO ... VALUES` produces a record.
//! The engine itself does no I/O: topics are created in the catalog, and the caller
//! (the conformance runner, or a server with a broker) runs the queries' topologies and
//! writes the produced records.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use crate::ast::{
    self, ColumnConstraint, CreateAsSelect, CreateSource, Literal, ParsedStatement, Properties,
    SourceKind, Statement,
};
use crate::catalog::{Catalog, QueryInfo, Source, WindowInfo, WindowKind};
use crate::compile::{self, ProcessingLog};
use crate::error::{Result, SqlError};
use crate::expr::{self, Context, Scope};
use crate::format::{self, FormatKind, FormatSpec};
use crate::functions::FunctionRegistry;
use crate::parser;
use crate::plan::{Planner, QueryPlan, SinkSpec};
use crate::types::{Column, Namespace, SqlType, ROWTIME};
use crate::value::Value;

/// A persistent query: its id, its statement and its plan.
#[derive(Clone)]
pub struct PersistentQuery {
    pub id: String,
    pub sql: String,
    pub plan: QueryPlan,
    pub sink: String,
}

/// A record produced by `INSERT INTO ... VALUES`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducedRecord {
    pub topic: String,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
}

/// What a statement did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementResult {
    /// A message such as `Stream created`.
    Message(String),
    /// A persistent query was started.
    QueryStarted { id: String, message: String },
    /// A listing (SHOW, DESCRIBE, EXPLAIN, ...), as text.
    Text(String),
}

/// The engine's state. A clone is an independent copy (the server tries a statement on a
/// copy before recording it).
#[derive(Clone)]
pub struct Engine {
    pub catalog: Catalog,
    pub functions: FunctionRegistry,
    /// Properties (`SET`, and the config the engine started with), by ksqlDB name.
    pub properties: BTreeMap<String, String>,
    /// `DEFINE`d variables.
    pub variables: BTreeMap<String, String>,
    /// Persistent queries in creation order.
    pub queries: Vec<PersistentQuery>,
    /// Records produced by `INSERT INTO ... VALUES`, in order.
    pub produced: Vec<ProducedRecord>,
    next_query: u64,
    log: ProcessingLog,
    /// The wall clock for `INSERT ... VALUES` without ROWTIME (fixed in tests).
    pub now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Engine {
    /// An engine with the built-in functions and these properties.
    pub fn new(properties: BTreeMap<String, String>) -> Engine {
        let mut functions = FunctionRegistry::with_builtins();
        // ksqlDB's limits on COLLECT_LIST and COLLECT_SET (1000 by default).
        let limit = |name: &str| {
            properties
                .get(name)
                .and_then(|v| v.trim().parse::<usize>().ok())
        };
        if let Some(n) = limit("ksql.functions.collect_list.limit") {
            functions.register_aggregate(crate::functions::aggregate::collect_list_with_limit(n));
        }
        if let Some(n) = limit("ksql.functions.collect_set.limit") {
            functions.register_aggregate(crate::functions::aggregate::collect_set_with_limit(n));
        }
        Engine {
            catalog: Catalog::default(),
            functions,
            properties,
            variables: BTreeMap::new(),
            queries: Vec::new(),
            produced: Vec::new(),
            next_query: 0,
            log: compile::default_log(),
            now_ms: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
            }),
        }
    }

    /// Where processing errors go.
    pub fn processing_log(&self) -> ProcessingLog {
        self.log.clone()
    }

    /// Sends processing errors (records that do not match their schema, expressions that
    /// failed) to `log` instead of the server log alone.
    pub fn set_processing_log(&mut self, log: ProcessingLog) {
        self.log = log;
    }

    /// Declares that `topic` exists with `partitions` partitions.
    pub fn add_topic(&mut self, topic: &str, partitions: i32) {
        self.catalog
            .topics
            .entry(topic.to_owned())
            .or_insert(partitions);
    }

    /// Runs every statement of `sql`, in order, stopping at the first error. Variables
    /// are substituted statement by statement, so a DEFINE applies to what follows it.
    pub fn execute_sql(&mut self, sql: &str) -> Result<Vec<StatementResult>> {
        let statements = parser::parse(sql)?;
        let mut out = Vec::new();
        for s in statements {
            let s = self.substituted(s)?;
            out.push(self.execute(&s)?);
        }
        Ok(out)
    }

    /// `s` with the `DEFINE`d variables substituted (`${name}`), parsed again.
    pub fn substituted(&self, s: ParsedStatement) -> Result<ParsedStatement> {
        if !s.text.contains("${") {
            return Ok(s);
        }
        let text = parser::substitute_variables(&s.text, &self.variables)?;
        let mut again = parser::parse(&text)?;
        if again.len() != 1 {
            return Err(SqlError::at(
                s.pos,
                "variable substitution changed the number of statements",
            ));
        }
        Ok(again.remove(0))
    }

    /// Runs one statement.
    pub fn execute(&mut self, s: &ParsedStatement) -> Result<StatementResult> {
        match &s.statement {
            Statement::CreateSource(c) => self.create_source(c, &s.text),
            Statement::CreateAsSelect(c) => self.create_as_select(c, &s.text),
            Statement::InsertInto {
                target,
                properties,
                query,
            } => self.insert_into(target, properties, query, &s.text),
            Statement::InsertValues {
                target,
                columns,
                values,
            } => self.insert_values(target, columns.as_deref(), values),
            Statement::Drop {
                kind,
                if_exists,
                name,
                delete_topic,
            } => self.drop_source(*kind, *if_exists, name, *delete_topic),
            Statement::Terminate { query_id } => self.terminate(query_id.as_deref(), s.pos),
            Statement::Set { name, value } => {
                self.properties.insert(name.clone(), value.clone());
                Ok(StatementResult::Message(format!(
                    "Successfully changed local property '{name}' to '{value}'."
                )))
            }
            Statement::Unset { name } => {
                self.properties.remove(name);
                Ok(StatementResult::Message(format!(
                    "Successfully unset local property '{name}'."
                )))
            }
            Statement::Define { name, value } => {
                self.variables.insert(name.clone(), value.clone());
                Ok(StatementResult::Message(String::new()))
            }
            Statement::Undefine { name } => {
                self.variables.remove(name);
                Ok(StatementResult::Message(String::new()))
            }
            Statement::CreateType {
                name,
                ty,
                if_not_exists,
            } => {
                if self.catalog.types.contains_key(name) {
                    if *if_not_exists {
                        return Ok(StatementResult::Message(String::new()));
                    }
                    return Err(SqlError::at(s.pos, format!("Cannot register custom type '{name}' since it is already registered with type: {}", self.catalog.types[name])));
                }
                let t = expr::resolve_type(ty, &self.catalog.types)?;
                self.catalog.types.insert(name.clone(), t);
                Ok(StatementResult::Message(format!(
                    "Registered custom type with name '{name}'"
                )))
            }
            Statement::DropType { name, if_exists } => {
                if self.catalog.types.remove(name).is_none() && !*if_exists {
                    return Err(SqlError::at(s.pos, format!("Type {name} does not exist.")));
                }
                Ok(StatementResult::Message(format!("Dropped type '{name}'")))
            }
            Statement::Query(q) => {
                // Transient queries are planned (so errors are reported) but run by the
                // server.
                let (plan, _) = crate::push::plan_transient(self, q)?;
                Ok(StatementResult::Text(plan.text))
            }
            Statement::Show(w) => Ok(StatementResult::Text(self.show(w))),
            Statement::Describe { target, extended } => self.describe(target, *extended),
            Statement::DescribeFunction { name } => self.describe_function(name, s.pos),
            Statement::Explain(t) => self.explain(t, s.pos),
            Statement::Print { .. } => Err(SqlError::unsupported(
                Some(s.pos),
                "PRINT runs on the server",
            )),
            Statement::RunScript { .. } => Err(SqlError::at(
                s.pos,
                "RUN SCRIPT is a command of the shell (brook sql), not a statement the server runs",
            )),
        }
    }

    fn prop_string(props: &Properties, name: &str) -> Option<String> {
        match props.get(name)? {
            Literal::String(s) => Some(s.clone()),
            Literal::Integer(i) => Some(i.to_string()),
            Literal::Boolean(b) => Some(b.to_string()),
            Literal::Decimal(d) => Some(d.clone()),
            Literal::Double(d) => Some(d.to_string()),
            Literal::Null => None,
        }
    }

    fn check_properties(props: &Properties, allowed: &[&str]) -> Result<()> {
        for (name, (_, pos)) in &props.0 {
            if !allowed.contains(&name.as_str()) {
                return Err(SqlError::at(
                    *pos,
                    format!("Invalid config variable(s) in the WITH clause: {name}"),
                ));
            }
        }
        Ok(())
    }

    /// Key and value formats from a WITH clause, with `defaults` for what it does not say.
    fn formats(
        &self,
        props: &Properties,
        defaults: Option<(&FormatSpec, &FormatSpec)>,
    ) -> Result<(FormatSpec, FormatSpec)> {
        let parse = |name: &str| -> Result<Option<FormatKind>> {
            match Self::prop_string(props, name) {
                Some(f) => FormatKind::parse(&f)
                    .map(Some)
                    .map_err(|m| SqlError::analysis(props.0.get(name).map(|(_, p)| *p), m)),
                None => Ok(None),
            }
        };
        let both = parse("FORMAT")?;
        let key = parse("KEY_FORMAT")?;
        let value = parse("VALUE_FORMAT")?;
        if both.is_some() && (key.is_some() || value.is_some()) {
            return Err(SqlError::analysis(None, "Cannot supply both 'FORMAT' and 'KEY_FORMAT' or 'VALUE_FORMAT' properties, as 'FORMAT' sets both key and value formats."));
        }
        let default_key = self.default_key_format();
        let default_value = self
            .properties
            .get("ksql.persistence.default.format.value")
            .and_then(|f| FormatKind::parse(f).ok());
        let mut key_spec = match (both, key, defaults) {
            (Some(k), _, _) | (None, Some(k), _) => FormatSpec::new(k),
            (None, None, Some((k, _))) => {
                let mut k = k.clone();
                k.wrap_single_value = None;
                k
            }
            (None, None, None) => FormatSpec::new(default_key),
        };
        let mut value_spec = match (both, value, defaults) {
            (Some(v), _, _) | (None, Some(v), _) => FormatSpec::new(v),
            (None, None, Some((_, v))) => {
                let mut v = v.clone();
                v.wrap_single_value = None;
                v
            }
            (None, None, None) => match default_value {
                Some(v) => FormatSpec::new(v),
                None => {
                    return Err(SqlError::analysis(
                        None,
                        "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one or set a default via the 'ksql.persistence.default.format.value' config.",
                    ))
                }
            },
        };
        let delimiter = |name: &str| -> Result<Option<char>> {
            match Self::prop_string(props, name) {
                None => Ok(None),
                Some(d) => format::parse_delimiter(name, &d).map(Some).map_err(|m| {
                    SqlError::analysis(None, format!("Failed to prepare statement: {m}"))
                }),
            }
        };
        if let Some(d) = delimiter("VALUE_DELIMITER")? {
            if value_spec.kind != FormatKind::Delimited {
                return Err(SqlError::analysis(
                    None,
                    "VALUE_DELIMITER can only be used with VALUE_FORMAT='DELIMITED'",
                ));
            }
            value_spec.delimiter = Some(d);
        }
        if let Some(d) = delimiter("KEY_DELIMITER")? {
            if key_spec.kind != FormatKind::Delimited {
                return Err(SqlError::analysis(
                    None,
                    "KEY_DELIMITER can only be used with KEY_FORMAT='DELIMITED'",
                ));
            }
            key_spec.delimiter = Some(d);
        }
        if let Some(w) = props.get("WRAP_SINGLE_VALUE") {
            let b = match w {
                Literal::Boolean(b) => *b,
                Literal::String(s) if s.eq_ignore_ascii_case("true") => true,
                Literal::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => {
                    return Err(SqlError::analysis(
                        None,
                        "WRAP_SINGLE_VALUE must be true or false",
                    ))
                }
            };
            value_spec.wrap_single_value = Some(b);
        }
        Ok((key_spec, value_spec))
    }

    /// `ksql.persistence.wrap.single.values=false` unwraps single-column values that the
    /// statement does not say about.
    fn apply_wrap_default(&self, props: &Properties, value: &mut FormatSpec, value_columns: usize) {
        let unwrap = self
            .properties
            .get("ksql.persistence.wrap.single.values")
            .is_some_and(|w| w.eq_ignore_ascii_case("false"));
        if unwrap
            && value_columns == 1
            && props.get("WRAP_SINGLE_VALUE").is_none()
            && value.wrap_single_value.is_none()
        {
            value.wrap_single_value = Some(false);
        }
    }

    pub(crate) fn new_planner(&self) -> bool {
        self.properties
            .get("ksql.new.query.planner.enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn default_key_format(&self) -> FormatKind {
        self.properties
            .get("ksql.persistence.default.format.key")
            .and_then(|f| FormatKind::parse(f).ok())
            .unwrap_or(FormatKind::Kafka)
    }

    fn check_serdes(key: &FormatSpec, value: &FormatSpec, columns: &[Column]) -> Result<()> {
        let keys: Vec<(String, SqlType)> = columns
            .iter()
            .filter(|c| c.namespace == Namespace::Key)
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        let values: Vec<(String, SqlType)> = columns
            .iter()
            .filter(|c| c.namespace == Namespace::Value)
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        if key.kind.needs_schema_registry() || value.kind.needs_schema_registry() {
            return Err(SqlError::unsupported(
                None,
                format!(
                    "the {} format needs a schema registry",
                    if key.kind.needs_schema_registry() {
                        key.kind.name()
                    } else {
                        value.kind.name()
                    }
                ),
            ));
        }
        if value.wrap_single_value.is_some() && values.len() != 1 {
            return Err(SqlError::analysis(
                None,
                "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas",
            ));
        }
        format::row_serde(key, &keys, true).map_err(|m| SqlError::analysis(None, m))?;
        format::row_serde(value, &values, false).map_err(|m| SqlError::analysis(None, m))?;
        Ok(())
    }

    fn existing(&self, name: &str) -> Option<&Source> {
        self.catalog.source(name)
    }

    fn create_source(&mut self, c: &CreateSource, sql: &str) -> Result<StatementResult> {
        let name = c.name.name.clone();
        let what = match c.kind {
            SourceKind::Stream => "stream",
            SourceKind::Table => "table",
        };
        if let Some(existing) = self.existing(&name) {
            if c.if_not_exists {
                return Ok(StatementResult::Message(format!(
                    "A {what} with the same name already exists"
                )));
            }
            if c.or_replace && c.is_source {
                return Err(SqlError::at(c.name.pos, format!("Cannot add {what} '{name}': CREATE OR REPLACE is not supported on source {what}s.")));
            }
            if !c.or_replace || existing.kind != c.kind || existing.is_source {
                let kind = match existing.kind {
                    SourceKind::Stream => "stream",
                    SourceKind::Table => "table",
                };
                return Err(SqlError::at(
                    c.name.pos,
                    format!(
                        "Cannot add {what} '{name}': A {kind} with the same name already exists"
                    ),
                ));
            }
        }
        if c.or_replace && c.is_source {
            return Err(SqlError::at(c.name.pos, format!("Cannot add {what} '{name}': CREATE OR REPLACE is not supported on source {what}s.")));
        }
        Self::check_properties(
            &c.properties,
            &[
                "KAFKA_TOPIC",
                "KEY_FORMAT",
                "VALUE_FORMAT",
                "FORMAT",
                "PARTITIONS",
                "REPLICAS",
                "TIMESTAMP",
                "TIMESTAMP_FORMAT",
                "WRAP_SINGLE_VALUE",
                "VALUE_DELIMITER",
                "KEY_DELIMITER",
                "WINDOW_TYPE",
                "WINDOW_SIZE",
                "RETENTION_MS",
                "KEY_SCHEMA_ID",
                "VALUE_SCHEMA_ID",
                "KEY_SCHEMA_FULL_NAME",
                "VALUE_SCHEMA_FULL_NAME",
                "VALUE_AVRO_SCHEMA_FULL_NAME",
                "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
                "VALUE_PROTOBUF_NULLABLE_REPRESENTATION",
                "CLEANUP_POLICY",
                "SOURCE_CONNECTOR",
            ],
        )?;
        let topic = Self::prop_string(&c.properties, "KAFKA_TOPIC").ok_or_else(|| {
            SqlError::at(
                c.name.pos,
                format!(
                    "Missing required property \"KAFKA_TOPIC\" for CREATE {}",
                    c.kind
                ),
            )
        })?;
        let (key_format, value_format) = self.formats(&c.properties, None)?;
        if c.elements.is_empty() {
            return Err(SqlError::unsupported(
                Some(c.name.pos),
                "a source without columns needs schema inference from a schema registry",
            ));
        }
        let mut columns = Vec::new();
        let mut seen = BTreeMap::new();
        for e in &c.elements {
            if seen.insert(e.name.name.clone(), ()).is_some() {
                return Err(SqlError::at(
                    e.pos,
                    format!("Duplicate column names: {}", e.name.name),
                ));
            }
            let ty = expr::resolve_type(&e.ty, &self.catalog.types)?;
            if [
                "ROWTIME",
                "ROWPARTITION",
                "ROWOFFSET",
                "WINDOWSTART",
                "WINDOWEND",
            ]
            .contains(&e.name.name.as_str())
            {
                return Err(SqlError::at(
                    e.pos,
                    format!("'{}' is a reserved column name.", e.name.name),
                ));
            }
            let namespace = match (&e.constraint, c.kind) {
                (ColumnConstraint::None, _) => Namespace::Value,
                (ColumnConstraint::Key, SourceKind::Stream) => Namespace::Key,
                (ColumnConstraint::PrimaryKey, SourceKind::Table) => Namespace::Key,
                (ColumnConstraint::Key, SourceKind::Table) => {
                    return Err(SqlError::at(e.pos, format!("Column `{}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.\nTables have PRIMARY KEYs, which are unique and NON NULL.\nStreams have KEYs, which have no uniqueness or NON NULL constraints.", e.name.name)));
                }
                (ColumnConstraint::PrimaryKey, SourceKind::Stream) => {
                    return Err(SqlError::at(e.pos, format!("Column `{}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.\nTables have PRIMARY KEYs, which are unique and NON NULL.\nStreams have KEYs, which have no uniqueness or NON NULL constraints.", e.name.name)));
                }
                (ColumnConstraint::Headers, _) | (ColumnConstraint::Header(_), _) => {
                    Namespace::Headers
                }
            };
            let mut col = Column::new(e.name.name.clone(), ty.clone(), namespace);
            if let ColumnConstraint::Header(k) = &e.constraint {
                if ty != SqlType::Bytes {
                    return Err(SqlError::at(
                        e.pos,
                        format!("Invalid type for HEADER('{k}') column: expected BYTES, got {ty}"),
                    ));
                }
                col.header_key = Some(k.clone());
            }
            if e.constraint == ColumnConstraint::Headers {
                let expected = SqlType::array(SqlType::Struct(vec![
                    ("KEY".into(), SqlType::String),
                    ("VALUE".into(), SqlType::Bytes),
                ]));
                if ty != expected {
                    return Err(SqlError::at(
                        e.pos,
                        format!("Invalid type for HEADERS column: expected {expected}, got {ty}"),
                    ));
                }
            }
            columns.push(col);
        }
        // Key columns first, as ksqlDB orders a schema.
        columns.sort_by_key(|c| match c.namespace {
            Namespace::Key => 0,
            Namespace::Value => 1,
            Namespace::Headers => 2,
        });
        if c.properties.get("WINDOW_TYPE").is_some()
            && !columns.iter().any(|c| c.namespace == Namespace::Key)
        {
            return Err(SqlError::at(
                c.name.pos,
                "Windowed sources require a key column.",
            ));
        }
        if c.kind == SourceKind::Table && !columns.iter().any(|c| c.namespace == Namespace::Key) {
            return Err(SqlError::at(
                c.name.pos,
                "Tables require a PRIMARY KEY. Please define the PRIMARY KEY.",
            ));
        }
        if !columns.iter().any(|c| c.namespace == Namespace::Value)
            && value_format.kind != FormatKind::None
        {
            return Err(SqlError::at(
                c.name.pos,
                "The statement does not define any columns.",
            ));
        }
        let mut value_format = value_format;
        let n_values = columns
            .iter()
            .filter(|c| c.namespace == Namespace::Value)
            .count();
        self.apply_wrap_default(&c.properties, &mut value_format, n_values);
        Self::check_serdes(&key_format, &value_format, &columns)?;
        let window = self.window_info(&c.properties)?;
        let timestamp = self.timestamp_prop(&c.properties, &columns)?;
        // The topic: it must exist, or PARTITIONS says how to create it.
        if !self.catalog.topics.contains_key(&topic) {
            match Self::prop_string(&c.properties, "PARTITIONS") {
                Some(p) => {
                    let n: i32 = p.parse().map_err(|_| {
                        SqlError::analysis(None, format!("Invalid PARTITIONS: {p}"))
                    })?;
                    self.catalog.topics.insert(topic.clone(), n);
                }
                None => {
                    return Err(SqlError::at(
                        c.name.pos,
                        format!("Topic '{topic}' does not exist. If you want to create a new topic for the {what} please re-run the statement providing the required 'PARTITIONS' configuration in the WITH clause (and optionally 'REPLICAS'). For example: CREATE {} {name} (...) WITH (KAFKA_TOPIC='{topic}', PARTITIONS=2, REPLICAS=1, ...);", c.kind),
                    ));
                }
            }
        }
        let source = Source {
            name: name.clone(),
            kind: c.kind,
            topic,
            key_format,
            value_format,
            columns,
            timestamp,
            window,
            is_source: c.is_source,
            written_by: None,
            sql: sql.to_owned(),
        };
        if let Some(existing) = self.existing(&name) {
            // CREATE OR REPLACE: only adding value columns at the end is allowed.
            let ok = source.columns.len() >= existing.columns.len()
                && existing
                    .columns
                    .iter()
                    .zip(&source.columns)
                    .all(|(a, b)| a == b)
                && source.topic == existing.topic;
            if !ok {
                return Err(SqlError::at(c.name.pos, format!("Cannot upgrade data source: {name} - the schema changes are not compatible")));
            }
        }
        self.catalog.sources.insert(name, source);
        Ok(StatementResult::Message(match c.kind {
            SourceKind::Stream => "Stream created".into(),
            SourceKind::Table => "Table created".into(),
        }))
    }

    fn window_info(&self, props: &Properties) -> Result<Option<WindowInfo>> {
        let Some(t) = Self::prop_string(props, "WINDOW_TYPE") else {
            if props.get("WINDOW_SIZE").is_some() {
                return Err(SqlError::analysis(
                    None,
                    "'WINDOW_SIZE' should not be set for SESSION windows.",
                ));
            }
            return Ok(None);
        };
        let kind = match t.to_ascii_uppercase().as_str() {
            "TUMBLING" => WindowKind::Tumbling,
            "HOPPING" => WindowKind::Hopping,
            "SESSION" => WindowKind::Session,
            other => {
                return Err(SqlError::analysis(
                    None,
                    format!("Invalid WINDOW_TYPE: {other}"),
                ))
            }
        };
        let size = match Self::prop_string(props, "WINDOW_SIZE") {
            Some(s) => Some(parse_duration(&s)?),
            None => None,
        };
        match (kind, size) {
            (WindowKind::Session, Some(_)) => Err(SqlError::analysis(
                None,
                "'WINDOW_SIZE' should not be set for SESSION windows.",
            )),
            (WindowKind::Tumbling | WindowKind::Hopping, None) => Err(SqlError::analysis(
                None,
                format!(
                    "'WINDOW_SIZE' must be set for {} windows.",
                    t.to_ascii_uppercase()
                ),
            )),
            _ => Ok(Some(WindowInfo {
                kind,
                size_ms: size,
            })),
        }
    }

    fn timestamp_prop(
        &self,
        props: &Properties,
        columns: &[Column],
    ) -> Result<Option<(String, Option<String>)>> {
        let Some(ts) = Self::prop_string(props, "TIMESTAMP") else {
            if props.get("TIMESTAMP_FORMAT").is_some() {
                return Err(SqlError::analysis(
                    None,
                    "TIMESTAMP_FORMAT requires TIMESTAMP",
                ));
            }
            return Ok(None);
        };
        let name = normalize_ident(&ts);
        let fmt = Self::prop_string(props, "TIMESTAMP_FORMAT");
        let col = columns.iter().find(|c| c.name == name).ok_or_else(|| {
            SqlError::analysis(None, format!("The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'"))
        })?;
        match (&col.ty, &fmt) {
            (SqlType::Bigint | SqlType::Timestamp, None) => {}
            (SqlType::String, Some(_)) => {}
            (SqlType::String, None) => {
                return Err(SqlError::analysis(None, format!("Timestamp column, `{name}`, should be LONG(INT64), TIMESTAMP, or a String with a timestamp_format specified.")))
            }
            (t, _) => {
                return Err(SqlError::analysis(None, format!("Timestamp column, `{name}`, should be LONG(INT64), TIMESTAMP, or a String with a timestamp_format specified. Got {t}")))
            }
        }
        Ok(Some((name, fmt)))
    }

    fn query_id(&mut self, prefix: &str, sink: &str) -> String {
        let n = self.next_query;
        self.next_query += 1;
        if prefix == "INSERTQUERY" {
            format!("INSERTQUERY_{n}")
        } else {
            format!("{prefix}_{sink}_{n}")
        }
    }

    fn create_as_select(&mut self, c: &CreateAsSelect, sql: &str) -> Result<StatementResult> {
        let name = c.name.name.clone();
        let what = match c.kind {
            SourceKind::Stream => "stream",
            SourceKind::Table => "table",
        };
        if let Some(existing) = self.existing(&name) {
            if c.if_not_exists {
                return Ok(StatementResult::Message(format!(
                    "A {what} with the same name already exists"
                )));
            }
            if !c.or_replace {
                let kind = match existing.kind {
                    SourceKind::Stream => "stream",
                    SourceKind::Table => "table",
                };
                return Err(SqlError::at(
                    c.name.pos,
                    format!(
                        "Cannot add {what} '{name}': A {kind} with the same name already exists"
                    ),
                ));
            }
            if existing.is_source {
                return Err(SqlError::at(c.name.pos, format!("Cannot add {what} '{name}': CREATE OR REPLACE is not supported on source {what}s.")));
            }
        }
        Self::check_properties(
            &c.properties,
            &[
                "KAFKA_TOPIC",
                "KEY_FORMAT",
                "VALUE_FORMAT",
                "FORMAT",
                "PARTITIONS",
                "REPLICAS",
                "TIMESTAMP",
                "TIMESTAMP_FORMAT",
                "WRAP_SINGLE_VALUE",
                "VALUE_DELIMITER",
                "KEY_DELIMITER",
                "RETENTION_MS",
                "KEY_SCHEMA_ID",
                "VALUE_SCHEMA_ID",
                "KEY_SCHEMA_FULL_NAME",
                "VALUE_SCHEMA_FULL_NAME",
                "VALUE_AVRO_SCHEMA_FULL_NAME",
                "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
                "VALUE_PROTOBUF_NULLABLE_REPRESENTATION",
            ],
        )?;
        let planner = Planner {
            catalog: &self.catalog,
            functions: &self.functions,
            sink_name: Some(&name),
            keyless_projection: self.new_planner(),
        };
        let mut plan = planner.plan(&c.query, Some(c.kind))?;
        let first = plan.sources[0].source.clone();
        let (mut key_format, value_format) = self.formats(
            &c.properties,
            Some((&first.key_format, &first.value_format)),
        )?;
        let explicit_key_format =
            c.properties.get("KEY_FORMAT").is_some() || c.properties.get("FORMAT").is_some();
        let explicit_key_kind =
            Self::prop_string(&c.properties, "KEY_FORMAT").and_then(|f| FormatKind::parse(&f).ok());
        if plan.key.is_empty()
            && plan.partition_by.is_some()
            && explicit_key_kind.is_some_and(|k| k != FormatKind::None)
        {
            return Err(SqlError::at(
                c.name.pos,
                "Key format specified for stream without key columns.",
            ));
        }
        if key_format.kind == FormatKind::None && !plan.key.is_empty() && !explicit_key_format {
            // A keyless source re-keyed (GROUP BY, PARTITION BY, joins) gets the default
            // key format.
            key_format = FormatSpec::new(self.default_key_format());
        }
        if plan.key.is_empty()
            && c.properties.get("KEY_FORMAT").is_none()
            && c.properties.get("FORMAT").is_none()
            && key_format.kind != FormatKind::None
            && plan.partition_by.is_some()
        {
            key_format = FormatSpec::new(FormatKind::None);
        }
        let topic = Self::prop_string(&c.properties, "KAFKA_TOPIC").unwrap_or_else(|| {
            let prefix = self
                .properties
                .get("ksql.output.topic.name.prefix")
                .cloned()
                .unwrap_or_default();
            format!("{prefix}{name}")
        });
        let columns = plan.output_columns();
        let mut value_format = value_format;
        self.apply_wrap_default(&c.properties, &mut value_format, plan.value.len());
        Self::check_serdes(&key_format, &value_format, &columns)?;
        let timestamp = self.timestamp_prop(&c.properties, &columns)?;
        if let Some((ts, fmt)) = &timestamp {
            let at = |in_key: bool, index: usize| crate::plan::SinkTimestamp {
                in_key,
                index,
                format: fmt.clone(),
            };
            plan.sink_timestamp = match plan.key.iter().position(|k| k.name == *ts) {
                Some(i) => Some(at(true, i)),
                None => plan
                    .value
                    .iter()
                    .position(|v| v.name == *ts)
                    .map(|i| at(false, i)),
            };
        }
        if let Some(existing) = self.existing(&name) {
            let ok = columns.len() >= existing.columns.len()
                && existing.columns.iter().zip(&columns).all(|(a, b)| a == b)
                && existing.kind == plan.kind;
            if !ok {
                return Err(SqlError::at(c.name.pos, format!("Cannot upgrade data source: {name} - the schema changes are not compatible")));
            }
        }
        let partitions = Self::prop_string(&c.properties, "PARTITIONS")
            .and_then(|p| p.parse().ok())
            .or_else(|| self.catalog.topics.get(&first.topic).copied())
            .unwrap_or(1);
        self.catalog
            .topics
            .entry(topic.clone())
            .or_insert(partitions);
        plan.sink = Some(SinkSpec {
            name: name.clone(),
            topic: topic.clone(),
            key_format: key_format.clone(),
            value_format: value_format.clone(),
        });
        let prefix = match c.kind {
            SourceKind::Stream => "CSAS",
            SourceKind::Table => "CTAS",
        };
        // CREATE OR REPLACE keeps the query id.
        let replaced = self.queries.iter().position(|q| q.sink == name);
        let id = match replaced {
            Some(i) => self.queries[i].id.clone(),
            None => self.query_id(prefix, &name),
        };
        // Check the topology builds before anything is created.
        compile::build_topology(&plan, &id, self.log.clone())?;
        let source = Source {
            name: name.clone(),
            kind: plan.kind,
            topic,
            key_format,
            value_format,
            columns,
            timestamp,
            window: plan.window,
            is_source: false,
            written_by: Some(id.clone()),
            sql: sql.to_owned(),
        };
        self.catalog.sources.insert(name.clone(), source);
        let info = QueryInfo {
            id: id.clone(),
            sql: sql.to_owned(),
            sink: Some(name.clone()),
            sources: plan.sources.iter().map(|s| s.source.name.clone()).collect(),
        };
        self.catalog.queries.insert(id.clone(), info);
        let q = PersistentQuery {
            id: id.clone(),
            sql: sql.to_owned(),
            plan,
            sink: name,
        };
        match replaced {
            Some(i) => self.queries[i] = q,
            None => self.queries.push(q),
        }
        Ok(StatementResult::QueryStarted {
            message: format!("Created query with ID {id}"),
            id,
        })
    }

    fn insert_into(
        &mut self,
        target: &ast::Ident,
        properties: &Properties,
        query: &ast::Query,
        sql: &str,
    ) -> Result<StatementResult> {
        let Some(sink) = self.existing(&target.name).cloned() else {
            return Err(SqlError::at(
                target.pos,
                format!("Sink does not exist: {}", target.name),
            ));
        };
        if sink.is_source {
            return Err(SqlError::at(
                target.pos,
                format!(
                    "Cannot insert into read-only {}: {}",
                    sink.kind.to_string().to_lowercase(),
                    sink.name
                ),
            ));
        }
        Self::check_properties(properties, &["QUERY_ID"])?;
        let planner = Planner {
            catalog: &self.catalog,
            functions: &self.functions,
            sink_name: Some(&target.name),
            keyless_projection: self.new_planner(),
        };
        let mut plan = planner.plan(query, None)?;
        if plan.kind != sink.kind {
            return Err(SqlError::at(target.pos, format!("Incompatible data sink and query result. Data sink ({}) type is {} but select query result is {}.", sink.name, sink.kind, plan.kind)));
        }
        if sink.kind == SourceKind::Table {
            return Err(SqlError::at(
                target.pos,
                format!(
                    "INSERT INTO can only be used to insert into a stream. {} is a table.",
                    sink.name
                ),
            ));
        }
        let columns = plan.output_columns();
        let same = columns.len()
            == sink
                .columns
                .iter()
                .filter(|c| c.namespace != Namespace::Headers)
                .count()
            && columns
                .iter()
                .zip(
                    sink.columns
                        .iter()
                        .filter(|c| c.namespace != Namespace::Headers),
                )
                .all(|(a, b)| a.ty == b.ty && a.namespace == b.namespace);
        if !same {
            let fmt = |cols: &[Column]| {
                cols.iter()
                    .map(|c| {
                        format!(
                            "`{}` {}{}",
                            c.name,
                            c.ty,
                            if c.namespace == Namespace::Key {
                                " KEY"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(SqlError::at(
                target.pos,
                format!("Incompatible schema between results and sink.\nResult schema is {}\nSink schema is {}", fmt(&columns), fmt(&sink.columns)),
            ));
        }
        if plan.window.map(|w| w.kind) != sink.window.map(|w| w.kind) {
            return Err(SqlError::at(
                target.pos,
                "Incompatible windowing between results and sink.",
            ));
        }
        plan.sink = Some(SinkSpec {
            name: sink.name.clone(),
            topic: sink.topic.clone(),
            key_format: sink.key_format.clone(),
            value_format: sink.value_format.clone(),
        });
        let id = match Self::prop_string(properties, "QUERY_ID") {
            Some(q) => q.to_ascii_uppercase(),
            None => self.query_id("INSERTQUERY", &sink.name),
        };
        compile::build_topology(&plan, &id, self.log.clone())?;
        self.catalog.queries.insert(
            id.clone(),
            QueryInfo {
                id: id.clone(),
                sql: sql.to_owned(),
                sink: Some(sink.name.clone()),
                sources: plan.sources.iter().map(|s| s.source.name.clone()).collect(),
            },
        );
        self.queries.push(PersistentQuery {
            id: id.clone(),
            sql: sql.to_owned(),
            plan,
            sink: sink.name,
        });
        Ok(StatementResult::QueryStarted {
            message: format!("Created query with ID {id}"),
            id,
        })
    }

    fn insert_values(
        &mut self,
        target: &ast::Ident,
        columns: Option<&[ast::Ident]>,
        values: &[ast::Expr],
    ) -> Result<StatementResult> {
        let Some(sink) = self.existing(&target.name).cloned() else {
            return Err(SqlError::at(
                target.pos,
                format!(
                    "Cannot insert values into an unknown stream/table: {}",
                    target.name
                ),
            ));
        };
        if sink.is_source {
            return Err(SqlError::at(
                target.pos,
                format!(
                    "Cannot insert values into read-only {}: {}",
                    sink.kind.to_string().to_lowercase(),
                    sink.name
                ),
            ));
        }
        let names: Vec<String> = match columns {
            Some(cols) => cols.iter().map(|c| c.name.clone()).collect(),
            None => {
                let mut v: Vec<String> = sink
                    .columns
                    .iter()
                    .filter(|c| c.namespace != Namespace::Headers)
                    .map(|c| c.name.clone())
                    .collect();
                if values.len() == v.len() + 1 {
                    v.insert(0, ROWTIME.to_owned());
                }
                v
            }
        };
        if names.len() != values.len() {
            return Err(SqlError::at(
                target.pos,
                format!(
                    "Expected a value for each column. Expected Columns: [{}]. Got [{}]",
                    names.join(", "),
                    values
                        .iter()
                        .map(crate::plan::display_expr)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let ctx = Context {
            functions: &self.functions,
            types: &self.catalog.types,
        };
        let scope = Scope::default();
        let mut given: BTreeMap<String, Value> = BTreeMap::new();
        for (n, e) in names.iter().zip(values) {
            let compiled = expr::compile(e, &scope, &ctx)?;
            let v = match compiled.constant() {
                Some(v) => v,
                None => compiled.eval(&[]).map_err(|m| SqlError::at(e.pos, m))?,
            };
            let ty = if n == ROWTIME {
                SqlType::Bigint
            } else {
                match sink.columns.iter().find(|c| c.name == *n) {
                    Some(c) => c.ty.clone(),
                    None => {
                        return Err(SqlError::at(
                            e.pos,
                            format!("Column name {n} does not exist."),
                        ))
                    }
                }
            };
            let v = if v.is_null() {
                v
            } else {
                expr::cast(&v, &ty).map_err(|m| {
                    SqlError::at(
                        e.pos,
                        format!("Failed to insert values into '{}'. {m}", sink.name),
                    )
                })?
            };
            given.insert(n.clone(), v);
        }
        let key: Vec<Value> = sink
            .key_columns()
            .map(|c| given.get(&c.name).cloned().unwrap_or(Value::Null))
            .collect();
        let value: Vec<Value> = sink
            .value_columns()
            .map(|c| given.get(&c.name).cloned().unwrap_or(Value::Null))
            .collect();
        let ks = compile::key_serde(&sink.key_format, &sink.key_schema())?;
        let vs = compile::value_serde(&sink.value_format, &sink.value_schema())?;
        let key = ks.serialize(&sink.topic, &key).map_err(|e| {
            SqlError::Record(format!("Failed to insert values into '{}'. {e}", sink.name))
        })?;
        let value = vs.serialize(&sink.topic, &Some(value)).map_err(|e| {
            SqlError::Record(format!("Failed to insert values into '{}'. {e}", sink.name))
        })?;
        let timestamp = match given.get(ROWTIME) {
            Some(v) => v.as_i64().unwrap_or(0),
            None => (self.now_ms)(),
        };
        self.produced.push(ProducedRecord {
            topic: sink.topic.clone(),
            key,
            value,
            timestamp,
        });
        Ok(StatementResult::Message(String::new()))
    }

    fn drop_source(
        &mut self,
        kind: SourceKind,
        if_exists: bool,
        name: &ast::Ident,
        delete_topic: bool,
    ) -> Result<StatementResult> {
        let Some(source) = self.existing(&name.name).cloned() else {
            if if_exists {
                return Ok(StatementResult::Message(format!(
                    "Source `{}` does not exist.",
                    name.name
                )));
            }
            return Err(SqlError::at(
                name.pos,
                format!(
                    "{} {} does not exist.",
                    match kind {
                        SourceKind::Stream => "Stream",
                        SourceKind::Table => "Table",
                    },
                    name.name
                ),
            ));
        };
        if source.kind != kind {
            return Err(SqlError::at(
                name.pos,
                format!(
                    "Incompatible data source type is {}, but statement was DROP {kind}",
                    source.kind
                ),
            ));
        }
        if delete_topic && source.is_source {
            return Err(SqlError::at(
                name.pos,
                format!("Cannot delete topic for read-only source: {}", source.name),
            ));
        }
        let readers: Vec<String> = self
            .catalog
            .readers_of(&source.name)
            .map(|q| q.id.clone())
            .collect();
        if !readers.is_empty() {
            return Err(SqlError::at(
                name.pos,
                format!("Cannot drop {}.\nThe following queries read from this source: [{}].\nThe following queries write into this source: [].\nYou need to terminate them before dropping {}.", source.name, readers.join(", "), source.name),
            ));
        }
        // The query writing it stops with it.
        let writers: Vec<String> = self
            .catalog
            .queries
            .values()
            .filter(|q| q.sink.as_deref() == Some(source.name.as_str()))
            .map(|q| q.id.clone())
            .collect();
        for w in writers {
            self.catalog.queries.remove(&w);
            self.queries.retain(|q| q.id != w);
        }
        self.catalog.sources.remove(&source.name);
        if delete_topic {
            self.catalog.topics.remove(&source.topic);
        }
        Ok(StatementResult::Message(format!(
            "Source `{}` (topic: {}) was dropped.",
            source.name, source.topic
        )))
    }

    fn terminate(&mut self, id: Option<&str>, pos: ast::Pos) -> Result<StatementResult> {
        match id {
            None => {
                self.catalog.queries.clear();
                self.queries.clear();
                Ok(StatementResult::Message("All queries terminated.".into()))
            }
            Some(id) => {
                let id = id.to_ascii_uppercase();
                if self.catalog.queries.remove(&id).is_none() {
                    return Err(SqlError::at(pos, format!("Unknown queryId: {id}")));
                }
                self.queries.retain(|q| q.id != id);
                Ok(StatementResult::Message(format!("Query terminated: {id}")))
            }
        }
    }

    fn show(&self, w: &ast::ShowWhat) -> String {
        let mut s = String::new();
        match w {
            ast::ShowWhat::Streams { .. } | ast::ShowWhat::Tables { .. } => {
                let kind = if matches!(w, ast::ShowWhat::Streams { .. }) {
                    SourceKind::Stream
                } else {
                    SourceKind::Table
                };
                for src in self.catalog.sources.values().filter(|x| x.kind == kind) {
                    let _ = writeln!(
                        s,
                        "{} | {} | {} | {}",
                        src.name,
                        src.topic,
                        src.key_format.kind.name(),
                        src.value_format.kind.name()
                    );
                }
            }
            ast::ShowWhat::Topics { .. } => {
                for (t, p) in &self.catalog.topics {
                    let _ = writeln!(s, "{t} | {p}");
                }
            }
            ast::ShowWhat::Queries { .. } => {
                for q in self.catalog.queries.values() {
                    let _ = writeln!(
                        s,
                        "{} | {} | {}",
                        q.id,
                        q.sink.clone().unwrap_or_default(),
                        q.sql
                    );
                }
            }
            ast::ShowWhat::Properties => {
                for (k, v) in &self.properties {
                    let _ = writeln!(s, "{k} | {v}");
                }
            }
            ast::ShowWhat::Functions => {
                for (n, k) in self.functions.list() {
                    let _ = writeln!(s, "{n} | {k:?}");
                }
            }
            ast::ShowWhat::Types => {
                for (n, t) in &self.catalog.types {
                    let _ = writeln!(s, "{n} | {t}");
                }
            }
            ast::ShowWhat::Variables => {
                for (n, v) in &self.variables {
                    let _ = writeln!(s, "{n} | {v}");
                }
            }
        }
        s
    }

    fn describe(&self, target: &ast::DescribeTarget, extended: bool) -> Result<StatementResult> {
        match target {
            ast::DescribeTarget::Source(name) => {
                let src = self.existing(&name.name).ok_or_else(|| {
                    SqlError::at(
                        name.pos,
                        format!(
                            "Could not find STREAM/TABLE '{}' in the Metastore",
                            name.name
                        ),
                    )
                })?;
                let mut s = String::new();
                let _ = writeln!(s, "Name                 : {}", src.name);
                for c in &src.columns {
                    let _ = writeln!(
                        s,
                        " {:<20} | {}{}",
                        c.name,
                        c.ty,
                        match c.namespace {
                            Namespace::Key if src.kind == SourceKind::Table => " (primary key)",
                            Namespace::Key => " (key)",
                            Namespace::Headers => " (headers)",
                            Namespace::Value => "",
                        }
                    );
                }
                if extended {
                    let _ = writeln!(
                        s,
                        "Type                 : {}\nKafka topic          : {}\nKey format           : {}\nValue format         : {}",
                        src.kind,
                        src.topic,
                        src.key_format.kind.name(),
                        src.value_format.kind.name()
                    );
                    let writers: Vec<&str> = src.written_by.iter().map(String::as_str).collect();
                    let readers: Vec<&str> = self
                        .catalog
                        .readers_of(&src.name)
                        .map(|q| q.id.as_str())
                        .collect();
                    let _ = writeln!(s, "Queries that write   : {}", writers.join(", "));
                    let _ = writeln!(s, "Queries that read    : {}", readers.join(", "));
                }
                Ok(StatementResult::Text(s))
            }
            ast::DescribeTarget::Streams => Ok(StatementResult::Text(
                self.show(&ast::ShowWhat::Streams { extended }),
            )),
            ast::DescribeTarget::Tables => Ok(StatementResult::Text(
                self.show(&ast::ShowWhat::Tables { extended }),
            )),
        }
    }

    fn describe_function(&self, name: &str, pos: ast::Pos) -> Result<StatementResult> {
        let found: Option<(&str, &str, Vec<String>, &str)> =
            if let Some(f) = self.functions.scalar(name) {
                Some((f.name(), f.description(), f.signatures(), "SCALAR"))
            } else if let Some(f) = self.functions.aggregate(name) {
                Some((f.name(), f.description(), f.signatures(), "AGGREGATE"))
            } else {
                self.functions
                    .table(name)
                    .map(|f| (f.name(), f.description(), f.signatures(), "TABLE"))
            };
        let mut s = String::new();
        if let Some((name, description, signatures, kind)) = found {
            let _ = writeln!(
                s,
                "Name        : {name}\nType        : {kind}\n{description}"
            );
            for sig in signatures {
                let _ = writeln!(s, "\tVariation   : {sig}");
            }
        } else {
            return Err(SqlError::at(
                pos,
                format!("Can't find any functions with the name '{name}'"),
            ));
        }
        Ok(StatementResult::Text(s))
    }

    fn explain(&self, t: &ast::ExplainTarget, pos: ast::Pos) -> Result<StatementResult> {
        match t {
            ast::ExplainTarget::QueryId(id) => {
                let id = id.to_ascii_uppercase();
                let q = self.queries.iter().find(|q| q.id == id).ok_or_else(|| SqlError::at(pos, format!("Query with id:{id} does not exist, use SHOW QUERIES to view the full set of queries.")))?;
                let topology = compile::build_topology(&q.plan, &q.id, self.log.clone())?;
                Ok(StatementResult::Text(format!(
                    "ID: {}\nSQL: {}\n\nLogical plan:\n{}\nTopology:\n{}",
                    q.id,
                    q.sql,
                    q.plan.text,
                    topology.describe()
                )))
            }
            ast::ExplainTarget::Statement(s) => {
                let query = match s.as_ref() {
                    Statement::Query(q) => q,
                    Statement::CreateAsSelect(c) => &c.query,
                    Statement::InsertInto { query, .. } => query,
                    _ => return Err(SqlError::at(pos, "EXPLAIN takes a query or a query id")),
                };
                let planner = Planner {
                    catalog: &self.catalog,
                    functions: &self.functions,
                    sink_name: None,
                    keyless_projection: self.new_planner(),
                };
                let plan = planner.plan(query, None)?;
                let topology = compile::build_topology(&plan, "EXPLAIN", self.log.clone())?;
                Ok(StatementResult::Text(format!(
                    "Logical plan:\n{}\nTopology:\n{}",
                    plan.text,
                    topology.describe()
                )))
            }
        }
    }
}

/// An identifier as a property value names it: upper-cased unless quoted.
fn normalize_ident(s: &str) -> String {
    let t = s.trim();
    if t.len() >= 2
        && ((t.starts_with('`') && t.ends_with('`')) || (t.starts_with('"') && t.ends_with('"')))
    {
        t[1..t.len() - 1].to_owned()
    } else {
        t.to_ascii_uppercase()
    }
}

/// `'10 SECONDS'` (a WINDOW_SIZE) in milliseconds.
fn parse_duration(s: &str) -> Result<i64> {
    let mut parts = s.split_whitespace();
    let bad = || SqlError::analysis(None, format!("Invalid WINDOW_SIZE property : '{s}'"));
    let n: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let unit = parts.next().ok_or_else(bad)?.to_ascii_uppercase();
    let ms = match unit.trim_end_matches('S') {
        "MILLISECOND" => 1,
        "SECOND" => 1000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return Err(bad()),
    };
    Ok(n * ms)
}
