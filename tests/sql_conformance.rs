//! The CI floor of SQL conformance: runs every ksqlDB QTT file of
//! `../shared/conformance/qtt` on Brook's SQL engine and fails when fewer runs pass than
//! `sql/conformance-floor.txt` says. Raise the floor as the engine grows; never lower it to
//! make a change pass.

use std::path::Path;
use std::time::Instant;

/// The floor: the single integer in `sql/conformance-floor.txt`.
fn floor(root: &Path) -> usize {
    let path = root.join("sql/conformance-floor.txt");
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
fn qtt_passes_at_least_the_floor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let qtt = root.join("../shared/conformance/qtt");
    if !qtt.is_dir() {
        println!("skipped: ../shared/conformance not found");
        return;
    }
    let floor = floor(root);
    let started = Instant::now();
    let summary = brook_sql::qtt::run_paths(&[qtt]);
    println!("{summary} in {:.1?}; floor {floor}", started.elapsed());
    assert!(
        summary.passed >= floor,
        "SQL conformance fell below the floor: {} passed, the floor is {floor} ({summary})",
        summary.passed
    );
}
