//! What a query returns to a client: its columns (name, type, whether the column is part of
//! the key) and rows of values. Pull queries, push queries, the REST API and the Arrow
//! encoding share these types.

use crate::types::SqlType;
use crate::value::{Row, Value};

/// A result column.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultColumn {
    pub name: String,
    pub ty: SqlType,
    /// A key column (ksqlDB's header says `KEY` after the type, for pull queries).
    pub key: bool,
}

impl ResultColumn {
    pub fn new(name: impl Into<String>, ty: SqlType, key: bool) -> ResultColumn {
        ResultColumn {
            name: name.into(),
            ty,
            key,
        }
    }
}

/// ksqlDB's header schema: `` `ID` STRING KEY, `COUNT` BIGINT ``. Key columns are marked
/// only when `mark_keys` (pull queries mark them, push queries do not).
pub fn header_schema(columns: &[ResultColumn], mark_keys: bool) -> String {
    columns
        .iter()
        .map(|c| {
            if mark_keys && c.key {
                format!("`{}` {} KEY", c.name, c.ty)
            } else {
                format!("`{}` {}", c.name, c.ty)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of a finished query (a pull query).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Row>,
}

impl QueryResult {
    /// The value of `column` in `row`, by name.
    pub fn get<'a>(&self, row: &'a Row, column: &str) -> Option<&'a Value> {
        let i = self.columns.iter().position(|c| c.name == column)?;
        row.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_marks_keys_only_when_asked() {
        let cols = vec![
            ResultColumn::new("ID", SqlType::String, true),
            ResultColumn::new("COUNT", SqlType::Bigint, false),
        ];
        assert_eq!(
            header_schema(&cols, true),
            "`ID` STRING KEY, `COUNT` BIGINT"
        );
        assert_eq!(header_schema(&cols, false), "`ID` STRING, `COUNT` BIGINT");
    }
}
