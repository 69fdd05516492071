//! Expressions and types (ksqlDB's `expression`, `valueExpression`, `primaryExpression` and
//! `type` rules).
//!
//! Precedence, lowest first: `OR`; `AND`; `NOT`; one predicate (comparison, `IS [NOT] NULL`,
//! `IS [NOT] DISTINCT FROM`, `[NOT] BETWEEN`, `[NOT] IN`, `[NOT] LIKE`), which does not
//! chain; `||`; `+ -`; `* / %`; unary `- +`; postfix `->field` and `[index]`. A `-` right
//! before a number is part of the literal, as in ksqlDB, so `-9223372036854775808` is a
//! BIGINT.

use crate::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, TypeExpr, UnaryOp};
use crate::error::{Result, SqlError};

use super::cursor::{parse_error, unit_millis, Parser};
use super::lexer::Tok;

impl Parser<'_> {
    /// `expression`: a boolean expression, the loosest kind.
    pub fn parse_expr(&mut self) -> Result<Expr> {
        let mut left = self.parse_and()?;
        while self.eat_kw("OR") {
            let right = self.parse_and()?;
            left = binary(BinaryOp::Or, left, right);
        }
        Ok(left)
    }

    /// `a AND b AND ...`
    fn parse_and(&mut self) -> Result<Expr> {
        let mut left = self.parse_not()?;
        while self.eat_kw("AND") {
            let right = self.parse_not()?;
            left = binary(BinaryOp::And, left, right);
        }
        Ok(left)
    }

    /// `NOT e`, binding tighter than `AND`: `NOT a AND b` is `(NOT a) AND b`.
    fn parse_not(&mut self) -> Result<Expr> {
        if self.at_kw("NOT") {
            let pos = self.advance().pos;
            let expr = self.nested(|p| p.parse_not())?;
            return Ok(Expr::new(
                ExprKind::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(expr),
                },
                pos,
            ));
        }
        self.parse_predicated()
    }

    /// A value expression followed by at most one predicate. Each predicate has its own
    /// function so that the frames on a deep recursion stay small.
    fn parse_predicated(&mut self) -> Result<Expr> {
        let value = self.parse_value()?;
        let negated = self.at_kw("NOT")
            && (self.at_kw_n(1, "BETWEEN") || self.at_kw_n(1, "IN") || self.at_kw_n(1, "LIKE"));
        let t = self.peek_at(usize::from(negated));
        match &t.tok {
            Tok::Eq | Tok::Neq | Tok::Lt | Tok::LtEq | Tok::Gt | Tok::GtEq => {
                self.parse_comparison(value)
            }
            Tok::Word {
                value: w,
                quote: None,
            } => match w.to_ascii_uppercase().as_str() {
                "IS" => self.parse_is(value),
                "BETWEEN" => self.parse_between(value, negated),
                "IN" => self.parse_in(value, negated),
                "LIKE" => self.parse_like(value, negated),
                _ => Ok(value),
            },
            _ => Ok(value),
        }
    }

    /// `value op right`, at the comparison operator.
    fn parse_comparison(&mut self, value: Expr) -> Result<Expr> {
        let op = match self.advance().tok {
            Tok::Eq => BinaryOp::Eq,
            Tok::Neq => BinaryOp::NotEq,
            Tok::Lt => BinaryOp::Lt,
            Tok::LtEq => BinaryOp::LtEq,
            Tok::Gt => BinaryOp::Gt,
            _ => BinaryOp::GtEq,
        };
        let right = self.parse_value()?;
        Ok(binary(op, value, right))
    }

    /// `value IS [NOT] NULL` or `value IS [NOT] DISTINCT FROM right`, at `IS`.
    fn parse_is(&mut self, value: Expr) -> Result<Expr> {
        self.advance();
        let pos = value.pos;
        let negated = self.eat_kw("NOT");
        if self.eat_kw("NULL") {
            return Ok(Expr::new(
                ExprKind::IsNull {
                    expr: Box::new(value),
                    negated,
                },
                pos,
            ));
        }
        if !self.eat_kw("DISTINCT") {
            return Err(self.expected(if negated {
                "NULL or DISTINCT FROM"
            } else {
                "NOT, NULL or DISTINCT FROM"
            }));
        }
        self.expect_kw("FROM")?;
        let right = self.parse_value()?;
        Ok(Expr::new(
            ExprKind::IsDistinctFrom {
                left: Box::new(value),
                right: Box::new(right),
                negated,
            },
            pos,
        ))
    }

    /// `value [NOT] BETWEEN low AND high`, at `NOT` or `BETWEEN`.
    fn parse_between(&mut self, value: Expr, negated: bool) -> Result<Expr> {
        self.skip_predicate_keywords(negated);
        let pos = value.pos;
        let low = self.parse_value()?;
        self.expect_kw("AND")?;
        let high = self.parse_value()?;
        Ok(Expr::new(
            ExprKind::Between {
                expr: Box::new(value),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            },
            pos,
        ))
    }

    /// `value [NOT] IN (e, ...)`, at `NOT` or `IN`.
    fn parse_in(&mut self, value: Expr, negated: bool) -> Result<Expr> {
        self.skip_predicate_keywords(negated);
        let pos = value.pos;
        self.expect(&Tok::LParen, "'('")?;
        let mut list = vec![self.parse_expr()?];
        while self.eat(&Tok::Comma) {
            list.push(self.parse_expr()?);
        }
        self.expect(&Tok::RParen, "',' or ')'")?;
        Ok(Expr::new(
            ExprKind::InList {
                expr: Box::new(value),
                list,
                negated,
            },
            pos,
        ))
    }

    /// `value [NOT] LIKE pattern [ESCAPE 'c']`, at `NOT` or `LIKE`.
    fn parse_like(&mut self, value: Expr, negated: bool) -> Result<Expr> {
        self.skip_predicate_keywords(negated);
        let pos = value.pos;
        let pattern = self.parse_value()?;
        let escape = if self.eat_kw("ESCAPE") {
            let (s, spos) = self.string("an escape character string")?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => {
                    return Err(parse_error(
                        spos,
                        format!("expected a single character escape, found '{s}'"),
                    ))
                }
            }
        } else {
            None
        };
        Ok(Expr::new(
            ExprKind::Like {
                expr: Box::new(value),
                pattern: Box::new(pattern),
                escape,
                negated,
            },
            pos,
        ))
    }

    /// Consumes `[NOT] BETWEEN|IN|LIKE`.
    fn skip_predicate_keywords(&mut self, negated: bool) {
        if negated {
            self.advance();
        }
        self.advance();
    }

    /// `valueExpression`: arithmetic and `||`, no predicates and no `AND`/`OR` (as in
    /// `GROUP BY`, `PARTITION BY`, `VALUES`, comparison operands). Every recursion of the
    /// expression grammar goes through here (or through `NOT`/unary chains), so this is
    /// where nesting is counted.
    pub fn parse_value(&mut self) -> Result<Expr> {
        self.nested(|p| p.parse_value_prec(0))
    }

    /// Precedence climbing over `||` (1), `+ -` (2) and `* / %` (3), all left-associative.
    fn parse_value_prec(&mut self, min: u8) -> Result<Expr> {
        let mut left = self.parse_unary()?;
        loop {
            let (op, prec) = match self.tok() {
                Tok::Concat => (BinaryOp::Concat, 1),
                Tok::Plus => (BinaryOp::Plus, 2),
                Tok::Minus => (BinaryOp::Minus, 2),
                Tok::Star => (BinaryOp::Multiply, 3),
                Tok::Slash => (BinaryOp::Divide, 3),
                Tok::Percent => (BinaryOp::Modulo, 3),
                _ => {
                    if self.at_kw("AT") && self.at_kw_n(1, "TIME") {
                        return Err(SqlError::unsupported(
                            Some(self.pos()),
                            "AT TIME ZONE expressions",
                        ));
                    }
                    break;
                }
            };
            if prec < min {
                break;
            }
            self.advance();
            let right = self.parse_value_prec(prec + 1)?;
            left = binary(op, left, right);
        }
        Ok(left)
    }

    /// `-e`, `+e` (a `-` before a number is folded into the literal), then postfix
    /// operators on a primary expression.
    fn parse_unary(&mut self) -> Result<Expr> {
        let op = match self.tok() {
            Tok::Minus if matches!(self.peek_at(1).tok, Tok::Number(_)) => {
                let (lit, pos) = self.number_literal()?;
                let base = Expr::new(ExprKind::Literal(lit), pos);
                return self.parse_postfix(base);
            }
            Tok::Minus => UnaryOp::Minus,
            Tok::Plus => UnaryOp::Plus,
            _ => {
                let base = self.parse_primary()?;
                return self.parse_postfix(base);
            }
        };
        let pos = self.advance().pos;
        let expr = self.nested(|p| p.parse_unary())?;
        Ok(Expr::new(
            ExprKind::Unary {
                op,
                expr: Box::new(expr),
            },
            pos,
        ))
    }

    /// `e[index]` and `e->field`, any number of them.
    fn parse_postfix(&mut self, mut expr: Expr) -> Result<Expr> {
        loop {
            let pos = expr.pos;
            if self.eat(&Tok::LBracket) {
                let index = self.parse_value()?;
                self.expect(&Tok::RBracket, "']'")?;
                expr = Expr::new(
                    ExprKind::Subscript {
                        expr: Box::new(expr),
                        index: Box::new(index),
                    },
                    pos,
                );
            } else if self.eat(&Tok::Arrow) {
                if self.at(&Tok::Star) {
                    return Err(SqlError::unsupported(
                        Some(self.pos()),
                        "selecting all the fields of a struct with '->*'",
                    ));
                }
                let field = self.ident_as("a field name")?;
                expr = Expr::new(
                    ExprKind::Dereference {
                        expr: Box::new(expr),
                        field,
                    },
                    pos,
                );
            } else {
                return Ok(expr);
            }
        }
    }

    /// A literal, a parenthesized expression, a constructor, `CASE`, `CAST`, a column or a
    /// function call.
    fn parse_primary(&mut self) -> Result<Expr> {
        let next_is = |p: &Self, tok: Tok| p.peek_at(1).tok == tok;
        match self.tok() {
            Tok::Number(_) => self.parse_literal(),
            Tok::Str(_) => self.parse_literal(),
            Tok::LParen => self.parse_parenthesized(),
            Tok::Word { quote: None, value } => {
                let kw = |k: &str| value.eq_ignore_ascii_case(k);
                if kw("NULL") || kw("TRUE") || kw("FALSE") {
                    self.parse_literal()
                } else if kw("CASE") {
                    self.parse_case()
                } else if kw("CAST") {
                    self.parse_cast()
                } else if kw("ARRAY") && next_is(self, Tok::LBracket) {
                    self.parse_array()
                } else if kw("MAP") && next_is(self, Tok::LParen) {
                    self.parse_map()
                } else if kw("STRUCT") && next_is(self, Tok::LParen) {
                    self.parse_struct()
                } else {
                    self.parse_name_expr()
                }
            }
            Tok::Word { .. } => self.parse_name_expr(),
            _ => Err(self.expected("an expression")),
        }
    }

    /// A number, string, boolean or `NULL` literal.
    fn parse_literal(&mut self) -> Result<Expr> {
        let pos = self.pos();
        let lit = if matches!(self.tok(), Tok::Number(_)) {
            self.number_literal()?.0
        } else if matches!(self.tok(), Tok::Str(_)) {
            Literal::String(self.string("a string")?.0)
        } else if self.eat_kw("NULL") {
            Literal::Null
        } else if self.eat_kw("TRUE") {
            Literal::Boolean(true)
        } else if self.eat_kw("FALSE") {
            Literal::Boolean(false)
        } else {
            return Err(self.expected("a literal"));
        };
        Ok(Expr::new(ExprKind::Literal(lit), pos))
    }

    /// `( expression )`
    fn parse_parenthesized(&mut self) -> Result<Expr> {
        self.expect(&Tok::LParen, "'('")?;
        let inner = self.parse_expr()?;
        self.expect(&Tok::RParen, "')'")?;
        Ok(inner)
    }

    /// A column (`name`, `qualifier.name`) or a function call (`name(args)`).
    fn parse_name_expr(&mut self) -> Result<Expr> {
        let name = self.ident_as("an expression")?;
        let pos = name.pos;
        if self.at(&Tok::LParen) {
            return self.parse_call(name);
        }
        if self.at(&Tok::Period) && self.is_ident_at(1) {
            self.advance();
            let column = self.ident_as("a column name")?;
            return Ok(Expr::new(
                ExprKind::Column {
                    qualifier: Some(name),
                    name: column,
                },
                pos,
            ));
        }
        if self.at(&Tok::Period) {
            self.advance();
            return Err(self.expected("a column name"));
        }
        Ok(Expr::new(
            ExprKind::Column {
                qualifier: None,
                name,
            },
            pos,
        ))
    }

    /// The arguments of a call, from `(`: `*`, or expressions, window units (`SECONDS`, as
    /// columns) and lambdas.
    fn parse_call(&mut self, name: Ident) -> Result<Expr> {
        let pos = name.pos;
        self.expect(&Tok::LParen, "'('")?;
        if self.at(&Tok::Star) && matches!(self.peek_at(1).tok, Tok::RParen) {
            self.advance();
            self.advance();
            return Ok(Expr::new(
                ExprKind::Function {
                    name,
                    args: Vec::new(),
                    star: true,
                },
                pos,
            ));
        }
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.parse_argument()?);
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RParen, "',' or ')'")?;
                break;
            }
        }
        Ok(Expr::new(
            ExprKind::Function {
                name,
                args,
                star: false,
            },
            pos,
        ))
    }

    /// One function argument: a lambda, a bare window unit, or an expression.
    fn parse_argument(&mut self) -> Result<Expr> {
        if let Some(lambda) = self.try_lambda()? {
            return Ok(lambda);
        }
        let t = self.peek();
        if let Tok::Word { value, quote: None } = &t.tok {
            if unit_millis(value).is_some()
                && matches!(self.peek_at(1).tok, Tok::Comma | Tok::RParen)
            {
                let name = Ident {
                    name: value.to_ascii_uppercase(),
                    pos: t.pos,
                };
                self.advance();
                return Ok(Expr::new(
                    ExprKind::Column {
                        qualifier: None,
                        name: name.clone(),
                    },
                    name.pos,
                ));
            }
        }
        self.parse_expr()
    }

    /// `x => body` or `(x, y) => body`, if that is what comes next.
    fn try_lambda(&mut self) -> Result<Option<Expr>> {
        let pos = self.pos();
        let params_len = if self.is_ident_at(0) && self.peek_at(1).tok == Tok::FatArrow {
            1
        } else if self.at(&Tok::LParen) {
            // `(` ident (`,` ident)* `)` `=>`
            let mut n = 1;
            loop {
                if !self.is_ident_at(n) {
                    return Ok(None);
                }
                match self.peek_at(n + 1).tok {
                    Tok::Comma => n += 2,
                    Tok::RParen => break,
                    _ => return Ok(None),
                }
            }
            if self.peek_at(n + 2).tok != Tok::FatArrow {
                return Ok(None);
            }
            n + 3
        } else {
            return Ok(None);
        };
        let mut params = Vec::new();
        if params_len == 1 {
            params.push(self.ident()?);
        } else {
            self.advance();
            loop {
                params.push(self.ident()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
            self.expect(&Tok::RParen, "')'")?;
        }
        self.expect(&Tok::FatArrow, "'=>'")?;
        let body = self.parse_expr()?;
        Ok(Some(Expr::new(
            ExprKind::Lambda {
                params,
                body: Box::new(body),
            },
            pos,
        )))
    }

    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`
    fn parse_case(&mut self) -> Result<Expr> {
        let pos = self.expect_kw("CASE")?.pos;
        let operand = if self.at_kw("WHEN") {
            None
        } else {
            Some(Box::new(self.parse_value()?))
        };
        let mut whens = Vec::new();
        while self.eat_kw("WHEN") {
            let cond = self.parse_expr()?;
            self.expect_kw("THEN")?;
            let result = self.parse_expr()?;
            whens.push((cond, result));
        }
        if whens.is_empty() {
            return Err(self.expected("WHEN"));
        }
        let else_ = if self.eat_kw("ELSE") {
            Some(Box::new(self.parse_expr()?))
        } else {
            None
        };
        if !self.eat_kw("END") {
            return Err(self.expected(if else_.is_some() {
                "END"
            } else {
                "WHEN, ELSE or END"
            }));
        }
        Ok(Expr::new(
            ExprKind::Case {
                operand,
                whens,
                else_,
            },
            pos,
        ))
    }

    /// `CAST(e AS type)`
    fn parse_cast(&mut self) -> Result<Expr> {
        let pos = self.expect_kw("CAST")?.pos;
        self.expect(&Tok::LParen, "'('")?;
        let expr = self.parse_expr()?;
        self.expect_kw("AS")?;
        let ty = self.parse_type()?;
        self.expect(&Tok::RParen, "')'")?;
        Ok(Expr::new(
            ExprKind::Cast {
                expr: Box::new(expr),
                ty,
            },
            pos,
        ))
    }

    /// `ARRAY[e, ...]`
    fn parse_array(&mut self) -> Result<Expr> {
        let pos = self.advance().pos;
        self.expect(&Tok::LBracket, "'['")?;
        let mut items = Vec::new();
        if !self.eat(&Tok::RBracket) {
            loop {
                items.push(self.parse_expr()?);
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RBracket, "',' or ']'")?;
                break;
            }
        }
        Ok(Expr::new(ExprKind::Array(items), pos))
    }

    /// `MAP(k := v, ...)`
    fn parse_map(&mut self) -> Result<Expr> {
        let pos = self.advance().pos;
        self.expect(&Tok::LParen, "'('")?;
        let mut entries = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                let k = self.parse_expr()?;
                self.expect(&Tok::Assign, "':='")?;
                let v = self.parse_expr()?;
                entries.push((k, v));
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RParen, "',' or ')'")?;
                break;
            }
        }
        Ok(Expr::new(ExprKind::Map(entries), pos))
    }

    /// `STRUCT(name := v, ...)`
    fn parse_struct(&mut self) -> Result<Expr> {
        let pos = self.advance().pos;
        self.expect(&Tok::LParen, "'('")?;
        let mut fields = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                let name = self.ident_as("a field name")?;
                self.expect(&Tok::Assign, "':='")?;
                let v = self.parse_expr()?;
                fields.push((name, v));
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RParen, "',' or ')'")?;
                break;
            }
        }
        Ok(Expr::new(ExprKind::Struct(fields), pos))
    }

    /// A type: a built-in name, `DECIMAL(p, s)`, `ARRAY<T>`, `MAP<K, V>`,
    /// `STRUCT<name T, ...>`, or the name of a type from `CREATE TYPE`.
    pub fn parse_type(&mut self) -> Result<TypeExpr> {
        self.nested(|p| p.parse_type_inner())
    }

    fn parse_type_inner(&mut self) -> Result<TypeExpr> {
        if self.at_kw("DECIMAL") {
            self.advance();
            self.expect(&Tok::LParen, "'('")?;
            let (precision, ppos) = self.unsigned("a precision")?;
            self.expect(&Tok::Comma, "','")?;
            let (scale, spos) = self.unsigned("a scale")?;
            self.expect(&Tok::RParen, "')'")?;
            let precision = u32::try_from(precision)
                .map_err(|_| parse_error(ppos, "DECIMAL precision out of range"))?;
            let scale = u32::try_from(scale)
                .map_err(|_| parse_error(spos, "DECIMAL scale out of range"))?;
            return Ok(TypeExpr::Decimal(precision, scale));
        }
        let unquoted = matches!(self.tok(), Tok::Word { quote: None, .. });
        let name = self.ident_as("a type")?;
        if unquoted {
            match name.name.as_str() {
                "ARRAY" if self.at(&Tok::Lt) => {
                    self.advance();
                    let item = self.parse_type()?;
                    self.expect(&Tok::Gt, "'>'")?;
                    return Ok(TypeExpr::Array(Box::new(item)));
                }
                "MAP" if self.at(&Tok::Lt) => {
                    self.advance();
                    let k = self.parse_type()?;
                    self.expect(&Tok::Comma, "','")?;
                    let v = self.parse_type()?;
                    self.expect(&Tok::Gt, "'>'")?;
                    return Ok(TypeExpr::Map(Box::new(k), Box::new(v)));
                }
                "STRUCT" if self.at(&Tok::Neq) && self.src_at_current() == "<>" => {
                    self.advance();
                    return Ok(TypeExpr::Struct(Vec::new()));
                }
                "STRUCT" if self.at(&Tok::Lt) => {
                    self.advance();
                    let mut fields = Vec::new();
                    if !self.eat(&Tok::Gt) {
                        loop {
                            let field = self.ident_as("a field name")?;
                            let ty = self.parse_type()?;
                            fields.push((field, ty));
                            if self.eat(&Tok::Comma) {
                                continue;
                            }
                            self.expect(&Tok::Gt, "',' or '>'")?;
                            break;
                        }
                    }
                    return Ok(TypeExpr::Struct(fields));
                }
                _ => {}
            }
        }
        self.skip_type_parameters()?;
        Ok(match name.name.as_str() {
            "BOOLEAN" => TypeExpr::Boolean,
            "INT" | "INTEGER" => TypeExpr::Int,
            "BIGINT" => TypeExpr::Bigint,
            "DOUBLE" => TypeExpr::Double,
            "STRING" | "VARCHAR" => TypeExpr::String,
            "BYTES" => TypeExpr::Bytes,
            "TIMESTAMP" => TypeExpr::Timestamp,
            "DATE" => TypeExpr::Date,
            "TIME" => TypeExpr::Time,
            "ARRAY" | "MAP" | "STRUCT" if unquoted => {
                return Err(self.expected("'<'"));
            }
            _ => TypeExpr::Custom(name.name, name.pos),
        })
    }

    /// ksqlDB's grammar lets a base type take parameters, each an integer or `STRING`
    /// (`VARCHAR(STRING)`, `INT(10)`), which mean nothing to its type parser: skip them.
    fn skip_type_parameters(&mut self) -> Result<()> {
        if !self.eat(&Tok::LParen) {
            return Ok(());
        }
        loop {
            let is_param = matches!(self.tok(), Tok::Number(n) if n.bytes().all(|b| b.is_ascii_digit()))
                || self.at_kw("STRING");
            if !is_param {
                return Err(self.expected("a type parameter (an integer or STRING)"));
            }
            self.advance();
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(&Tok::RParen, "',' or ')'")?;
            return Ok(());
        }
    }

    /// The text of the current token.
    fn src_at_current(&self) -> &str {
        let t = self.peek();
        self.src().get(t.start..t.end).unwrap_or("")
    }
}

/// `left op right`, positioned where `left` starts.
fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    let pos = left.pos;
    Expr::new(
        ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        pos,
    )
}
