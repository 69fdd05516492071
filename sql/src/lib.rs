//! `brook-sql`: the ksqlDB-dialect SQL engine: parser, catalog, analyzer, and a planner that
//! compiles statements into `brook-streams` topologies without touching the network; plus
//! expressions, functions, formats, the engine and the conformance runner.

pub mod ast;
pub mod catalog;
pub mod compile;
pub mod engine;
pub mod error;
pub mod expr;
pub mod format;
pub mod functions;
pub mod parser;
pub mod plan;
pub mod qtt;
pub mod types;
pub mod value;

pub use error::{Result, SqlError};
pub use types::{Column, Namespace, SqlType};
pub use value::{Row, Value};
