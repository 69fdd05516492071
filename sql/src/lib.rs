//! `brook-sql`: the ksqlDB-dialect SQL engine. Statements are parsed ([`parser`]: the
//! tokenizer of the `sqlparser` crate under a ksqlDB grammar), checked against the
//! [`catalog`] ([`engine`]), planned into a printable [`plan::QueryPlan`] whose
//! expressions are type-checked ([`expr`]) and whose functions are bound ([`functions`]),
//! and compiled into a `brook-streams` topology ([`compile`]). Records are read and
//! written in ksqlDB's formats ([`format`]). The engine does no I/O: a caller runs the
//! topologies (the conformance runner, [`qtt`], on test drivers; a server on a broker).
//!
//! ```
//! use brook_sql::engine::Engine;
//! use brook_streams::{Headers, Serdes, TopologyTestDriver};
//! use bytes::Bytes;
//!
//! let mut engine = Engine::new(Default::default());
//! engine.add_topic("pageviews", 1);
//! engine.execute_sql(
//!     "CREATE STREAM PAGEVIEWS (USER_ID STRING KEY, PAGE STRING)
//!        WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON');
//!      CREATE TABLE VIEWS AS SELECT PAGE, COUNT(*) AS N FROM PAGEVIEWS GROUP BY PAGE;",
//! )?;
//! let q = &engine.queries[0];
//! assert_eq!(q.id, "CTAS_VIEWS_0");
//! let topology = brook_sql::compile::build_topology(&q.plan, &q.id, engine.processing_log())?;
//! let driver = TopologyTestDriver::new(topology)?;
//! let views = driver.create_output_topic("VIEWS", Serdes::string(), Serdes::string());
//! for page in ["home", "about", "home"] {
//!     let value = Bytes::from(format!(r#"{{"PAGE": "{page}"}}"#));
//!     driver.pipe_raw("pageviews", Some(Bytes::from("u1")), Some(value), 0, Headers::default())?;
//! }
//! assert_eq!(views.read_key_values_to_map()?["home"], r#"{"N":2}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod arrow;
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
pub mod pull;
pub mod push;
pub mod qtt;
pub mod rest;
pub mod result;
pub mod runtime;
pub mod shell;
pub mod types;
pub mod value;

pub use error::{Result, SqlError};
pub use types::{Column, Namespace, SqlType};
pub use value::{Row, Value};
