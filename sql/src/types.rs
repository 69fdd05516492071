//! SQL types as ksqlDB has them, and the columns of a schema.

use std::fmt;

/// A SQL type. Struct fields keep their declared order and names (upper-cased unless quoted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqlType {
    Boolean,
    Int,
    Bigint,
    Double,
    /// DECIMAL(precision, scale).
    Decimal(u8, u8),
    String,
    Bytes,
    /// Milliseconds since the epoch, UTC.
    Timestamp,
    /// Days since the epoch.
    Date,
    /// Milliseconds since midnight.
    Time,
    Array(Box<SqlType>),
    Map(Box<SqlType>, Box<SqlType>),
    Struct(Vec<(String, SqlType)>),
}

impl SqlType {
    pub fn array(inner: SqlType) -> SqlType {
        SqlType::Array(Box::new(inner))
    }

    pub fn map(key: SqlType, value: SqlType) -> SqlType {
        SqlType::Map(Box::new(key), Box::new(value))
    }

    /// INT, BIGINT, DECIMAL or DOUBLE.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal(..)
        )
    }

    /// Not ARRAY, MAP or STRUCT.
    pub fn is_primitive(&self) -> bool {
        !matches!(
            self,
            SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
        )
    }

    /// The struct field `name` (exact match), if this is a struct that has it.
    pub fn field(&self, name: &str) -> Option<&SqlType> {
        match self {
            SqlType::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, t)| t),
            _ => None,
        }
    }

    /// The DECIMAL(precision, scale) that holds every value of an integral type, as ksqlDB
    /// widens INT to DECIMAL(10, 0) and BIGINT to DECIMAL(19, 0).
    pub fn as_decimal(&self) -> Option<(u8, u8)> {
        match self {
            SqlType::Int => Some((10, 0)),
            SqlType::Bigint => Some((19, 0)),
            SqlType::Decimal(p, s) => Some((*p, *s)),
            _ => None,
        }
    }

    /// Whether a value of `self` may be used where `to` is expected without an explicit
    /// CAST: equal types, or numeric widening INT -> BIGINT -> DECIMAL -> DOUBLE (ksqlDB's
    /// implicit casts for function arguments and comparisons).
    pub fn widens_to(&self, to: &SqlType) -> bool {
        if self == to {
            return true;
        }
        match (self, to) {
            (SqlType::Int, SqlType::Bigint | SqlType::Double | SqlType::Decimal(..)) => true,
            (SqlType::Bigint, SqlType::Double | SqlType::Decimal(..)) => true,
            (SqlType::Decimal(..), SqlType::Double | SqlType::Decimal(..)) => true,
            (SqlType::Array(a), SqlType::Array(b)) => a.widens_to(b),
            (SqlType::Map(ak, av), SqlType::Map(bk, bv)) => ak.widens_to(bk) && av.widens_to(bv),
            _ => false,
        }
    }
}

impl fmt::Display for SqlType {
    /// ksqlDB's spelling: `INTEGER`, `BIGINT`, `DECIMAL(4, 2)`, `ARRAY<STRING>`,
    /// `MAP<STRING, INTEGER>`, ``STRUCT<`A` INTEGER, `B` STRING>``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Int => f.write_str("INTEGER"),
            SqlType::Bigint => f.write_str("BIGINT"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p}, {s})"),
            SqlType::String => f.write_str("STRING"),
            SqlType::Bytes => f.write_str("BYTES"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::Array(t) => write!(f, "ARRAY<{t}>"),
            SqlType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            SqlType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{n}` {t}")?;
                }
                f.write_str(">")
            }
        }
    }
}

/// Where a column lives in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// In the record's key (`KEY` / `PRIMARY KEY`).
    Key,
    /// In the record's value.
    Value,
    /// The record's headers (`HEADERS`), or one header (`HEADER('k')`).
    Headers,
}

/// A column of a source's schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
    pub namespace: Namespace,
    /// For a `HEADER('key')` column, the header key.
    pub header_key: Option<String>,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: SqlType, namespace: Namespace) -> Column {
        Column {
            name: name.into(),
            ty,
            namespace,
            header_key: None,
        }
    }
}

/// The pseudo-columns every source has, as ksqlDB names them.
pub const ROWTIME: &str = "ROWTIME";
pub const ROWPARTITION: &str = "ROWPARTITION";
pub const ROWOFFSET: &str = "ROWOFFSET";
pub const WINDOWSTART: &str = "WINDOWSTART";
pub const WINDOWEND: &str = "WINDOWEND";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_ksql_spelling() {
        let t = SqlType::Struct(vec![
            ("A".into(), SqlType::Int),
            (
                "B".into(),
                SqlType::map(SqlType::String, SqlType::Decimal(4, 2)),
            ),
        ]);
        assert_eq!(
            t.to_string(),
            "STRUCT<`A` INTEGER, `B` MAP<STRING, DECIMAL(4, 2)>>"
        );
    }

    #[test]
    fn widening_follows_numeric_order() {
        assert!(SqlType::Int.widens_to(&SqlType::Bigint));
        assert!(SqlType::Bigint.widens_to(&SqlType::Double));
        assert!(!SqlType::Double.widens_to(&SqlType::Bigint));
        assert!(!SqlType::String.widens_to(&SqlType::Int));
    }
}
