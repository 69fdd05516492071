//! The CI floor of SQL REST conformance: runs every ksqlDB REST case of
//! `../shared/conformance/rest-qtt` over HTTP, each run on a fresh in-process node
//! (`brook::rest_qtt`), and fails when fewer runs pass than
//! `sql/rest-conformance-floor.txt` says. Raise the floor as the server grows; never lower
//! it to make a change pass.
//!
//! `BROOK_REST_QTT_THREADS` sets how many runs execute at once (default 4).

use std::path::Path;
use std::time::Instant;

use brook_sql::qtt::rest::RestOptions;

/// The floor: the single integer in `sql/rest-conformance-floor.txt`.
fn floor(root: &Path) -> usize {
    let path = root.join("sql/rest-conformance-floor.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|e| {
        panic!(
            "{} must hold a single integer, not {:?}: {e}",
            path.display(),
            text.trim()
        )
    })
}

#[test]
fn rest_qtt_passes_at_least_the_floor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = root.join("../shared/conformance/rest-qtt");
    if !cases.is_dir() {
        println!("skipped: ../shared/conformance not found");
        return;
    }
    let floor = floor(root);
    let threads = std::env::var("BROOK_REST_QTT_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(4);
    let started = Instant::now();
    let summary = brook::rest_qtt::run_paths(
        &[cases],
        &RestOptions {
            verbose: false,
            threads,
        },
    );
    println!(
        "{summary} in {:.1?} on {threads} threads; floor {floor}",
        started.elapsed()
    );
    assert!(
        summary.passed >= floor,
        "SQL REST conformance fell below the floor: {} passed, the floor is {floor} ({summary})",
        summary.passed
    );
}
