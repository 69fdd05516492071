//! Statements and queries (ksqlDB's `statement` and `query` rules).

use std::collections::BTreeMap;

use crate::ast::{
    AliasedSource, ColumnConstraint, CreateAsSelect, CreateSource, DescribeTarget, Emit,
    ExplainTarget, Expr, Join, JoinKind, Literal, OrderBy, Pos, Properties, Query, Relation,
    SelectItem, ShowWhat, SourceKind, Statement, TableElement, WindowExpr, WithinExpr,
};
use crate::error::{Result, SqlError};

use super::cursor::{parse_error, unit_millis, Parser};
use super::lexer::Tok;

impl Parser<'_> {
    /// One statement, without its terminating `;`.
    pub fn parse_statement(&mut self) -> Result<Statement> {
        let t = self.peek().clone();
        let keyword = match &t.tok {
            Tok::Word { value, quote: None } => value.to_ascii_uppercase(),
            _ => String::new(),
        };
        match keyword.as_str() {
            "SELECT" => Ok(Statement::Query(Box::new(self.parse_query()?))),
            "CREATE" => self.parse_create(),
            "INSERT" => self.parse_insert(),
            "DROP" => self.parse_drop(),
            "TERMINATE" => self.parse_terminate(),
            "SHOW" | "LIST" => self.parse_show(),
            "DESCRIBE" => self.parse_describe(),
            "EXPLAIN" => self.parse_explain(),
            "PRINT" => self.parse_print(),
            "SET" => {
                self.advance();
                let (name, _) = self.string("a property name string")?;
                self.expect(&Tok::Eq, "'='")?;
                let (value, _) = self.string("a property value string")?;
                Ok(Statement::Set { name, value })
            }
            "UNSET" => {
                self.advance();
                let (name, _) = self.string("a property name string")?;
                Ok(Statement::Unset { name })
            }
            "DEFINE" => {
                self.advance();
                let name = self.variable_name()?;
                self.expect(&Tok::Eq, "'='")?;
                let (value, _) = self.string("a variable value string")?;
                Ok(Statement::Define { name, value })
            }
            "UNDEFINE" => {
                self.advance();
                let name = self.variable_name()?;
                Ok(Statement::Undefine { name })
            }
            "RUN" => {
                self.advance();
                self.expect_kw("SCRIPT")?;
                let (path, _) = self.string("a script path string")?;
                Ok(Statement::RunScript { path })
            }
            "ASSERT" => Err(SqlError::unsupported(Some(t.pos), "ASSERT statements")),
            "ALTER" => Err(SqlError::unsupported(Some(t.pos), "ALTER statements")),
            _ => Err(self.expected("a statement")),
        }
    }

    /// `DEFINE`/`UNDEFINE` names: an unquoted identifier, kept as written.
    fn variable_name(&mut self) -> Result<String> {
        if !matches!(self.tok(), Tok::Word { quote: None, .. }) {
            return Err(self.expected("a variable name"));
        }
        Ok(self.raw_ident("a variable name")?.0)
    }

    /// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE ...`, with or without `AS SELECT`, and
    /// `CREATE TYPE`.
    fn parse_create(&mut self) -> Result<Statement> {
        self.expect_kw("CREATE")?;
        let or_replace = self.eat_kws(&["OR", "REPLACE"]);
        if self.at_kw("TYPE") && !or_replace {
            self.advance();
            let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
            let name = self.ident_as("a type name")?;
            self.expect_kw("AS")?;
            let ty = self.parse_type()?;
            return Ok(Statement::CreateType {
                name: name.name,
                ty,
                if_not_exists,
            });
        }
        if (self.at_kw("SOURCE") || self.at_kw("SINK")) && self.at_kw_n(1, "CONNECTOR") {
            return Err(SqlError::unsupported(Some(self.pos()), "connectors"));
        }
        let is_source = self.eat_kw("SOURCE");
        let kind = if self.eat_kw("STREAM") {
            SourceKind::Stream
        } else if self.eat_kw("TABLE") {
            SourceKind::Table
        } else {
            return Err(self.expected(if or_replace || is_source {
                "STREAM or TABLE"
            } else {
                "STREAM, TABLE or TYPE"
            }));
        };
        let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.ident_as("a source name")?;
        let elements = if self.at(&Tok::LParen) {
            Some(self.parse_elements(kind)?)
        } else {
            None
        };
        let properties = if self.eat_kw("WITH") {
            self.parse_properties()?
        } else {
            Properties::default()
        };
        if elements.is_none() && !is_source && self.eat_kw("AS") {
            let query = self.parse_query()?;
            return Ok(Statement::CreateAsSelect(CreateAsSelect {
                kind,
                or_replace,
                if_not_exists,
                name,
                properties,
                query: Box::new(query),
            }));
        }
        Ok(Statement::CreateSource(CreateSource {
            kind,
            or_replace,
            if_not_exists,
            is_source,
            name,
            elements: elements.unwrap_or_default(),
            properties,
        }))
    }

    /// `(name type [constraint], ...)`, checking that `KEY` goes with streams and
    /// `PRIMARY KEY` with tables, as ksqlDB's parser does.
    fn parse_elements(&mut self, kind: SourceKind) -> Result<Vec<TableElement>> {
        self.expect(&Tok::LParen, "'('")?;
        let mut elements = Vec::new();
        loop {
            let name = self.ident_as("a column name")?;
            let pos = name.pos;
            let ty = self.parse_type()?;
            let constraint = if self.eat_kws(&["PRIMARY", "KEY"]) {
                ColumnConstraint::PrimaryKey
            } else if self.eat_kw("KEY") {
                ColumnConstraint::Key
            } else if self.eat_kw("HEADERS") {
                ColumnConstraint::Headers
            } else if self.at_kw("HEADER") && self.peek_at(1).tok == Tok::LParen {
                self.advance();
                self.advance();
                let (key, _) = self.string("a header key string")?;
                self.expect(&Tok::RParen, "')'")?;
                ColumnConstraint::Header(key)
            } else {
                ColumnConstraint::None
            };
            match (kind, &constraint) {
                (SourceKind::Table, ColumnConstraint::Key) => {
                    return Err(parse_error(
                        pos,
                        format!(
                            "Column `{}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.",
                            name.name
                        ),
                    ))
                }
                (SourceKind::Stream, ColumnConstraint::PrimaryKey) => {
                    return Err(parse_error(
                        pos,
                        format!(
                            "Column `{}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.",
                            name.name
                        ),
                    ))
                }
                _ => {}
            }
            elements.push(TableElement {
                name,
                ty,
                constraint,
                pos,
            });
            if self.eat(&Tok::Comma) {
                continue;
            }
            if self.eat(&Tok::RParen) {
                return Ok(elements);
            }
            return Err(self.expected(
                if matches!(
                    elements.last().map(|e| &e.constraint),
                    Some(ColumnConstraint::None)
                ) {
                    "KEY, PRIMARY KEY, HEADERS, HEADER, ',' or ')'"
                } else {
                    "',' or ')'"
                },
            ));
        }
    }

    /// `(NAME = literal, ...)`, after `WITH`. Names are upper-cased, quoted or not; a name
    /// may be given once.
    fn parse_properties(&mut self) -> Result<Properties> {
        self.expect(&Tok::LParen, "'('")?;
        let mut map = BTreeMap::new();
        loop {
            let (name, pos) = match self.tok() {
                Tok::Str(_) => {
                    let (s, pos) = self.string("a property name")?;
                    (s.to_uppercase(), pos)
                }
                _ => {
                    let id = self.ident_as("a property name")?;
                    (id.name.to_uppercase(), id.pos)
                }
            };
            self.expect(&Tok::Eq, "'='")?;
            let value = self.property_value()?;
            if map.insert(name.clone(), (value, pos)).is_some() {
                return Err(parse_error(pos, format!("duplicate property {name}")));
            }
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(&Tok::RParen, "',' or ')'")?;
            return Ok(Properties(map));
        }
    }

    /// A property value: a string, number, boolean or `NULL` literal.
    fn property_value(&mut self) -> Result<Literal> {
        if matches!(self.tok(), Tok::Str(_)) {
            return Ok(Literal::String(self.string("a literal")?.0));
        }
        let signed_number = self.at(&Tok::Minus) && matches!(self.peek_at(1).tok, Tok::Number(_));
        if matches!(self.tok(), Tok::Number(_)) || signed_number {
            return Ok(self.number_literal()?.0);
        }
        if self.eat_kw("TRUE") {
            Ok(Literal::Boolean(true))
        } else if self.eat_kw("FALSE") {
            Ok(Literal::Boolean(false))
        } else if self.eat_kw("NULL") {
            Ok(Literal::Null)
        } else {
            Err(self.expected("a literal (string, number or boolean)"))
        }
    }

    /// `INSERT INTO name [WITH (...)] SELECT ...` or `INSERT INTO name [(cols)] VALUES (...)`.
    fn parse_insert(&mut self) -> Result<Statement> {
        self.expect_kw("INSERT")?;
        self.expect_kw("INTO")?;
        let target = self.ident_as("a source name")?;
        if self.at_kw("SELECT") || self.at_kw("WITH") {
            let properties = if self.eat_kw("WITH") {
                self.parse_properties()?
            } else {
                Properties::default()
            };
            if !self.at_kw("SELECT") {
                return Err(self.expected("SELECT"));
            }
            let query = self.parse_query()?;
            return Ok(Statement::InsertInto {
                target,
                properties,
                query: Box::new(query),
            });
        }
        let columns = if self.eat(&Tok::LParen) {
            let mut cols = vec![self.ident_as("a column name")?];
            while self.eat(&Tok::Comma) {
                cols.push(self.ident_as("a column name")?);
            }
            self.expect(&Tok::RParen, "',' or ')'")?;
            Some(cols)
        } else {
            None
        };
        if !self.eat_kw("VALUES") {
            return Err(self.expected(if columns.is_some() {
                "VALUES"
            } else {
                "SELECT, WITH, VALUES or '('"
            }));
        }
        self.expect(&Tok::LParen, "'('")?;
        let mut values = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                values.push(self.parse_value()?);
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RParen, "',' or ')'")?;
                break;
            }
        }
        Ok(Statement::InsertValues {
            target,
            columns,
            values,
        })
    }

    /// `DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]` or `DROP TYPE [IF EXISTS] name`.
    fn parse_drop(&mut self) -> Result<Statement> {
        self.expect_kw("DROP")?;
        if self.eat_kw("TYPE") {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let name = self.ident_as("a type name")?;
            return Ok(Statement::DropType {
                name: name.name,
                if_exists,
            });
        }
        if self.at_kw("CONNECTOR") {
            return Err(SqlError::unsupported(Some(self.pos()), "connectors"));
        }
        let kind = if self.eat_kw("STREAM") {
            SourceKind::Stream
        } else if self.eat_kw("TABLE") {
            SourceKind::Table
        } else {
            return Err(self.expected("STREAM, TABLE or TYPE"));
        };
        let if_exists = self.eat_kws(&["IF", "EXISTS"]);
        let name = self.ident_as("a source name")?;
        let delete_topic = if self.eat_kw("DELETE") {
            self.expect_kw("TOPIC")?;
            true
        } else {
            false
        };
        Ok(Statement::Drop {
            kind,
            if_exists,
            name,
            delete_topic,
        })
    }

    /// `TERMINATE query_id` (upper-cased unless quoted) or `TERMINATE ALL`.
    fn parse_terminate(&mut self) -> Result<Statement> {
        self.expect_kw("TERMINATE")?;
        if self.eat_kw("ALL") {
            return Ok(Statement::Terminate { query_id: None });
        }
        let id = self.ident_as("a query id or ALL")?;
        Ok(Statement::Terminate {
            query_id: Some(id.name),
        })
    }

    /// `SHOW|LIST ...`
    fn parse_show(&mut self) -> Result<Statement> {
        self.advance();
        let t = self.peek().clone();
        let what = match &t.tok {
            Tok::Word { value, quote: None } => value.to_ascii_uppercase(),
            _ => String::new(),
        };
        let show =
            match what.as_str() {
                "PROPERTIES" => {
                    self.advance();
                    ShowWhat::Properties
                }
                "FUNCTIONS" => {
                    self.advance();
                    ShowWhat::Functions
                }
                "TYPES" => {
                    self.advance();
                    ShowWhat::Types
                }
                "VARIABLES" => {
                    self.advance();
                    ShowWhat::Variables
                }
                "STREAMS" => {
                    self.advance();
                    ShowWhat::Streams {
                        extended: self.eat_kw("EXTENDED"),
                    }
                }
                "TABLES" => {
                    self.advance();
                    ShowWhat::Tables {
                        extended: self.eat_kw("EXTENDED"),
                    }
                }
                "QUERIES" => {
                    self.advance();
                    ShowWhat::Queries {
                        extended: self.eat_kw("EXTENDED"),
                    }
                }
                "ALL" | "TOPICS" => {
                    let all = self.eat_kw("ALL");
                    self.expect_kw("TOPICS")?;
                    ShowWhat::Topics {
                        all,
                        extended: self.eat_kw("EXTENDED"),
                    }
                }
                "CONNECTORS" | "CONNECTOR" | "SOURCE" | "SINK" => {
                    return Err(SqlError::unsupported(Some(t.pos), "connectors"));
                }
                _ => return Err(self.expected(
                    "STREAMS, TABLES, TOPICS, QUERIES, PROPERTIES, FUNCTIONS, TYPES or VARIABLES",
                )),
            };
        Ok(Statement::Show(show))
    }

    /// `DESCRIBE [EXTENDED] name [EXTENDED]`, `DESCRIBE STREAMS|TABLES [EXTENDED]`,
    /// `DESCRIBE FUNCTION name`.
    fn parse_describe(&mut self) -> Result<Statement> {
        self.expect_kw("DESCRIBE")?;
        if self.at_kw("FUNCTION") && self.is_ident_at(1) {
            self.advance();
            let name = self.ident_as("a function name")?;
            return Ok(Statement::DescribeFunction { name: name.name });
        }
        if self.at_kw("CONNECTOR") && self.is_ident_at(1) {
            return Err(SqlError::unsupported(Some(self.pos()), "connectors"));
        }
        let mut extended = self.eat_kw("EXTENDED");
        let target = if self.eat_kw("STREAMS") {
            DescribeTarget::Streams
        } else if self.at_kw("TABLES") {
            self.advance();
            DescribeTarget::Tables
        } else {
            DescribeTarget::Source(self.ident_as("a source name, STREAMS or TABLES")?)
        };
        if !extended {
            extended = self.eat_kw("EXTENDED");
        }
        Ok(Statement::Describe { target, extended })
    }

    /// `EXPLAIN query_id` or `EXPLAIN statement`.
    fn parse_explain(&mut self) -> Result<Statement> {
        self.expect_kw("EXPLAIN")?;
        if self.is_ident_at(0) && matches!(self.peek_at(1).tok, Tok::SemiColon | Tok::Eof) {
            let id = self.ident()?;
            return Ok(Statement::Explain(ExplainTarget::QueryId(id.name)));
        }
        let inner = self.nested(|p| p.parse_statement())?;
        Ok(Statement::Explain(ExplainTarget::Statement(Box::new(
            inner,
        ))))
    }

    /// `PRINT topic [FROM BEGINNING] [INTERVAL|SAMPLE n] [LIMIT n]`; an unquoted topic keeps
    /// its case, as in ksqlDB.
    fn parse_print(&mut self) -> Result<Statement> {
        self.expect_kw("PRINT")?;
        let topic = match self.tok() {
            Tok::Str(_) => self.string("a topic")?.0,
            _ => self.raw_ident("a topic name")?.0,
        };
        let from_beginning = if self.eat_kw("FROM") {
            self.expect_kw("BEGINNING")?;
            true
        } else {
            false
        };
        let interval = if self.eat_kw("INTERVAL") || self.eat_kw("SAMPLE") {
            Some(self.unsigned("an interval (a non-negative integer)")?.0)
        } else {
            None
        };
        let limit = if self.eat_kw("LIMIT") {
            Some(self.unsigned("a limit (a non-negative integer)")?.0)
        } else {
            None
        };
        Ok(Statement::Print {
            topic,
            from_beginning,
            interval,
            limit,
        })
    }

    /// `SELECT ... FROM ... [WINDOW ..] [WHERE ..] [GROUP BY ..] [PARTITION BY ..]
    /// [HAVING ..] [EMIT CHANGES|FINAL] [ORDER BY ..] [LIMIT n]`
    pub fn parse_query(&mut self) -> Result<Query> {
        let pos = self.expect_kw("SELECT")?.pos;
        let mut select = vec![self.parse_select_item()?];
        while self.eat(&Tok::Comma) {
            select.push(self.parse_select_item()?);
        }
        if !self.eat_kw("FROM") {
            return Err(self.expected("',' or FROM"));
        }
        let from = self.parse_relation()?;
        let window = if self.eat_kw("WINDOW") {
            Some(self.parse_window()?)
        } else {
            None
        };
        let where_ = if self.eat_kw("WHERE") {
            Some(self.parse_expr()?)
        } else {
            None
        };
        let group_by = if self.eat_kws(&["GROUP", "BY"]) {
            self.parse_grouping()?
        } else {
            Vec::new()
        };
        let partition_by = if self.eat_kws(&["PARTITION", "BY"]) {
            self.parse_grouping()?
        } else {
            Vec::new()
        };
        let having = if self.eat_kw("HAVING") {
            Some(self.parse_expr()?)
        } else {
            None
        };
        let emit = if self.eat_kw("EMIT") {
            if self.eat_kw("CHANGES") {
                Some(Emit::Changes)
            } else if self.eat_kw("FINAL") {
                Some(Emit::Final)
            } else {
                return Err(self.expected("CHANGES or FINAL"));
            }
        } else {
            None
        };
        let order_by = if self.eat_kws(&["ORDER", "BY"]) {
            self.parse_order_by()?
        } else {
            Vec::new()
        };
        let limit = if self.eat_kw("LIMIT") {
            Some(self.unsigned("a limit (a non-negative integer)")?.0)
        } else {
            None
        };
        Ok(Query {
            select,
            from,
            window,
            where_,
            group_by,
            partition_by,
            having,
            emit,
            order_by,
            limit,
            pos,
        })
    }

    /// After `ORDER BY`: `expr [ASC|DESC] [NULLS FIRST|LAST]`, ...
    fn parse_order_by(&mut self) -> Result<Vec<OrderBy>> {
        let mut items = Vec::new();
        loop {
            let expr = self.parse_expr()?;
            let descending = if self.eat_kw("DESC") {
                true
            } else {
                self.eat_kw("ASC");
                false
            };
            let nulls_first = if self.eat_kw("NULLS") {
                if self.eat_kw("FIRST") {
                    Some(true)
                } else if self.eat_kw("LAST") {
                    Some(false)
                } else {
                    return Err(self.expected("FIRST or LAST"));
                }
            } else {
                None
            };
            items.push(OrderBy {
                expr,
                descending,
                nulls_first,
            });
            if !self.eat(&Tok::Comma) {
                return Ok(items);
            }
        }
    }

    /// `*`, `alias.*` or `expr [[AS] alias]`.
    fn parse_select_item(&mut self) -> Result<SelectItem> {
        let pos = self.pos();
        if self.eat(&Tok::Star) {
            return Ok(SelectItem::Star {
                qualifier: None,
                pos,
            });
        }
        if self.is_ident_at(0)
            && self.peek_at(1).tok == Tok::Period
            && self.peek_at(2).tok == Tok::Star
        {
            let qualifier = self.ident()?;
            self.advance();
            self.advance();
            return Ok(SelectItem::Star {
                qualifier: Some(qualifier),
                pos,
            });
        }
        let expr = self.parse_expr()?;
        let alias = if self.eat_kw("AS") {
            Some(self.ident_as("an alias")?)
        } else if self.is_ident_at(0) {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(SelectItem::Expr { expr, alias })
    }

    /// `source [[AS] alias] { join }`
    fn parse_relation(&mut self) -> Result<Relation> {
        let source = self.parse_aliased_source()?;
        let mut joins = Vec::new();
        loop {
            let pos = self.pos();
            let kind = if self.eat_kw("JOIN") || self.eat_kws(&["INNER", "JOIN"]) {
                JoinKind::Inner
            } else if self.at_kw("LEFT") || self.at_kw("RIGHT") || self.at_kw("FULL") {
                let kind = if self.eat_kw("LEFT") {
                    JoinKind::Left
                } else if self.eat_kw("RIGHT") {
                    JoinKind::Right
                } else {
                    self.advance();
                    JoinKind::Full
                };
                self.eat_kw("OUTER");
                self.expect_kw("JOIN")?;
                kind
            } else if self.eat_kws(&["OUTER", "JOIN"]) {
                JoinKind::Full
            } else if self.at_kw("INNER") || self.at_kw("OUTER") {
                self.advance();
                return Err(self.expected("JOIN"));
            } else {
                break;
            };
            let right = self.parse_aliased_source()?;
            let within = if self.eat_kw("WITHIN") {
                Some(self.parse_within()?)
            } else {
                None
            };
            if !self.eat_kw("ON") {
                return Err(self.expected(if within.is_some() {
                    "ON"
                } else {
                    "WITHIN or ON"
                }));
            }
            let on = self.parse_expr()?;
            joins.push(Join {
                kind,
                right,
                within,
                on,
                pos,
            });
        }
        Ok(Relation { source, joins })
    }

    /// A source name and its optional alias. A bare `EMIT` before `CHANGES`/`FINAL` and a
    /// bare `PARTITION` before `BY` start clauses rather than name the alias.
    fn parse_aliased_source(&mut self) -> Result<AliasedSource> {
        let name = self.ident_as("a source name")?;
        let alias = if self.eat_kw("AS") {
            Some(self.ident_as("an alias")?)
        } else if self.is_ident_at(0) && !self.at_clause_keyword() {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(AliasedSource { name, alias })
    }

    /// Whether a non-reserved keyword that starts a clause comes next.
    fn at_clause_keyword(&self) -> bool {
        (self.at_kw("EMIT") && (self.at_kw_n(1, "CHANGES") || self.at_kw_n(1, "FINAL")))
            || (self.at_kw("PARTITION") && self.at_kw_n(1, "BY"))
            || (self.at_kw("ORDER") && self.at_kw_n(1, "BY"))
    }

    /// After `WITHIN`: `n unit` or `(n unit, n unit)`, then `[GRACE PERIOD n unit]`.
    fn parse_within(&mut self) -> Result<WithinExpr> {
        let (before_ms, after_ms) = if self.eat(&Tok::LParen) {
            let before = self.parse_duration()?;
            self.expect(&Tok::Comma, "','")?;
            let after = self.parse_duration()?;
            self.expect(&Tok::RParen, "')'")?;
            (before, after)
        } else {
            let d = self.parse_duration()?;
            (d, d)
        };
        let grace_ms = if self.eat_kws(&["GRACE", "PERIOD"]) {
            Some(self.parse_duration()?)
        } else {
            None
        };
        Ok(WithinExpr {
            before_ms,
            after_ms,
            grace_ms,
        })
    }

    /// After `WINDOW`: `TUMBLING (...)`, `HOPPING (...)` or `SESSION (...)`, optionally
    /// preceded by a window name, which is ignored.
    fn parse_window(&mut self) -> Result<WindowExpr> {
        let is_kind = |p: &Self, n: usize| {
            p.at_kw_n(n, "TUMBLING") || p.at_kw_n(n, "HOPPING") || p.at_kw_n(n, "SESSION")
        };
        if !is_kind(self, 0) && self.is_ident_at(0) && is_kind(self, 1) {
            self.advance();
        }
        if self.eat_kw("TUMBLING") {
            self.expect(&Tok::LParen, "'('")?;
            self.expect_kw("SIZE")?;
            let size_ms = self.parse_duration()?;
            let (retention_ms, grace_ms) = self.parse_window_tail()?;
            Ok(WindowExpr::Tumbling {
                size_ms,
                retention_ms,
                grace_ms,
            })
        } else if self.eat_kw("HOPPING") {
            self.expect(&Tok::LParen, "'('")?;
            self.expect_kw("SIZE")?;
            let size_ms = self.parse_duration()?;
            self.expect(&Tok::Comma, "','")?;
            self.expect_kw("ADVANCE")?;
            self.expect_kw("BY")?;
            let advance_ms = self.parse_duration()?;
            let (retention_ms, grace_ms) = self.parse_window_tail()?;
            Ok(WindowExpr::Hopping {
                size_ms,
                advance_ms,
                retention_ms,
                grace_ms,
            })
        } else if self.eat_kw("SESSION") {
            self.expect(&Tok::LParen, "'('")?;
            let gap_ms = self.parse_duration()?;
            let (retention_ms, grace_ms) = self.parse_window_tail()?;
            Ok(WindowExpr::Session {
                gap_ms,
                retention_ms,
                grace_ms,
            })
        } else {
            Err(self.expected("TUMBLING, HOPPING or SESSION"))
        }
    }

    /// `[, RETENTION n unit] [, GRACE PERIOD n unit] )`
    fn parse_window_tail(&mut self) -> Result<(Option<i64>, Option<i64>)> {
        let mut retention = None;
        let mut grace = None;
        while self.eat(&Tok::Comma) {
            if retention.is_none() && grace.is_none() && self.eat_kw("RETENTION") {
                retention = Some(self.parse_duration()?);
            } else if grace.is_none() && self.eat_kws(&["GRACE", "PERIOD"]) {
                grace = Some(self.parse_duration()?);
            } else {
                return Err(self.expected(if grace.is_none() && retention.is_none() {
                    "RETENTION or GRACE PERIOD"
                } else if grace.is_none() {
                    "GRACE PERIOD"
                } else {
                    "')'"
                }));
            }
        }
        self.expect(
            &Tok::RParen,
            if grace.is_some() { "')'" } else { "',' or ')'" },
        )?;
        Ok((retention, grace))
    }

    /// `n unit` in milliseconds.
    fn parse_duration(&mut self) -> Result<i64> {
        let (n, pos) = self.integer("a duration (an integer and a time unit)")?;
        let unit = match self.tok() {
            Tok::Word { value, quote: None } => unit_millis(value),
            _ => None,
        };
        let Some(unit) = unit else {
            return Err(self.expected(
                "a time unit (MILLISECOND, SECOND, MINUTE, HOUR, DAY or their plurals)",
            ));
        };
        self.advance();
        n.checked_mul(unit)
            .ok_or_else(|| parse_error(pos, "the duration is too long"))
    }

    /// The expressions of `GROUP BY` or `PARTITION BY`: `e, ...` or `(e, ...)`, value
    /// expressions only (no `AND`, `OR` or predicates). A list starting with `(` is first
    /// read as expressions (`(a + b) * 2, c`), then as a parenthesized list, as ksqlDB's
    /// grammar orders the two.
    fn parse_grouping(&mut self) -> Result<Vec<Expr>> {
        if !self.at(&Tok::LParen) {
            return self.parse_value_list();
        }
        let mark = self.mark();
        let first_err = match self.parse_value_list() {
            Ok(list) => return Ok(list),
            Err(e) => e,
        };
        self.reset(mark);
        self.advance();
        let second = self.parse_value_list().and_then(|list| {
            self.expect(&Tok::RParen, "',' or ')'")?;
            Ok(list)
        });
        match second {
            Ok(list) => Ok(list),
            // Report whichever reading got further.
            Err(e) if err_pos(&e) > err_pos(&first_err) => Err(e),
            Err(_) => Err(first_err),
        }
    }

    fn parse_value_list(&mut self) -> Result<Vec<Expr>> {
        let mut list = vec![self.parse_value()?];
        while self.eat(&Tok::Comma) {
            list.push(self.parse_value()?);
        }
        Ok(list)
    }
}

/// The position of a parse error, for comparing how far two attempts got.
fn err_pos(e: &SqlError) -> Pos {
    match e {
        SqlError::Parse { pos, .. } => *pos,
        SqlError::Analysis { pos, .. } | SqlError::Unsupported { pos, .. } => {
            pos.unwrap_or_default()
        }
        _ => Pos::default(),
    }
}
