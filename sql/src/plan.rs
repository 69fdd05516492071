//! The planner: a `SELECT` analysed against the catalog into a [`QueryPlan`], a printable
//! pipeline of steps (sources, joins, filter, table functions, aggregation, partitioning,
//! projection, sink) whose expressions are already type-checked. `compile` turns a plan
//! into a streams topology.
//!
//! Rows between steps are laid out by a [`Scope`]: a source's row is its key columns,
//! value columns and header columns, then `ROWTIME`, `ROWPARTITION`, `ROWOFFSET` (and
//! `WINDOWSTART`, `WINDOWEND` for windowed sources); a join's row is its inputs' rows side
//! by side; an aggregation's row is its grouping values, its aggregate results, then the
//! window bounds and `ROWTIME`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::ast::{self, Expr, ExprKind, JoinKind, Pos, SelectItem, SourceKind, WindowExpr};
use crate::catalog::{Catalog, Source, WindowInfo, WindowKind};
use crate::error::{Result, SqlError};
use crate::expr::{self, CompiledExpr, Context, Scope, ScopeColumn};
use crate::format::FormatSpec;
use crate::functions::{Arg, BoundAggregate, BoundTable, FunctionRegistry};
use crate::types::{
    Column, Namespace, SqlType, ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART,
};

/// A source as a query reads it.
#[derive(Clone)]
pub struct SourceStep {
    pub source: Source,
    /// The name its columns are qualified with (the alias, or the source name).
    pub alias: String,
    /// Its row layout, qualified by `alias`.
    pub scope: Scope,
    /// Which of its value columns the query uses (the others need not be decoded).
    pub used_values: Vec<bool>,
}

/// How two inputs are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinShape {
    /// Stream-stream, within a window.
    StreamStream {
        before_ms: i64,
        after_ms: i64,
        grace_ms: i64,
        /// No `GRACE PERIOD` given: unmatched records get their result at once (ksqlDB's
        /// legacy join semantics).
        eager: bool,
    },
    StreamTable,
    TableTable,
    /// Table-table where the left side's expression is not its key.
    ForeignKey,
}

#[derive(Clone)]
pub struct JoinStep {
    pub kind: JoinKind,
    pub shape: JoinShape,
    pub right: SourceStep,
    /// The left side's join expression, over the left row (all inputs so far).
    pub left_expr: CompiledExpr,
    /// The right side's join expression, over the right source's row.
    pub right_expr: CompiledExpr,
    /// Whether `left_expr` is already the left side's key (no re-keying needed).
    pub left_is_key: bool,
    /// Whether `right_expr` is the right side's key.
    pub right_is_key: bool,
    /// Width of the left row.
    pub left_width: usize,
    pub text: String,
}

#[derive(Clone)]
pub struct AggregateCall {
    pub function: Arc<dyn BoundAggregate>,
    /// Arguments over the input row (literal-only arguments are not evaluated per row).
    pub args: Vec<CompiledExpr>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    Tumbling {
        size_ms: i64,
        grace_ms: Option<i64>,
        retention_ms: Option<i64>,
    },
    Hopping {
        size_ms: i64,
        advance_ms: i64,
        grace_ms: Option<i64>,
        retention_ms: Option<i64>,
    },
    Session {
        gap_ms: i64,
        grace_ms: Option<i64>,
        retention_ms: Option<i64>,
    },
}

impl WindowSpec {
    pub fn info(&self) -> WindowInfo {
        match self {
            WindowSpec::Tumbling { size_ms, .. } => WindowInfo {
                kind: WindowKind::Tumbling,
                size_ms: Some(*size_ms),
            },
            WindowSpec::Hopping { size_ms, .. } => WindowInfo {
                kind: WindowKind::Hopping,
                size_ms: Some(*size_ms),
            },
            WindowSpec::Session { .. } => WindowInfo {
                kind: WindowKind::Session,
                size_ms: None,
            },
        }
    }
}

#[derive(Clone)]
pub struct AggregateStep {
    /// Grouping expressions over the input row.
    pub group_by: Vec<CompiledExpr>,
    pub aggregates: Vec<AggregateCall>,
    pub window: Option<WindowSpec>,
    /// Whether the input is a table (aggregates then undo retracted rows).
    pub input_is_table: bool,
    /// Whether the grouping expressions are the input's key columns, in order: the
    /// records are then grouped where they are, without a repartition topic.
    pub by_key: bool,
    /// The row after aggregation.
    pub scope: Scope,
}

#[derive(Clone)]
pub struct TableFunctionCall {
    pub function: BoundTable,
    pub args: Vec<CompiledExpr>,
}

/// A column the query writes, with the expression that computes it.
#[derive(Clone)]
pub struct OutputColumn {
    pub name: String,
    pub ty: SqlType,
    pub expr: CompiledExpr,
}

/// Where a sink's record timestamps come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkTimestamp {
    /// In the key (else the value), at this index.
    pub in_key: bool,
    pub index: usize,
    /// `TIMESTAMP_FORMAT`, for a STRING column.
    pub format: Option<String>,
}

/// Where the query writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSpec {
    pub name: String,
    pub topic: String,
    pub key_format: FormatSpec,
    pub value_format: FormatSpec,
}

/// A persistent or transient query, planned.
#[derive(Clone)]
pub struct QueryPlan {
    pub sources: Vec<SourceStep>,
    pub joins: Vec<JoinStep>,
    /// `WHERE`, over the joined row.
    pub filter: Option<CompiledExpr>,
    /// Table functions; their results are appended to the row.
    pub table_functions: Vec<TableFunctionCall>,
    pub aggregate: Option<AggregateStep>,
    /// `HAVING`, over the aggregated row.
    pub having: Option<CompiledExpr>,
    /// `PARTITION BY` expressions: the new key.
    pub partition_by: Option<Vec<CompiledExpr>>,
    /// The key columns written (computed from the row before projection).
    pub key: Vec<OutputColumn>,
    /// Whether the record's key is written as it is (joins: the join key, which a
    /// projected column of an outer join's missing side would not give).
    pub key_from_record: bool,
    pub value: Vec<OutputColumn>,
    /// What the query produces.
    pub kind: SourceKind,
    /// The output's window, for windowed aggregations.
    pub window: Option<WindowInfo>,
    pub emit_final: bool,
    pub limit: Option<u64>,
    /// The sink's `TIMESTAMP` column (WITH clause), if it has one.
    pub sink_timestamp: Option<SinkTimestamp>,
    pub sink: Option<SinkSpec>,
    /// The names of the projection's columns in `SELECT` order (`*` expanded): the order
    /// in which a transient query returns them.
    pub select_names: Vec<String>,
    /// Where a transient query (no sink) hands its rows, on the stream thread.
    pub emit: Option<crate::compile::TransientSink>,
    /// The plan as text (EXPLAIN).
    pub text: String,
}

impl QueryPlan {
    /// The topics the query reads.
    pub fn source_topics(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sources
            .iter()
            .map(|s| s.source.topic.clone())
            .collect();
        v.dedup();
        v
    }

    /// The output's columns (key first), as a catalog source would hold them.
    pub fn output_columns(&self) -> Vec<Column> {
        self.key
            .iter()
            .map(|c| Column::new(c.name.clone(), c.ty.clone(), Namespace::Key))
            .chain(
                self.value
                    .iter()
                    .map(|c| Column::new(c.name.clone(), c.ty.clone(), Namespace::Value)),
            )
            .collect()
    }
}

/// The scope of a source's row (see the module docs), qualified by `alias`.
pub fn source_scope(source: &Source, alias: &str) -> Scope {
    let q = Some(alias.to_owned());
    let mut columns: Vec<ScopeColumn> = source
        .key_columns()
        .chain(source.value_columns())
        .chain(
            source
                .columns
                .iter()
                .filter(|c| c.namespace == Namespace::Headers),
        )
        .map(|c| ScopeColumn {
            qualifier: q.clone(),
            name: c.name.clone(),
            ty: c.ty.clone(),
        })
        .collect();
    for (n, t) in [
        (ROWTIME, SqlType::Bigint),
        (ROWPARTITION, SqlType::Int),
        (ROWOFFSET, SqlType::Bigint),
    ] {
        columns.push(ScopeColumn {
            qualifier: q.clone(),
            name: n.to_owned(),
            ty: t,
        });
    }
    if source.window.is_some() {
        for n in [WINDOWSTART, WINDOWEND] {
            columns.push(ScopeColumn {
                qualifier: q.clone(),
                name: n.to_owned(),
                ty: SqlType::Bigint,
            });
        }
    }
    Scope { columns }
}

/// Names that cannot be projected without an alias.
const RESERVED: [&str; 5] = [ROWTIME, ROWPARTITION, ROWOFFSET, WINDOWSTART, WINDOWEND];

/// What the planner needs besides the query.
pub struct Planner<'a> {
    pub catalog: &'a Catalog,
    pub functions: &'a FunctionRegistry,
    /// The sink's name, for messages (`The query used to build `X` ...`).
    pub sink_name: Option<&'a str>,
    /// ksqlDB's new query planner (`ksql.new.query.planner.enabled`): a stream may be
    /// projected without its key, and the result has no key.
    pub keyless_projection: bool,
}

impl Planner<'_> {
    fn ctx(&self) -> Context<'_> {
        Context {
            functions: self.functions,
            types: &self.catalog.types,
        }
    }

    fn step(&self, a: &ast::AliasedSource) -> Result<SourceStep> {
        let source = self
            .catalog
            .source(&a.name.name)
            .ok_or_else(|| SqlError::at(a.name.pos, format!("{} does not exist.", a.name.name)))?;
        let alias = a
            .alias
            .as_ref()
            .map(|i| i.name.clone())
            .unwrap_or_else(|| source.name.clone());
        Ok(SourceStep {
            scope: source_scope(source, &alias),
            used_values: vec![true; source.value_columns().count()],
            source: source.clone(),
            alias,
        })
    }

    /// Plans `query`. `sink_kind` is what a CREATE ... AS asks for (None for INSERT INTO
    /// and transient queries, where the query decides).
    pub fn plan(&self, query: &ast::Query, sink_kind: Option<SourceKind>) -> Result<QueryPlan> {
        // A transient query may aggregate a whole stream without GROUP BY (ksqlDB groups
        // it by a constant, one group that is not shown).
        if self.sink_name.is_none()
            && query.group_by.is_empty()
            && query.select.iter().any(|i| {
                matches!(i, SelectItem::Expr { expr, .. } if contains_aggregate(expr, self.functions))
            })
        {
            let mut grouped = query.clone();
            grouped.group_by = vec![Expr::new(
                ExprKind::Literal(ast::Literal::Integer(1)),
                query.pos,
            )];
            return self.plan(&grouped, sink_kind);
        }
        if let Some(o) = query.order_by.first() {
            return Err(SqlError::at(
                o.expr.pos,
                "ORDER BY is only supported in pull queries (a SELECT without EMIT CHANGES), not in push or persistent queries.",
            ));
        }
        let mut text = String::new();
        let first = self.step(&query.from.source)?;
        if self.sink_name.is_some()
            && first.source.kind == SourceKind::Table
            && first.source.window.is_some()
        {
            return Err(SqlError::at(
                query.from.source.name.pos,
                "KSQL does not support persistent queries on windowed tables.",
            ));
        }
        let _ = writeln!(
            text,
            "Source {} ({} on topic {})",
            first.alias, first.source.kind, first.source.topic
        );
        let mut scope = first.scope.clone();
        let mut input_kind = first.source.kind;
        let mut sources = vec![first];
        let mut joins = Vec::new();
        for j in &query.from.joins {
            let right = self.step(&j.right)?;
            if let Some(s) = sources.iter().find(|s| s.source.name == right.source.name) {
                return Err(SqlError::at(
                    j.right.name.pos,
                    format!(
                        "Can not join '{}' to '{}': self joins are not yet supported.",
                        s.source.name, right.source.name
                    ),
                ));
            }
            if sources.iter().any(|s| s.alias == right.alias) {
                return Err(SqlError::at(
                    j.right.name.pos,
                    format!(
                        "Can not join '{}' to '{}': self joins require a different alias",
                        right.alias, right.alias
                    ),
                ));
            }
            let step = self.plan_join(j, &scope, input_kind, &sources, right.clone())?;
            let _ = writeln!(text, "Join {}", step.text);
            input_kind = match step.shape {
                JoinShape::StreamStream { .. } | JoinShape::StreamTable => SourceKind::Stream,
                JoinShape::TableTable | JoinShape::ForeignKey => SourceKind::Table,
            };
            scope.columns.extend(right.scope.columns.iter().cloned());
            joins.push(step);
            sources.push(right);
        }
        let single = sources.len() == 1;
        let ctx = self.ctx();

        let filter = match &query.where_ {
            Some(w) => {
                check_no_aggregates(w, self.functions, "WHERE")?;
                let e = expr::compile(w, &scope, &ctx)
                    .map_err(|e| prefix_error(e, "Error in WHERE expression: "))?;
                expect_boolean(&e, w.pos, "WHERE")?;
                let _ = writeln!(text, "Filter {}", display_expr(w));
                Some(e)
            }
            None => None,
        };

        // Names a generated `KSQL_COL_n` must not take.
        let taken: std::collections::BTreeSet<String> = sources
            .iter()
            .flat_map(|s| s.source.columns.iter().map(|c| c.name.clone()))
            .chain(query.select.iter().filter_map(|i| match i {
                SelectItem::Expr { alias: Some(a), .. } => Some(a.name.clone()),
                _ => None,
            }))
            .collect();
        // Expand `*` and name the projection.
        let mut items: Vec<(Expr, String, bool)> = Vec::new(); // expr, name, was star
        let mut auto = 0usize;
        for item in &query.select {
            match item {
                SelectItem::Star { qualifier, pos } => {
                    let mut any = false;
                    for s in &sources {
                        if let Some(q) = qualifier {
                            if q.name != s.alias {
                                continue;
                            }
                        }
                        any = true;
                        // Under PARTITION BY, the old key columns move after the value
                        // columns (they become value columns).
                        let mut cols: Vec<&Column> = s.source.columns.iter().collect();
                        if !query.partition_by.is_empty() {
                            cols.sort_by_key(|c| c.namespace == Namespace::Key);
                        }
                        // A transient query on a windowed source shows each row's
                        // window after the key, as ksqlDB does.
                        let window_after_key = self.sink_name.is_none()
                            && single
                            && s.source.window.is_some()
                            && query.partition_by.is_empty();
                        let keys = cols
                            .iter()
                            .filter(|c| c.namespace == Namespace::Key)
                            .count();
                        for (i, c) in cols.iter().enumerate() {
                            if window_after_key && i == keys {
                                for w in [WINDOWSTART, WINDOWEND] {
                                    let e = Expr::new(
                                        ExprKind::Column {
                                            qualifier: Some(ast::Ident::new(s.alias.clone())),
                                            name: ast::Ident::new(w.to_owned()),
                                        },
                                        *pos,
                                    );
                                    items.push((e, w.to_owned(), true));
                                }
                            }
                            let name = if single {
                                c.name.clone()
                            } else {
                                format!("{}_{}", s.alias, c.name)
                            };
                            let e = Expr::new(
                                ExprKind::Column {
                                    qualifier: Some(ast::Ident::new(s.alias.clone())),
                                    name: ast::Ident::new(c.name.clone()),
                                },
                                *pos,
                            );
                            items.push((e, name, true));
                        }
                    }
                    if !any {
                        let q = qualifier
                            .as_ref()
                            .map(|q| q.name.clone())
                            .unwrap_or_default();
                        return Err(SqlError::at(
                            *pos,
                            format!("'{q}' is not a valid stream/table name or alias."),
                        ));
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let name = match alias {
                        Some(a) => a.name.clone(),
                        None => match default_name(expr) {
                            // In a join, a column whose name more than one source has
                            // is named after its source: `L_ID`.
                            Some(n) if !single && matches!(expr.kind, ExprKind::Column { .. }) => {
                                let ExprKind::Column { qualifier, name } = &expr.kind else {
                                    unreachable!()
                                };
                                let owners: Vec<&SourceStep> = sources
                                    .iter()
                                    .filter(|s| s.scope.columns.iter().any(|c| c.name == name.name))
                                    .collect();
                                let shared = owners.len() > 1;
                                match qualifier {
                                    Some(q) if shared => format!("{}_{}", q.name, n),
                                    _ => n,
                                }
                            }
                            Some(n) => n,
                            None => {
                                // Generated names skip those the sources or the
                                // projection's aliases already use.
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
                    // A transient query may select the pseudo-columns by name.
                    if alias.is_none() && self.sink_name.is_some() {
                        if let ExprKind::Column { name, .. } = &expr.kind {
                            if RESERVED.contains(&name.name.as_str()) {
                                return Err(SqlError::at(
                                    expr.pos,
                                    format!(
                                        "Reserved column name in select: `{}`. Please remove or alias the column.",
                                        name.name
                                    ),
                                ));
                            }
                        }
                    }
                    items.push((expr.clone(), name, false));
                }
            }
        } // Output columns cannot take the pseudo-columns' names (in a sink).
        for (e, n, _) in &items {
            if self.sink_name.is_some() && RESERVED.contains(&n.as_str()) {
                return Err(SqlError::at(
                    e.pos,
                    format!(
                        "Reserved column name in select: `{n}`. Please remove or alias the column."
                    ),
                ));
            }
        }
        let select_names: Vec<String> = items.iter().map(|(_, n, _)| n.clone()).collect();
        // KAFKA values hold one primitive: no grouping or joining on them.
        for (what, applies) in [
            ("GROUP BY", !query.group_by.is_empty()),
            ("JOIN", !query.from.joins.is_empty()),
        ] {
            if !applies {
                continue;
            }
            let kafka: Vec<&str> = sources
                .iter()
                .filter(|s| s.source.value_format.kind == crate::format::FormatKind::Kafka)
                .map(|s| s.source.name.as_str())
                .collect();
            if !kafka.is_empty() {
                return Err(SqlError::at(
                    query.pos,
                    format!("Source(s) {} are using the 'KAFKA' value format. This format does not yet support {what}.", kafka.join(", ")),
                ));
            }
        }
        // Duplicate output names.
        {
            let mut seen = BTreeMap::new();
            for (e, n, _) in &items {
                if seen.insert(n.clone(), e.pos).is_some() {
                    return Err(SqlError::at(
                        e.pos,
                        format!("Duplicate column name in projection: `{n}`. Use an alias to rename it."),
                    ));
                }
            }
        }

        // Table functions in the projection: evaluated after the filter, their results
        // appended to the row.
        let mut table_functions = Vec::new();
        let mut tf_exprs: Vec<Expr> = Vec::new();
        for (e, _, _) in items.iter_mut() {
            *e = extract_table_functions(e, self.functions, &mut tf_exprs);
        }
        for (i, call) in tf_exprs.iter().enumerate() {
            let ExprKind::Function { name, args, .. } = &call.kind else {
                continue;
            };
            let udtf = self
                .functions
                .table(&name.name)
                .ok_or_else(|| SqlError::at(call.pos, "not a table function"))?;
            let compiled: Vec<CompiledExpr> = args
                .iter()
                .map(|a| expr::compile(a, &scope, &ctx))
                .collect::<Result<_>>()?;
            let bind_args: Vec<Arg> = compiled
                .iter()
                .map(|c| Arg {
                    ty: c.ty.clone(),
                    literal: c.constant(),
                })
                .collect();
            let bound = udtf
                .bind(&bind_args)
                .map_err(|m| SqlError::at(call.pos, m))?;
            let _ = writeln!(text, "FlatMap {}", display_expr(call));
            scope.columns.push(ScopeColumn {
                qualifier: None,
                name: tf_column(i),
                ty: bound.return_type.clone(),
            });
            table_functions.push(TableFunctionCall {
                function: bound,
                args: compiled,
            });
        }
        if !table_functions.is_empty() && input_kind == SourceKind::Table {
            return Err(SqlError::at(
                query.pos,
                "Table source is not supported with table functions",
            ));
        }

        let has_aggregates = items
            .iter()
            .any(|(e, _, _)| contains_aggregate(e, self.functions))
            || query
                .having
                .as_ref()
                .is_some_and(|h| contains_aggregate(h, self.functions));
        let mut aggregate = None;
        let mut having = None;
        let mut kind = input_kind;
        let mut key: Vec<OutputColumn> = Vec::new();
        let mut value: Vec<OutputColumn> = Vec::new();
        let mut partition_by = None;
        let mut window = None;
        let mut key_from_record = false;

        if !query.group_by.is_empty() || has_aggregates || query.window.is_some() {
            if query.group_by.is_empty() {
                return Err(SqlError::at(
                    query.pos,
                    "Aggregate functions used without GROUP BY are not supported.",
                ));
            }
            if !has_aggregates {
                return Err(SqlError::at(
                    query.pos,
                    "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.",
                ));
            }
            if !query.partition_by.is_empty() {
                return Err(SqlError::at(
                    query.pos,
                    "PARTITION BY and GROUP BY in the same query is not supported",
                ));
            }
            for g in &query.group_by {
                if contains_aggregate(g, self.functions) {
                    let name = first_aggregate_name(g, self.functions).unwrap_or_default();
                    return Err(SqlError::at(
                        g.pos,
                        format!("GROUP BY does not support aggregate functions: {name} is an aggregate function."),
                    ));
                }
            }
            if query.window.is_some() && input_kind == SourceKind::Table {
                return Err(SqlError::at(
                    query.pos,
                    "WINDOW clause requires a stream source",
                ));
            }
            let (group_norm, group_by) = normalized_and_compiled(&query.group_by, &scope, &ctx)?;
            // Rewrite the projection and HAVING over the aggregated row.
            let mut calls: Vec<Expr> = Vec::new();
            let rewritten: Vec<Expr> = items
                .iter()
                .map(|(e, _, _)| {
                    rewrite_for_aggregation(
                        &normalize(e, &scope),
                        &group_norm,
                        self.functions,
                        &mut calls,
                    )
                })
                .collect();
            let having_rw = query.having.as_ref().map(|h| {
                rewrite_for_aggregation(
                    &normalize(h, &scope),
                    &group_norm,
                    self.functions,
                    &mut calls,
                )
            });
            let mut aggregates = Vec::new();
            for call in &calls {
                aggregates.push(self.bind_aggregate(call, &scope)?);
            }
            if input_kind == SourceKind::Table {
                for (a, c) in aggregates.iter().zip(&calls) {
                    if a.function.undo(a.function.initial(), &[]).is_none() {
                        let ExprKind::Function { name, .. } = &c.kind else {
                            continue;
                        };
                        return Err(SqlError::at(
                            c.pos,
                            format!("The aggregation function {} cannot be applied to a table source, only to a stream source.", name.name),
                        ));
                    }
                }
            }
            let window_spec = query.window.as_ref().map(window_spec);
            let mut agg_scope = Scope::default();
            for (i, g) in group_by.iter().enumerate() {
                agg_scope.columns.push(ScopeColumn {
                    qualifier: None,
                    name: group_column(i),
                    ty: g.ty.clone().unwrap_or(SqlType::String),
                });
            }
            for (i, a) in aggregates.iter().enumerate() {
                agg_scope.columns.push(ScopeColumn {
                    qualifier: None,
                    name: agg_column(i),
                    ty: a.function.return_type(),
                });
            }
            if window_spec.is_some() {
                for n in [WINDOWSTART, WINDOWEND] {
                    agg_scope.columns.push(ScopeColumn {
                        qualifier: None,
                        name: n.to_owned(),
                        ty: SqlType::Bigint,
                    });
                }
            }
            agg_scope.columns.push(ScopeColumn {
                qualifier: None,
                name: ROWTIME.to_owned(),
                ty: SqlType::Bigint,
            });
            // Key columns: the projection items that are grouping expressions.
            let mut key_slots: Vec<Option<OutputColumn>> = vec![None; group_by.len()];
            for ((e, name, _), rw) in items.iter().zip(&rewritten) {
                if let Some(i) = as_group_ref(rw) {
                    if let Some(first) = &key_slots[i] {
                        return Err(SqlError::at(
                            e.pos,
                            format!("The projection contains a key column more than once: `{}` and `{name}`.", first.name),
                        ));
                    }
                    if key_slots[i].is_none() {
                        key_slots[i] = Some(OutputColumn {
                            name: name.clone(),
                            ty: group_by[i].ty.clone().unwrap_or(SqlType::String),
                            expr: compile_or_non_aggregate(rw, e, &agg_scope, &ctx)?,
                        });
                        continue;
                    }
                }
                let c = compile_or_non_aggregate(rw, e, &agg_scope, &ctx)?;
                value.push(OutputColumn {
                    name: name.clone(),
                    ty: c.ty.clone().unwrap_or(SqlType::String),
                    expr: c,
                });
            }
            for (i, slot) in key_slots.iter_mut().enumerate() {
                if slot.is_none() && self.sink_name.is_none() {
                    // A transient query need not show its grouping key: the key column
                    // is kept, under its internal name, but not returned.
                    let g = Expr::new(
                        ExprKind::Column {
                            qualifier: None,
                            name: ast::Ident::new(group_column(i)),
                        },
                        query.group_by[i].pos,
                    );
                    *slot = Some(OutputColumn {
                        name: group_column(i),
                        ty: group_by[i].ty.clone().unwrap_or(SqlType::String),
                        expr: compile_or_non_aggregate(&g, &g, &agg_scope, &ctx)?,
                    });
                } else if slot.is_none() {
                    let g = &query.group_by[i];
                    let sink = self.sink_name.unwrap_or("the result");
                    return Err(SqlError::at(
                        g.pos,
                        format!(
                            "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\nThe query used to build `{sink}` must include the grouping expression {} in its projection (eg, SELECT {}...).",
                            display_expr(g),
                            display_expr(g)
                        ),
                    ));
                }
            }
            key = key_slots.into_iter().flatten().collect();
            having = match &having_rw {
                Some(h) => {
                    let written = query.having.as_ref().unwrap_or(h);
                    let orig = written.pos;
                    let c = compile_or_non_aggregate(h, written, &agg_scope, &ctx)
                        .map_err(|e| prefix_error(e, "Error in HAVING expression: "))?;
                    expect_boolean(&c, orig, "HAVING")?;
                    Some(c)
                }
                None => None,
            };
            let _ = writeln!(
                text,
                "Aggregate GROUP BY {}{} [{}]",
                query
                    .group_by
                    .iter()
                    .map(display_expr)
                    .collect::<Vec<_>>()
                    .join(", "),
                match &query.window {
                    Some(w) => format!(" WINDOW {}", display_window(w)),
                    None => String::new(),
                },
                calls
                    .iter()
                    .map(display_expr)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(h) = &query.having {
                let _ = writeln!(text, "Having {}", display_expr(h));
            }
            window = window_spec.map(|w| w.info());
            let by_key = joins.is_empty() && {
                let src = &sources[0];
                let keys: Vec<Expr> = src
                    .source
                    .key_columns()
                    .map(|c| {
                        normalize(
                            &Expr::new(
                                ExprKind::Column {
                                    qualifier: Some(ast::Ident::new(src.alias.clone())),
                                    name: ast::Ident::new(c.name.clone()),
                                },
                                Pos::default(),
                            ),
                            &scope,
                        )
                    })
                    .collect();
                !keys.is_empty() && keys == group_norm
            };
            aggregate = Some(AggregateStep {
                by_key,
                group_by,
                aggregates,
                window: window_spec,
                input_is_table: input_kind == SourceKind::Table,
                scope: agg_scope,
            });
            kind = SourceKind::Table;
        } else {
            if query.having.is_some() {
                return Err(SqlError::at(query.pos, "HAVING requires GROUP BY"));
            }
            let projected: Vec<(CompiledExpr, Expr, String, bool)> = items
                .iter()
                .map(|(e, n, star)| {
                    Ok((expr::compile(e, &scope, &ctx)?, e.clone(), n.clone(), *star))
                })
                .collect::<Result<_>>()?;
            if !query.partition_by.is_empty() {
                if input_kind == SourceKind::Table {
                    return Err(SqlError::at(
                        query.partition_by[0].pos,
                        "PARTITION BY is not supported on tables",
                    ));
                }
                let (pnorm, pcompiled) =
                    normalized_and_compiled(&query.partition_by, &scope, &ctx)?;
                let mut key_slots: Vec<Option<OutputColumn>> = vec![None; pcompiled.len()];
                for (c, e, n, _) in &projected {
                    let ne = normalize(e, &scope);
                    if let Some(i) = pnorm.iter().position(|p| *p == ne) {
                        if let (Some(first), Some(_)) = (&key_slots[i], self.sink_name) {
                            return Err(SqlError::at(
                                e.pos,
                                format!(
                                    "The projection contains a key column (`{}`) more than once, aliased as: {} and {n}.",
                                    default_name(&query.partition_by[i]).unwrap_or_else(|| first.name.clone()),
                                    first.name
                                ),
                            ));
                        }
                        if key_slots[i].is_none() {
                            key_slots[i] = Some(OutputColumn {
                                name: n.clone(),
                                ty: c.ty.clone().unwrap_or(SqlType::String),
                                expr: c.clone(),
                            });
                            continue;
                        }
                    }
                    value.push(OutputColumn {
                        name: n.clone(),
                        ty: c.ty.clone().unwrap_or(SqlType::String),
                        expr: c.clone(),
                    });
                }
                let is_null_key = query.partition_by.len() == 1
                    && matches!(
                        query.partition_by[0].kind,
                        ExprKind::Literal(ast::Literal::Null)
                    );
                if !is_null_key {
                    // A partitioning expression the projection does not name becomes a
                    // key column named as ksqlDB names it, under `SELECT *`; otherwise
                    // the projection must name it.
                    let star = items.iter().any(|(_, _, star)| *star);
                    if query.partition_by.len() > 1
                        && query
                            .partition_by
                            .iter()
                            .any(|p| matches!(p.kind, ExprKind::Literal(ast::Literal::Null)))
                    {
                        return Err(SqlError::at(
                            query.partition_by[0].pos,
                            "Cannot PARTITION BY multiple columns including NULL",
                        ));
                    }
                    if !star && self.sink_name.is_some() {
                        let missing: Vec<String> = key_slots
                            .iter()
                            .zip(&query.partition_by)
                            .filter(|(s, _)| s.is_none())
                            .map(|(_, p)| display_expr(p))
                            .collect();
                        if !missing.is_empty() {
                            let sink = self.sink_name.unwrap_or("the result");
                            let (word, list) = if missing.len() == 1 {
                                ("expression", missing[0].clone())
                            } else {
                                ("expressions", missing.join(" and "))
                            };
                            return Err(SqlError::at(
                                query.partition_by[0].pos,
                                format!("The query used to build `{sink}` must include the partitioning {word} {list} in its projection (eg, SELECT {}...).", missing[0]),
                            ));
                        }
                    }
                    for (i, slot) in key_slots.iter_mut().enumerate() {
                        if slot.is_none() {
                            let p = &query.partition_by[i];
                            let name = match default_name(p) {
                                Some(n) => n,
                                None => {
                                    let n = format!("KSQL_COL_{auto}");
                                    auto += 1;
                                    n
                                }
                            };
                            let c = &pcompiled[i];
                            *slot = Some(OutputColumn {
                                name,
                                ty: c.ty.clone().unwrap_or(SqlType::String),
                                expr: c.clone(),
                            });
                        }
                    }
                }
                key = key_slots.into_iter().flatten().collect();
                let _ = writeln!(
                    text,
                    "PartitionBy {}",
                    query
                        .partition_by
                        .iter()
                        .map(display_expr)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                partition_by = Some(pcompiled);
            } else if joins.is_empty() {
                // The key columns are the source's key columns, where projected.
                let src = &sources[0];
                let key_names: Vec<String> =
                    src.source.key_columns().map(|c| c.name.clone()).collect();
                let mut key_slots: Vec<Option<OutputColumn>> = vec![None; key_names.len()];
                let mut key_at: Vec<usize> = vec![0; key_names.len()];
                for (at, (c, e, n, _)) in projected.iter().enumerate() {
                    if let ExprKind::Column { name, .. } = &normalize(e, &scope).kind {
                        if let Some(i) = key_names.iter().position(|k| *k == name.name) {
                            if let (Some(first), Some(_)) = (&key_slots[i], self.sink_name) {
                                return Err(SqlError::at(
                                    e.pos,
                                    format!(
                                        "The projection contains a key column (`{}`) more than once, aliased as: {} and {n}.",
                                        key_names[i], first.name
                                    ),
                                ));
                            }
                            if key_slots[i].is_none() {
                                key_at[i] = at;
                                key_slots[i] = Some(OutputColumn {
                                    name: n.clone(),
                                    ty: c.ty.clone().unwrap_or(SqlType::String),
                                    expr: c.clone(),
                                });
                                continue;
                            }
                        }
                    }
                    value.push(OutputColumn {
                        name: n.clone(),
                        ty: c.ty.clone().unwrap_or(SqlType::String),
                        expr: c.clone(),
                    });
                }
                // A persistent query writes its source's key: the projection has to
                // name every key column.
                if self.sink_name.is_some()
                    && !(self.keyless_projection && input_kind == SourceKind::Stream)
                    && key_slots.iter().any(|s| s.is_none())
                    && !key_names.is_empty()
                    && (key_slots.len() == 1 || key_slots.iter().all(|s| s.is_none()))
                {
                    {
                        let missing = key_names
                            [key_slots.iter().position(|s| s.is_none()).unwrap_or(0)]
                        .clone();
                        let sink = self.sink_name.unwrap_or("the result");
                        return Err(SqlError::at(
                            query.pos,
                            format!("Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\nThe query used to build `{sink}` must include the key column {missing} in its projection (eg, SELECT {missing}...)."),
                        ));
                    }
                }
                if key_slots.len() > 1
                    && key_slots.iter().any(|s| s.is_some())
                    && key_slots.iter().any(|s| s.is_none())
                {
                    let sink = self.sink_name.unwrap_or("the result");
                    let names = key_names.join(" and ");
                    return Err(SqlError::at(
                        query.pos,
                        format!("The query used to build `{sink}` must include the key columns {names} in its projection (eg, SELECT {}...).", key_names.join(", ")),
                    ));
                }
                if key_slots.iter().all(|s| s.is_some()) {
                    // A stream's key columns come in projection order (its key is
                    // computed from the row); a table keeps its key as it is.
                    let mut slots: Vec<(usize, OutputColumn)> = key_at
                        .into_iter()
                        .zip(key_slots.into_iter().flatten())
                        .collect();
                    // (ksqlDB's new planner; the old one keeps the source's order.)
                    if input_kind == SourceKind::Stream && self.keyless_projection {
                        slots.sort_by_key(|(at, _)| *at);
                    }
                    key = slots.into_iter().map(|(_, c)| c).collect();
                } else {
                    // A stream projected without (all of) its key: keyless.
                    for s in key_slots.into_iter().flatten() {
                        value.push(s);
                    }
                }
            } else {
                // Joins: the key is the join expression; the projection must include a
                // column equal to one side of the (last) join expression.
                let join_exprs: Vec<Expr> = query
                    .from
                    .joins
                    .iter()
                    .flat_map(|j| match &j.on.kind {
                        ExprKind::Binary {
                            op: ast::BinaryOp::Eq,
                            left,
                            right,
                        } => {
                            vec![normalize(left, &scope), normalize(right, &scope)]
                        }
                        _ => vec![],
                    })
                    .collect();
                let first_join = &query.from.joins[0];
                let fk = joins
                    .last()
                    .is_some_and(|j| j.shape == JoinShape::ForeignKey);
                let join_exprs: Vec<Expr> = if fk {
                    // A foreign-key join keeps the left table's primary key.
                    let left = &sources[0];
                    left.source
                        .key_columns()
                        .map(|c| {
                            normalize(
                                &Expr::new(
                                    ExprKind::Column {
                                        qualifier: Some(ast::Ident::new(left.alias.clone())),
                                        name: ast::Ident::new(c.name.clone()),
                                    },
                                    Pos::default(),
                                ),
                                &scope,
                            )
                        })
                        .collect()
                } else {
                    join_exprs
                };
                // The key column: the first item naming a join expression.
                let matches_join = |e: &Expr| join_exprs.contains(&normalize(e, &scope));
                // An item written out wins over one from a `*`.
                let key_at = projected
                    .iter()
                    .position(|(_, e, _, star)| !star && matches_join(e))
                    .or_else(|| projected.iter().position(|(_, e, _, _)| matches_join(e)));
                // The key expression written out twice is refused, as in ksqlDB.
                if let (Some(k), Some(_)) = (key_at, self.sink_name) {
                    let key_expr = normalize(&projected[k].1, &scope);
                    if let Some((_, e, n, _)) = projected
                        .iter()
                        .enumerate()
                        .find(|(i, (_, e, _, star))| {
                            *i != k && !star && normalize(e, &scope) == key_expr
                        })
                        .map(|(_, item)| item)
                    {
                        let first = &projected[k].2;
                        let (a, b) = if first < n { (first, n) } else { (n, first) };
                        let col = match &key_expr.kind {
                            ExprKind::Column {
                                qualifier: Some(q),
                                name,
                            } => format!("{}_{}", q.name, name.name),
                            _ => display_expr(&key_expr),
                        };
                        return Err(SqlError::at(
                            e.pos,
                            format!("The projection contains a key column (`{col}`) more than once, aliased as: {a} and {b}."),
                        ));
                    }
                }
                let mut key_col: Option<OutputColumn> = None;
                for (i, (c, _e, n, _)) in projected.iter().enumerate() {
                    let col = OutputColumn {
                        name: n.clone(),
                        ty: c.ty.clone().unwrap_or(SqlType::String),
                        expr: c.clone(),
                    };
                    if Some(i) == key_at {
                        key_col = Some(col);
                        continue;
                    }
                    value.push(col);
                }
                key_from_record = true;
                match key_col {
                    Some(k) => key.push(k),
                    None if fk => {
                        let left = &sources[0];
                        let missing = left
                            .source
                            .key_columns()
                            .map(|c| c.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ");
                        return Err(SqlError::at(
                            first_join.pos,
                            format!("Primary key column missing in projection. For foreign-key table-table joins, the projection must include all primary key columns from the left input table (`{}`). Missing column: `{missing}`.", left.source.name),
                        ));
                    }
                    None => {
                        let sink = self.sink_name.unwrap_or("the result");
                        let (l, r) = match &first_join.on.kind {
                            ExprKind::Binary { left, right, .. } => {
                                (display_expr(left), display_expr(right))
                            }
                            _ => (String::new(), String::new()),
                        };
                        return Err(SqlError::at(
                            first_join.pos,
                            format!("Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\nThe query used to build `{sink}` must include the join expressions {l} or {r} in its projection (eg, SELECT {l}...)."),
                        ));
                    }
                }
            }
        }
        if value.is_empty() && self.sink_name.is_some() {
            return Err(SqlError::at(
                query.pos,
                "The projection contains no value columns.",
            ));
        }
        if aggregate.is_none() && joins.is_empty() && partition_by.is_none() {
            // A windowed source's rows keep their windows.
            window = sources[0].source.window;
        }
        let _ = writeln!(
            text,
            "Project key [{}] value [{}]",
            key.iter()
                .map(|c| format!("{} {}", c.name, c.ty))
                .collect::<Vec<_>>()
                .join(", "),
            value
                .iter()
                .map(|c| format!("{} {}", c.name, c.ty))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(k) = sink_kind {
            if k == SourceKind::Stream && kind == SourceKind::Table {
                return Err(SqlError::at(
                    query.pos,
                    "Invalid result type. Your SELECT query produces a TABLE. Please use CREATE TABLE AS SELECT statement instead.",
                ));
            }
            if k == SourceKind::Table && kind == SourceKind::Stream {
                return Err(SqlError::at(
                    query.pos,
                    "Invalid result type. Your SELECT query produces a STREAM. Please use CREATE STREAM AS SELECT statement instead.",
                ));
            }
        }
        let emit_final = query.emit == Some(ast::Emit::Final);
        if emit_final && window.is_none() {
            return Err(SqlError::at(
                query.pos,
                "EMIT FINAL is only supported for windowed aggregations.",
            ));
        }
        // The value columns each source's records must be decoded for.
        let mut refs: Vec<(Option<String>, String)> = Vec::new();
        for (e, _, _) in &items {
            refs.extend(referenced_columns(e));
        }
        for tf in &tf_exprs {
            refs.extend(referenced_columns(tf));
        }
        for e in query
            .where_
            .iter()
            .chain(query.having.iter())
            .chain(query.group_by.iter())
            .chain(query.partition_by.iter())
            .chain(query.from.joins.iter().map(|j| &j.on))
        {
            refs.extend(referenced_columns(e));
        }
        for s in sources.iter_mut() {
            let ts = s.source.timestamp.as_ref().map(|(c, _)| c.clone());
            s.used_values = s
                .source
                .value_columns()
                .map(|c| {
                    ts.as_deref() == Some(c.name.as_str())
                        || refs
                            .iter()
                            .any(|(q, n)| *n == c.name && q.as_ref().is_none_or(|q| *q == s.alias))
                })
                .collect();
        }
        Ok(QueryPlan {
            sources,
            joins,
            filter,
            table_functions,
            aggregate,
            having,
            partition_by,
            key,
            key_from_record,
            value,
            kind,
            window,
            emit_final,
            limit: query.limit,
            sink_timestamp: None,
            sink: None,
            select_names,
            emit: None,
            text,
        })
    }

    fn bind_aggregate(&self, call: &Expr, scope: &Scope) -> Result<AggregateCall> {
        let ExprKind::Function { name, args, .. } = &call.kind else {
            return Err(SqlError::at(call.pos, "not an aggregate call"));
        };
        let udaf = self.functions.aggregate(&name.name).ok_or_else(|| {
            SqlError::at(
                call.pos,
                format!("{} is not an aggregate function", name.name),
            )
        })?;
        let ctx = self.ctx();
        let mut compiled = Vec::new();
        for a in args {
            if contains_aggregate(a, self.functions) {
                return Err(SqlError::at(a.pos, "Aggregate functions can not be nested"));
            }
            compiled.push(expr::compile(a, scope, &ctx)?);
        }
        let bind_args: Vec<Arg> = compiled
            .iter()
            .map(|c| Arg {
                ty: c.ty.clone(),
                literal: c.constant(),
            })
            .collect();
        let function = udaf
            .bind(&bind_args)
            .map_err(|m| SqlError::at(call.pos, m))?;
        Ok(AggregateCall {
            function,
            args: compiled,
            text: display_expr(call),
        })
    }

    fn plan_join(
        &self,
        j: &ast::Join,
        left_scope: &Scope,
        left_kind: SourceKind,
        left_sources: &[SourceStep],
        right: SourceStep,
    ) -> Result<JoinStep> {
        let ctx = self.ctx();
        let ExprKind::Binary {
            op: ast::BinaryOp::Eq,
            left,
            right: r,
        } = &j.on.kind
        else {
            return Err(SqlError::at(
                j.on.pos,
                format!(
                    "Unsupported join expression: {}. Only equality joins are supported.",
                    display_expr(&j.on)
                ),
            ));
        };
        // Which side of `=` belongs to which input.
        let refers_right = |e: &Expr| {
            referenced_columns(e).iter().any(|(q, n)| match q {
                Some(q) => *q == right.alias,
                None => {
                    right.scope.columns.iter().any(|c| c.name == *n)
                        && !left_scope.columns.iter().any(|c| c.name == *n)
                }
            })
        };
        let (le, re) = if refers_right(r) && !refers_right(left) {
            (left.as_ref(), r.as_ref())
        } else if refers_right(left) && !refers_right(r) {
            (r.as_ref(), left.as_ref())
        } else {
            return Err(SqlError::at(
                j.on.pos,
                format!(
                    "Invalid comparison expression '{}' in join '({})'. Each side of the join comparision must contain references from exactly one source.",
                    display_expr(if refers_right(left) { r } else { left }),
                    display_expr(&j.on)
                ),
            ));
        };
        if referenced_columns(le).is_empty() {
            return Err(SqlError::at(
                j.on.pos,
                format!(
                    "Invalid comparison expression '{}' in join '({})'. Each side of the join comparision must contain references from exactly one source.",
                    display_expr(le),
                    display_expr(&j.on)
                ),
            ));
        }
        let left_expr = expr::compile(le, left_scope, &ctx)?;
        let right_expr = expr::compile(re, &right.scope, &ctx)?;
        let lt = left_expr.ty.clone();
        let rt = right_expr.ty.clone();
        if lt != rt {
            return Err(SqlError::at(
                j.on.pos,
                format!(
                    "Invalid join condition: types don't match. Got {}{{{}}} = {}{{{}}}.",
                    display_expr(le),
                    lt.map(|t| t.to_string()).unwrap_or_default(),
                    display_expr(re),
                    rt.map(|t| t.to_string()).unwrap_or_default()
                ),
            ));
        }
        // Windowed sources join only windowed sources of the same kind, on their keys.
        let left_window = left_sources
            .iter()
            .find_map(|s| s.source.window.map(|w| (s, w)));
        match (left_window, right.source.window) {
            (Some((l, _)), None) => {
                return Err(SqlError::at(
                    j.pos,
                    format!("Can not join windowed source to non-windowed source. `{}` is {:?} windowed `{}` is not windowed", l.source.name, l.source.window.map(|w| w.kind).unwrap_or(WindowKind::Tumbling), right.source.name).replace("Tumbling", "TUMBLING").replace("Hopping", "HOPPING").replace("Session", "SESSION"),
                ));
            }
            (None, Some(w)) => {
                let l = &left_sources[0];
                return Err(SqlError::at(
                    j.pos,
                    format!("Can not join windowed source to non-windowed source. `{}` is not windowed `{}` is {:?} windowed", l.source.name, right.source.name, w.kind).replace("Tumbling", "TUMBLING").replace("Hopping", "HOPPING").replace("Session", "SESSION"),
                ));
            }
            (Some((_, lw)), Some(rw))
                if (lw.kind == WindowKind::Session) != (rw.kind == WindowKind::Session) =>
            {
                return Err(SqlError::at(
                    j.pos,
                    format!("Incompatible windowed sources. Left source: {:?} Right source: {:?} Session windowed sources can only be joined to other session windowed sources.", lw.kind, rw.kind).to_uppercase(),
                ));
            }
            _ => {}
        }
        let is_key_of = |e: &Expr, s: &SourceStep| -> bool {
            let keys: Vec<&Column> = s.source.key_columns().collect();
            if keys.len() != 1 {
                return false;
            }
            match &e.kind {
                ExprKind::Column { qualifier, name } => {
                    name.name == keys[0].name
                        && qualifier.as_ref().is_none_or(|q| q.name == s.alias)
                }
                _ => false,
            }
        };
        let left_is_key = left_sources.len() == 1 && is_key_of(le, &left_sources[0]);
        let right_is_key = is_key_of(re, &right);
        if (left_window.is_some() && !left_is_key)
            || (right.source.window.is_some() && !right_is_key)
        {
            return Err(SqlError::at(
                j.on.pos,
                "Implicit repartitioning of windowed sources is not supported. See https://github.com/confluentinc/ksql/issues/4385.",
            ));
        }
        let right_kind = right.source.kind;
        let shape = match (left_kind, right_kind) {
            (SourceKind::Stream, SourceKind::Stream) => {
                let Some(w) = &j.within else {
                    return Err(SqlError::at(
                        j.pos,
                        "Stream-Stream joins must have a WITHIN clause specified. None was provided. To learn about how to specify a WITHIN clause with a stream-stream join, please visit: https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select",
                    ));
                };
                JoinShape::StreamStream {
                    before_ms: w.before_ms,
                    after_ms: w.after_ms,
                    grace_ms: w.grace_ms.unwrap_or(24 * 3600 * 1000),
                    eager: w.grace_ms.is_none(),
                }
            }
            (SourceKind::Stream, SourceKind::Table) => {
                if j.within.is_some() {
                    return Err(SqlError::at(j.pos, "A window definition was provided for a Stream-Table join. These joins are not windowed. Please drop the window definition (ie. the WITHIN clause) and try to execute your join again."));
                }
                if !right_is_key {
                    return Err(SqlError::at(
                        j.on.pos,
                        format!(
                            "Invalid join condition: stream-table joins require to join on the table's primary key. Got {} = {}.",
                            display_expr(le),
                            display_expr(re)
                        ),
                    ));
                }
                if matches!(j.kind, JoinKind::Right | JoinKind::Full) {
                    return Err(SqlError::at(
                        j.pos,
                        "Full outer joins between streams and tables are not supported.",
                    ));
                }
                JoinShape::StreamTable
            }
            (SourceKind::Table, SourceKind::Stream) => {
                return Err(SqlError::at(
                    j.pos,
                    "Invalid join order: table-stream joins are not supported; only stream-table joins. Got LEFT TABLE JOIN RIGHT STREAM.",
                ));
            }
            (SourceKind::Table, SourceKind::Table) => {
                if j.within.is_some() {
                    return Err(SqlError::at(j.pos, "A window definition was provided for a Table-Table join. These joins are not windowed. Please drop the window definition (i.e. the WITHIN clause) and try to execute your Table-Table join again."));
                }
                if !right_is_key {
                    return Err(SqlError::at(
                        j.on.pos,
                        format!(
                            "Invalid join condition: table-table joins require to join on the primary key of the right input table. Got {} = {}.",
                            display_expr(le),
                            display_expr(re)
                        ),
                    ));
                }
                if left_is_key {
                    JoinShape::TableTable
                } else {
                    if matches!(j.kind, JoinKind::Right | JoinKind::Full) {
                        return Err(SqlError::at(
                            j.pos,
                            "Foreign-key table-table joins support only INNER and LEFT joins.",
                        ));
                    }
                    JoinShape::ForeignKey
                }
            }
        };
        Ok(JoinStep {
            kind: j.kind,
            shape,
            text: format!("{:?} {} ON {}", j.kind, right.alias, display_expr(&j.on)),
            right,
            left_expr,
            right_expr,
            left_is_key,
            right_is_key,
            left_width: left_scope.columns.len(),
        })
    }
}

/// `exprs` normalized (to compare them with the projection) and compiled.
fn normalized_and_compiled(
    exprs: &[Expr],
    scope: &Scope,
    ctx: &Context<'_>,
) -> Result<(Vec<Expr>, Vec<CompiledExpr>)> {
    let normalized = exprs.iter().map(|e| normalize(e, scope)).collect();
    let compiled = exprs
        .iter()
        .map(|e| expr::compile(e, scope, ctx))
        .collect::<Result<_>>()?;
    Ok((normalized, compiled))
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

fn expect_boolean(e: &CompiledExpr, pos: Pos, clause: &str) -> Result<()> {
    match &e.ty {
        Some(SqlType::Boolean) | None => Ok(()),
        Some(t) => Err(SqlError::at(
            pos,
            format!(
                "Type error in {clause} expression: Should evaluate to boolean but is {t} instead."
            ),
        )),
    }
}

fn compile_or_non_aggregate(
    rw: &Expr,
    orig: &Expr,
    scope: &Scope,
    ctx: &Context<'_>,
) -> Result<CompiledExpr> {
    expr::compile(rw, scope, ctx).map_err(|e| match e {
        SqlError::Analysis { pos, message } if message.contains("cannot be resolved") => {
            let cols: Vec<String> = referenced_columns(rw)
                .into_iter()
                .filter(|(q, n)| {
                    !scope
                        .columns
                        .iter()
                        .any(|c| c.name == *n && (q.is_none() || c.qualifier == *q))
                })
                .map(|(_, n)| n)
                .collect();
            // The rewritten expression lost its positions; the written one has them.
            let pos = match pos {
                Some(p) if p != Pos::default() => Some(p),
                _ => Some(orig.pos),
            };
            SqlError::Analysis {
                pos,
                message: format!(
                    "Non-aggregate SELECT expression(s) not part of GROUP BY: {}",
                    if cols.is_empty() {
                        display_expr(orig)
                    } else {
                        cols.join(", ")
                    }
                ),
            }
        }
        SqlError::Analysis { pos, message } if pos.is_none_or(|p| p == Pos::default()) => {
            SqlError::Analysis {
                pos: Some(orig.pos),
                message,
            }
        }
        other => other,
    })
}

pub fn group_column(i: usize) -> String {
    format!("KSQL_GB_{i}")
}

pub fn agg_column(i: usize) -> String {
    format!("KSQL_AGG_VARIABLE_{i}")
}

pub fn tf_column(i: usize) -> String {
    format!("KSQL_SYNTH_{i}")
}

fn as_group_ref(e: &Expr) -> Option<usize> {
    match &e.kind {
        ExprKind::Column {
            qualifier: None,
            name,
        } => name.name.strip_prefix("KSQL_GB_")?.parse().ok(),
        _ => None,
    }
}

fn window_spec(w: &WindowExpr) -> WindowSpec {
    match *w {
        WindowExpr::Tumbling {
            size_ms,
            retention_ms,
            grace_ms,
        } => WindowSpec::Tumbling {
            size_ms,
            grace_ms,
            retention_ms,
        },
        WindowExpr::Hopping {
            size_ms,
            advance_ms,
            retention_ms,
            grace_ms,
        } => WindowSpec::Hopping {
            size_ms,
            advance_ms,
            grace_ms,
            retention_ms,
        },
        WindowExpr::Session {
            gap_ms,
            retention_ms,
            grace_ms,
        } => WindowSpec::Session {
            gap_ms,
            grace_ms,
            retention_ms,
        },
    }
}

fn display_window(w: &WindowExpr) -> String {
    match w {
        WindowExpr::Tumbling { size_ms, .. } => format!("TUMBLING (SIZE {size_ms} MILLISECONDS)"),
        WindowExpr::Hopping {
            size_ms,
            advance_ms,
            ..
        } => {
            format!("HOPPING (SIZE {size_ms} MILLISECONDS, ADVANCE BY {advance_ms} MILLISECONDS)")
        }
        WindowExpr::Session { gap_ms, .. } => format!("SESSION ({gap_ms} MILLISECONDS)"),
    }
}

/// Whether `e` calls an aggregate function.
pub fn contains_aggregate(e: &Expr, functions: &FunctionRegistry) -> bool {
    first_aggregate_name(e, functions).is_some()
}

fn first_aggregate_name(e: &Expr, functions: &FunctionRegistry) -> Option<String> {
    let mut found = None;
    visit(e, &mut |x| {
        if found.is_none() {
            if let ExprKind::Function { name, .. } = &x.kind {
                if functions.aggregate(&name.name).is_some()
                    && functions.scalar(&name.name).is_none()
                {
                    found = Some(name.name.clone());
                }
            }
        }
    });
    found
}

fn check_no_aggregates(e: &Expr, functions: &FunctionRegistry, clause: &str) -> Result<()> {
    if let Some(n) = first_aggregate_name(e, functions) {
        return Err(SqlError::at(
            e.pos,
            format!("{clause} clause can not contain aggregate functions: {n} is an aggregate function."),
        ));
    }
    Ok(())
}

/// Calls `f` on `e` and every sub-expression.
pub fn visit(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    for c in children(e) {
        visit(c, f);
    }
}

fn children(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Literal(_) | ExprKind::Column { .. } => vec![],
        ExprKind::Unary { expr, .. } => vec![expr],
        ExprKind::Binary { left, right, .. } => vec![left, right],
        ExprKind::IsNull { expr, .. } => vec![expr],
        ExprKind::IsDistinctFrom { left, right, .. } => vec![left, right],
        ExprKind::Between {
            expr, low, high, ..
        } => vec![expr, low, high],
        ExprKind::InList { expr, list, .. } => {
            std::iter::once(expr.as_ref()).chain(list.iter()).collect()
        }
        ExprKind::Like { expr, pattern, .. } => vec![expr, pattern],
        ExprKind::Case {
            operand,
            whens,
            else_,
        } => operand
            .iter()
            .map(|b| b.as_ref())
            .chain(whens.iter().flat_map(|(a, b)| [a, b]))
            .chain(else_.iter().map(|b| b.as_ref()))
            .collect(),
        ExprKind::Cast { expr, .. } => vec![expr],
        ExprKind::Function { args, .. } => args.iter().collect(),
        ExprKind::Dereference { expr, .. } => vec![expr],
        ExprKind::Subscript { expr, index } => vec![expr, index],
        ExprKind::Array(items) => items.iter().collect(),
        ExprKind::Map(entries) => entries.iter().flat_map(|(a, b)| [a, b]).collect(),
        ExprKind::Struct(fields) => fields.iter().map(|(_, v)| v).collect(),
        ExprKind::Lambda { body, .. } => vec![body],
    }
}

/// `e` with every direct sub-expression replaced by `f(child)`.
fn map_children(e: &Expr, f: &mut dyn FnMut(&Expr) -> Expr) -> Expr {
    let kind = match &e.kind {
        ExprKind::Literal(_) | ExprKind::Column { .. } => e.kind.clone(),
        ExprKind::Unary { op, expr } => ExprKind::Unary {
            op: *op,
            expr: Box::new(f(expr)),
        },
        ExprKind::Binary { op, left, right } => ExprKind::Binary {
            op: *op,
            left: Box::new(f(left)),
            right: Box::new(f(right)),
        },
        ExprKind::IsNull { expr, negated } => ExprKind::IsNull {
            expr: Box::new(f(expr)),
            negated: *negated,
        },
        ExprKind::IsDistinctFrom {
            left,
            right,
            negated,
        } => ExprKind::IsDistinctFrom {
            left: Box::new(f(left)),
            right: Box::new(f(right)),
            negated: *negated,
        },
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => ExprKind::Between {
            expr: Box::new(f(expr)),
            low: Box::new(f(low)),
            high: Box::new(f(high)),
            negated: *negated,
        },
        ExprKind::InList {
            expr,
            list,
            negated,
        } => ExprKind::InList {
            expr: Box::new(f(expr)),
            list: list.iter().map(&mut *f).collect(),
            negated: *negated,
        },
        ExprKind::Like {
            expr,
            pattern,
            escape,
            negated,
        } => ExprKind::Like {
            expr: Box::new(f(expr)),
            pattern: Box::new(f(pattern)),
            escape: *escape,
            negated: *negated,
        },
        ExprKind::Case {
            operand,
            whens,
            else_,
        } => ExprKind::Case {
            operand: operand.as_ref().map(|o| Box::new(f(o))),
            whens: whens.iter().map(|(a, b)| (f(a), f(b))).collect(),
            else_: else_.as_ref().map(|o| Box::new(f(o))),
        },
        ExprKind::Cast { expr, ty } => ExprKind::Cast {
            expr: Box::new(f(expr)),
            ty: ty.clone(),
        },
        ExprKind::Function { name, args, star } => ExprKind::Function {
            name: name.clone(),
            args: args.iter().map(&mut *f).collect(),
            star: *star,
        },
        ExprKind::Dereference { expr, field } => ExprKind::Dereference {
            expr: Box::new(f(expr)),
            field: field.clone(),
        },
        ExprKind::Subscript { expr, index } => ExprKind::Subscript {
            expr: Box::new(f(expr)),
            index: Box::new(f(index)),
        },
        ExprKind::Array(items) => ExprKind::Array(items.iter().map(&mut *f).collect()),
        ExprKind::Map(entries) => {
            ExprKind::Map(entries.iter().map(|(a, b)| (f(a), f(b))).collect())
        }
        ExprKind::Struct(fields) => {
            ExprKind::Struct(fields.iter().map(|(n, v)| (n.clone(), f(v))).collect())
        }
        ExprKind::Lambda { params, body } => ExprKind::Lambda {
            params: params.clone(),
            body: Box::new(f(body)),
        },
    };
    Expr { kind, pos: e.pos }
}

/// `e` with positions cleared and unqualified column references qualified by the source
/// that has them, so that equal expressions written differently compare equal.
pub fn normalize(e: &Expr, scope: &Scope) -> Expr {
    let mut out = match &e.kind {
        ExprKind::Column { qualifier, name } => {
            let q = match qualifier {
                Some(q) => Some(ast::Ident::new(q.name.clone())),
                None => {
                    let owners: Vec<&ScopeColumn> = scope
                        .columns
                        .iter()
                        .filter(|c| c.name == name.name)
                        .collect();
                    if owners.len() == 1 {
                        owners[0].qualifier.clone().map(ast::Ident::new)
                    } else {
                        None
                    }
                }
            };
            Expr::new(
                ExprKind::Column {
                    qualifier: q,
                    name: ast::Ident::new(name.name.clone()),
                },
                Pos::default(),
            )
        }
        ExprKind::Lambda { .. } => strip(e),
        ExprKind::Function { name, args, star } => Expr::new(
            ExprKind::Function {
                name: ast::Ident::new(name.name.clone()),
                args: args.iter().map(|a| normalize(a, scope)).collect(),
                star: *star,
            },
            Pos::default(),
        ),
        ExprKind::Dereference { expr, field } => Expr::new(
            ExprKind::Dereference {
                expr: Box::new(normalize(expr, scope)),
                field: ast::Ident::new(field.name.clone()),
            },
            Pos::default(),
        ),
        ExprKind::Struct(fields) => Expr::new(
            ExprKind::Struct(
                fields
                    .iter()
                    .map(|(n, v)| (ast::Ident::new(n.name.clone()), normalize(v, scope)))
                    .collect(),
            ),
            Pos::default(),
        ),
        _ => map_children(e, &mut |c| normalize(c, scope)),
    };
    out.pos = Pos::default();
    out
}

fn strip(e: &Expr) -> Expr {
    let mut out = match &e.kind {
        ExprKind::Column { qualifier, name } => Expr::new(
            ExprKind::Column {
                qualifier: qualifier.as_ref().map(|q| ast::Ident::new(q.name.clone())),
                name: ast::Ident::new(name.name.clone()),
            },
            Pos::default(),
        ),
        ExprKind::Function { name, args, star } => Expr::new(
            ExprKind::Function {
                name: ast::Ident::new(name.name.clone()),
                args: args.iter().map(strip).collect(),
                star: *star,
            },
            Pos::default(),
        ),
        ExprKind::Lambda { params, body } => Expr::new(
            ExprKind::Lambda {
                params: params
                    .iter()
                    .map(|p| ast::Ident::new(p.name.clone()))
                    .collect(),
                body: Box::new(strip(body)),
            },
            Pos::default(),
        ),
        _ => map_children(e, &mut strip),
    };
    out.pos = Pos::default();
    out
}

/// Rewrites a (normalized) projection or HAVING expression over the aggregated row:
/// grouping expressions become `KSQL_GB_i`, aggregate calls `KSQL_AGG_VARIABLE_j` (the
/// calls are collected in `calls`, deduplicated).
fn rewrite_for_aggregation(
    e: &Expr,
    group: &[Expr],
    functions: &FunctionRegistry,
    calls: &mut Vec<Expr>,
) -> Expr {
    if let Some(i) = group.iter().position(|g| g == e) {
        return column(&group_column(i));
    }
    if let ExprKind::Function { name, .. } = &e.kind {
        if functions.aggregate(&name.name).is_some() && functions.scalar(&name.name).is_none() {
            let i = match calls.iter().position(|c| c == e) {
                Some(i) => i,
                None => {
                    calls.push(e.clone());
                    calls.len() - 1
                }
            };
            return column(&agg_column(i));
        }
    }
    if let ExprKind::Column { name, .. } = &e.kind {
        // Pseudo-columns of the aggregated row stay as they are.
        if [WINDOWSTART, WINDOWEND, ROWTIME].contains(&name.name.as_str()) {
            return column(&name.name);
        }
    }
    map_children(e, &mut |c| {
        rewrite_for_aggregation(c, group, functions, calls)
    })
}

fn column(name: &str) -> Expr {
    Expr::new(
        ExprKind::Column {
            qualifier: None,
            name: ast::Ident::new(name),
        },
        Pos::default(),
    )
}

/// Replaces table-function calls by references to their result columns (collected in
/// `calls`).
fn extract_table_functions(e: &Expr, functions: &FunctionRegistry, calls: &mut Vec<Expr>) -> Expr {
    if let ExprKind::Function { name, .. } = &e.kind {
        if functions.table(&name.name).is_some() {
            calls.push(e.clone());
            let mut c = column(&tf_column(calls.len() - 1));
            c.pos = e.pos;
            return c;
        }
    }
    map_children(e, &mut |c| extract_table_functions(c, functions, calls))
}

/// An expression as text, for plans and messages (ksqlDB's spelling, roughly).
pub fn display_expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(l) => l.to_string(),
        ExprKind::Column {
            qualifier: Some(q),
            name,
        } => format!("{}.{}", q.name, name.name),
        ExprKind::Column {
            qualifier: None,
            name,
        } => name.name.clone(),
        ExprKind::Unary { op, expr } => match op {
            ast::UnaryOp::Not => format!("(NOT {})", display_expr(expr)),
            ast::UnaryOp::Minus => format!("-{}", display_expr(expr)),
            ast::UnaryOp::Plus => display_expr(expr),
        },
        ExprKind::Binary { op, left, right } => {
            format!("({} {} {})", display_expr(left), op, display_expr(right))
        }
        ExprKind::IsNull { expr, negated } => {
            format!(
                "({} IS {}NULL)",
                display_expr(expr),
                if *negated { "NOT " } else { "" }
            )
        }
        ExprKind::IsDistinctFrom {
            left,
            right,
            negated,
        } => format!(
            "({} IS {}DISTINCT FROM {})",
            display_expr(left),
            if *negated { "NOT " } else { "" },
            display_expr(right)
        ),
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => format!(
            "({} {}BETWEEN {} AND {})",
            display_expr(expr),
            if *negated { "NOT " } else { "" },
            display_expr(low),
            display_expr(high)
        ),
        ExprKind::InList {
            expr,
            list,
            negated,
        } => format!(
            "({} {}IN ({}))",
            display_expr(expr),
            if *negated { "NOT " } else { "" },
            list.iter().map(display_expr).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Like {
            expr,
            pattern,
            negated,
            ..
        } => format!(
            "({} {}LIKE {})",
            display_expr(expr),
            if *negated { "NOT " } else { "" },
            display_expr(pattern)
        ),
        ExprKind::Case { .. } => "CASE".into(),
        ExprKind::Cast { expr, .. } => format!("CAST({})", display_expr(expr)),
        ExprKind::Function { name, args, star } => {
            if *star {
                format!("{}(*)", name.name)
            } else {
                format!(
                    "{}({})",
                    name.name,
                    args.iter().map(display_expr).collect::<Vec<_>>().join(", ")
                )
            }
        }
        ExprKind::Dereference { expr, field } => format!("{}->{}", display_expr(expr), field.name),
        ExprKind::Subscript { expr, index } => {
            format!("{}[{}]", display_expr(expr), display_expr(index))
        }
        ExprKind::Array(items) => format!(
            "ARRAY[{}]",
            items
                .iter()
                .map(display_expr)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ExprKind::Map(entries) => format!(
            "MAP({})",
            entries
                .iter()
                .map(|(k, v)| format!("{}:={}", display_expr(k), display_expr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ExprKind::Struct(fields) => format!(
            "STRUCT({})",
            fields
                .iter()
                .map(|(k, v)| format!("{}:={}", k.name, display_expr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ExprKind::Lambda { params, body } => format!(
            "({}) => {}",
            params
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            display_expr(body)
        ),
    }
}

/// The columns `e` names, as (qualifier, name); lambda parameters excluded.
pub fn referenced_columns(e: &Expr) -> Vec<(Option<String>, String)> {
    fn walk(e: &Expr, params: &mut Vec<String>, out: &mut Vec<(Option<String>, String)>) {
        match &e.kind {
            ExprKind::Column { qualifier, name } => {
                if qualifier.is_some() || !params.contains(&name.name) {
                    out.push((
                        qualifier.as_ref().map(|q| q.name.clone()),
                        name.name.clone(),
                    ));
                }
            }
            ExprKind::Lambda { params: ps, body } => {
                let n = params.len();
                params.extend(ps.iter().map(|p| p.name.clone()));
                walk(body, params, out);
                params.truncate(n);
            }
            _ => {
                for c in children(e) {
                    walk(c, params, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(e, &mut Vec::new(), &mut out);
    out
}

/// The name ksqlDB gives a projected expression without an alias: the column's name, or
/// the last field of a dereference; `None` for anything else (`KSQL_COL_n`).
pub fn default_name(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Column { name, .. } => Some(name.name.clone()),
        ExprKind::Dereference { field, .. } => Some(field.name.clone()),
        _ => None,
    }
}
