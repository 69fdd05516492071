//! The conformance runner for ksqlDB's query-validation-test (QTT) files.
//!
//! A QTT file (`../shared/conformance/README.md` describes the format) holds cases: SQL
//! statements, input records and the records, errors and catalog state ksqlDB produces.
//! The runner:
//!
//! - [`load`]s a file: `//` comments stripped outside strings, every case parsed into a
//!   [`load::QttCase`] (a malformed case or file is a failure with the reason, never a
//!   panic);
//! - [`expand`]s each case into runs: one per `format` entry times one per `config` entry,
//!   and marks the runs it skips (disabled, schema-registry formats, ksqlDB's test-only
//!   functions, REST cases);
//! - runs each run on a fresh engine ([`exec::execute`], catching panics) and
//!   [`compare`]s what it produced with the case;
//! - reports ([`runner`]): `FAIL <file> :: <run> :: <first difference>` per failing run,
//!   then `N passed, N failed, N skipped`.
//!
//! REST cases (`rest-qtt/`, with `responses`) have their own runner, [`rest`], which
//! sends the statements to a running node over HTTP.
//!
//! ```no_run
//! use std::path::PathBuf;
//! let summary = brook_sql::qtt::run_paths(&[PathBuf::from("../shared/conformance/qtt")]);
//! println!("{summary}");
//! ```

pub mod compare;
pub mod exec;
pub mod expand;
pub mod load;
pub mod rest;
pub mod runner;

pub use runner::{run_paths, run_paths_with, Failure, Options, Outcome, Summary};
