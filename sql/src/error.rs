//! The engine's errors. Every error that comes from a statement says where (line and
//! column) when it can.

use crate::ast::Pos;

/// What went wrong with a statement or a record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    /// The text is not a statement of the dialect.
    #[error("{pos}: syntax error: {message}")]
    Parse { pos: Pos, message: String },
    /// The statement parses but cannot run (unknown source, type mismatch, ...).
    #[error("{}{message}", pos.map(|p| format!("{p}: ")).unwrap_or_default())]
    Analysis { pos: Option<Pos>, message: String },
    /// The statement is valid ksqlDB that Brook does not run yet.
    #[error("{}not supported yet: {message}", pos.map(|p| format!("{p}: ")).unwrap_or_default())]
    Unsupported { pos: Option<Pos>, message: String },
    /// A record could not be read or written in its format, or an expression failed on it.
    #[error("{0}")]
    Record(String),
    /// Anything from the streams layer (building or running a topology).
    #[error("{0}")]
    Streams(String),
}

impl SqlError {
    pub fn analysis(pos: Option<Pos>, message: impl Into<String>) -> SqlError {
        SqlError::Analysis {
            pos,
            message: message.into(),
        }
    }

    pub fn at(pos: Pos, message: impl Into<String>) -> SqlError {
        SqlError::Analysis {
            pos: Some(pos),
            message: message.into(),
        }
    }

    pub fn unsupported(pos: Option<Pos>, message: impl Into<String>) -> SqlError {
        SqlError::Unsupported {
            pos,
            message: message.into(),
        }
    }

    /// Whether this error comes from a missing feature rather than from the statement.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, SqlError::Unsupported { .. })
    }
}

impl From<brook_streams::StreamsError> for SqlError {
    fn from(e: brook_streams::StreamsError) -> SqlError {
        SqlError::Streams(e.to_string())
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
