//! `brook sql-test`: runs ksqlDB's conformance cases against the SQL engine. QTT files run
//! on the engine's test drivers; REST files (`rest-qtt/`: cases with `responses` or
//! `expectedError`) run over HTTP, each run on a fresh in-process node
//! ([`brook::rest_qtt`]).

use std::path::PathBuf;

use anyhow::bail;
use brook_sql::qtt::rest::{self, Listed};
use brook_sql::qtt::Summary;

#[derive(clap::Args)]
pub struct SqlTestArgs {
    /// Test files (`*.json`) or folders (searched recursively for `*.json`): QTT files, or
    /// REST files (`rest-qtt/`), which run on a fresh in-process node per run.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also print every skipped run with its reason (and, for REST runs, a `NOTE` line
    /// where an expected error came with another message).
    #[arg(long)]
    pub verbose: bool,
    /// Exit with status 1 when fewer than N runs pass (over all files).
    #[arg(long, value_name = "N")]
    pub min_pass: Option<usize>,
    /// How many REST runs execute at once (each on its own node).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub threads: usize,
}

/// Whether a file holds REST cases; a file that cannot be read or parsed is left to the
/// QTT runner, which reports it.
fn is_rest(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| rest::is_rest_file(&text))
}

/// The paths split into QTT paths and REST paths: a folder whose files are all of one
/// kind goes whole to its runner (so that the report names files from the folder down),
/// a mixed folder file by file.
fn split_paths(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut qtt, mut rest_paths) = (Vec::new(), Vec::new());
    for path in paths {
        if !path.is_dir() {
            if is_rest(path) {
                rest_paths.push(path.clone());
            } else {
                qtt.push(path.clone());
            }
            continue;
        }
        let files: Vec<(PathBuf, bool)> = rest::list_files(std::slice::from_ref(path))
            .into_iter()
            .filter_map(|l| match l {
                Listed::File { path, .. } => {
                    let r = is_rest(&path);
                    Some((path, r))
                }
                Listed::Bad { .. } => None,
            })
            .collect();
        if files.iter().all(|(_, r)| !*r) {
            qtt.push(path.clone());
        } else if files.iter().all(|(_, r)| *r) {
            rest_paths.push(path.clone());
        } else {
            for (file, r) in files {
                if r {
                    rest_paths.push(file);
                } else {
                    qtt.push(file);
                }
            }
        }
    }
    (qtt, rest_paths)
}

/// `brook sql-test`: fails on a missing path before running anything, and on fewer passes
/// than `--min-pass`; failing runs alone do not change the exit code.
pub fn run(args: SqlTestArgs) -> anyhow::Result<()> {
    if let Some(missing) = args.paths.iter().find(|p| !p.exists()) {
        bail!("{}: no such file or folder", missing.display());
    }
    let (qtt, rest_paths) = split_paths(&args.paths);
    let stdout = std::io::stdout();
    let mut total = Summary::default();
    let mut runs = 0;
    if !qtt.is_empty() {
        let options = brook_sql::qtt::Options {
            verbose: args.verbose,
        };
        let s = brook_sql::qtt::run_paths_with(
            &qtt,
            &options,
            &brook_sql::qtt::exec::execute,
            &mut stdout.lock(),
        );
        add(&mut total, s);
        runs += 1;
    }
    if !rest_paths.is_empty() {
        let options = rest::RestOptions {
            verbose: args.verbose,
            threads: args.threads.max(1),
        };
        let s = rest::run_paths_with(
            &rest_paths,
            &options,
            &brook::rest_qtt::execute,
            &mut stdout.lock(),
        );
        add(&mut total, s);
        runs += 1;
    }
    if runs > 1 {
        println!("total: {total}");
    }
    if let Some(min) = args.min_pass {
        if total.passed < min {
            bail!("{} runs passed, fewer than --min-pass {min}", total.passed);
        }
    }
    Ok(())
}

fn add(total: &mut Summary, s: Summary) {
    total.passed += s.passed;
    total.passed_on_error += s.passed_on_error;
    total.failed += s.failed;
    total.skipped += s.skipped;
    total.failures.extend(s.failures);
    for (reason, n) in s.skips_by_reason {
        *total.skips_by_reason.entry(reason).or_default() += n;
    }
}
