//! The executor of ksqlDB's REST conformance cases (`rest-qtt/`) on a real node: each run
//! gets a fresh in-process [`Node`] (broker, SQL engine, REST API on ports the OS picks,
//! data in a temporary folder), which [`brook_sql::qtt::rest::http::execute`] drives over
//! Kafka and HTTP; the node is stopped and its folder removed after the run, whatever came
//! of it.
//!
//! ```no_run
//! use std::path::PathBuf;
//! let summary = brook::rest_qtt::run_paths(
//!     &[PathBuf::from("../shared/conformance/rest-qtt")],
//!     &brook_sql::qtt::rest::RestOptions { verbose: false, threads: 4 },
//! );
//! println!("{summary}");
//! ```

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use brook_sql::qtt::rest::http::{self, Endpoints, HttpOptions};
use brook_sql::qtt::rest::{self, ActualRun, ExecError, RestOptions, RestRun};
use brook_sql::qtt::Summary;

use crate::node::{Node, NodeOptions};

/// How long a node may take to stop before the run goes on without it.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs every REST case of the given files and folders, each on a fresh node, prints the
/// report on stdout and returns the counts.
pub fn run_paths(paths: &[PathBuf], options: &RestOptions) -> Summary {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    rest::run_paths_with(paths, options, &execute, &mut out)
}

/// Runs one run on a fresh node (see the module's text).
pub fn execute(run: &RestRun) -> Result<ActualRun, ExecError> {
    execute_with(run, &HttpOptions::default())
}

/// A folder for one node's data, unique in this process and among processes.
fn data_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("brook-rest-qtt-{}-{n}", std::process::id()))
}

/// Removes a node's folder when dropped (also when the run panics).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// [`execute`] with other time limits.
pub fn execute_with(run: &RestRun, options: &HttpOptions) -> Result<ActualRun, ExecError> {
    let dir = RemoveOnDrop(data_dir());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rest-qtt-node")
        .enable_all()
        .build()
        .map_err(|e| ExecError::new(format!("cannot start a tokio runtime: {e}")))?;
    let result = run_on_node(&runtime, &dir.0, run, options);
    // The node's blocking tasks (stream threads, log closing) are done once `stop`
    // returned; anything else left is not waited for.
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(dir);
    result
}

fn run_on_node(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    run: &RestRun,
    options: &HttpOptions,
) -> Result<ActualRun, ExecError> {
    let node = runtime
        .block_on(Node::start(rest_qtt_node(dir)))
        .map_err(|e| ExecError::new(format!("cannot start a node: {e:#}")))?;
    let endpoints = node.http_addr().map(|http| Endpoints {
        bootstrap: node.bootstrap(),
        http,
    });
    // The node is stopped whatever the run does, a panic included (it is re-raised after,
    // for the runner to report).
    let result = catch_unwind(AssertUnwindSafe(|| match &endpoints {
        Some(e) => http::execute(run, e, options),
        None => Err(ExecError::new("the node runs no SQL REST API")),
    }));
    let stopped = runtime.block_on(async { tokio::time::timeout(STOP_TIMEOUT, node.stop()).await });
    let result = match result {
        Ok(r) => r,
        Err(payload) => resume_unwind(payload),
    };
    match stopped {
        Ok(Ok(())) => result,
        // A run that passed still fails when its node cannot stop: that is a bug too.
        Ok(Err(e)) => result.and(Err(ExecError::new(format!(
            "the node did not stop cleanly: {e:#}"
        )))),
        Err(_) => result.and(Err(ExecError::new(format!(
            "the node did not stop within {STOP_TIMEOUT:?}"
        )))),
    }
}

/// A node as ksqlDB's REST tests configure their server: no record cache, so every update
/// reaches the materialized stores at once.
fn rest_qtt_node(dir: &Path) -> NodeOptions {
    let mut options = NodeOptions::embedded(dir);
    options
        .sql_properties
        .insert("ksql.streams.cache.max.bytes.buffering".into(), "0".into());
    options
}
