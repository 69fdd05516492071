//! `brook-sql`: the ksqlDB-dialect SQL engine: parser, catalog, analyzer, and a planner that
//! compiles statements into `brook-streams` topologies without touching the network; plus
//! expressions, functions, formats, the engine, the REST server, the shell and the
//! conformance runner.
//!
//! Nothing is implemented here yet: the engine arrives with issues 7 and 8.
