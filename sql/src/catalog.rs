//! The catalog: streams, tables, custom types and persistent queries, as statements
//! created them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ast::SourceKind;
use crate::format::FormatSpec;
use crate::types::{Column, Namespace, SqlType};

/// How a windowed source's keys are windowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Tumbling,
    Hopping,
    Session,
}

/// A windowed source's window: kind and, for time windows, the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowInfo {
    pub kind: WindowKind,
    pub size_ms: Option<i64>,
}

/// A stream or a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub topic: String,
    pub key_format: FormatSpec,
    pub value_format: FormatSpec,
    /// Key columns first, then value columns and header columns, in declared order.
    pub columns: Vec<Column>,
    /// `TIMESTAMP='col'` and its `TIMESTAMP_FORMAT`.
    pub timestamp: Option<(String, Option<String>)>,
    pub window: Option<WindowInfo>,
    /// `CREATE SOURCE ...`: read only.
    pub is_source: bool,
    /// The persistent query that writes it, for CSAS/CTAS.
    pub written_by: Option<String>,
    /// The statement that created it.
    pub sql: String,
}

impl Source {
    pub fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| c.namespace == Namespace::Key)
    }

    pub fn value_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| c.namespace == Namespace::Value)
    }

    /// `(name, type)` of the key columns, as formats take them.
    pub fn key_schema(&self) -> Vec<(String, SqlType)> {
        self.key_columns()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect()
    }

    /// `(name, type)` of the value columns, as formats take them.
    pub fn value_schema(&self) -> Vec<(String, SqlType)> {
        self.value_columns()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect()
    }

    /// The schema as ksqlDB prints it: `` `ID` BIGINT KEY, `NAME` STRING ``.
    pub fn schema_text(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "`{}` {}", c.name, c.ty);
            match c.namespace {
                Namespace::Key if self.kind == SourceKind::Table => s.push_str(" PRIMARY KEY"),
                Namespace::Key => s.push_str(" KEY"),
                Namespace::Headers => match &c.header_key {
                    Some(k) => {
                        let _ = write!(s, " HEADER('{k}')");
                    }
                    None => s.push_str(" HEADERS"),
                },
                Namespace::Value => {}
            }
        }
        s
    }
}

/// A running persistent query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryInfo {
    pub id: String,
    pub sql: String,
    pub sink: Option<String>,
    pub sources: Vec<String>,
}

/// Everything the statements created.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub sources: BTreeMap<String, Source>,
    pub types: BTreeMap<String, SqlType>,
    pub queries: BTreeMap<String, QueryInfo>,
    /// Topics known to exist, with their partition counts.
    pub topics: BTreeMap<String, i32>,
}

impl Catalog {
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.get(name)
    }

    /// The sources over `topic`.
    pub fn sources_on_topic<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Source> {
        self.sources.values().filter(move |s| s.topic == topic)
    }

    /// The queries reading `source`.
    pub fn readers_of<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a QueryInfo> {
        self.queries
            .values()
            .filter(move |q| q.sources.iter().any(|s| s == source))
    }
}
