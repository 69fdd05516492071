//! Brook's developer tasks. Today one: `codegen`, which turns Kafka's JSON message specs
//! into the Rust types in `broker/protocol/src/messages/generated/` (committed, so a fresh
//! clone builds without the specs).
//!
//! ```text
//! cargo run -p xtask -- codegen [--spec-dir DIR]
//! ```
//!
//! `DIR` defaults to `../shared/kafka-protocol/message`, relative to the repository root.

mod codegen;
mod spec;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The repository root (the parent of this crate's directory).
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn default_spec_dir(root: &Path) -> PathBuf {
    root.join("../shared/kafka-protocol/message")
}

fn output_dir(root: &Path) -> PathBuf {
    root.join("broker/protocol/src/messages/generated")
}

fn usage() -> ExitCode {
    eprintln!("usage: cargo run -p xtask -- codegen [--spec-dir DIR]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let mut spec_dir = default_spec_dir(&root);
            let mut rest = args[1..].iter();
            while let Some(a) = rest.next() {
                match a.as_str() {
                    "--spec-dir" => match rest.next() {
                        Some(d) => spec_dir = PathBuf::from(d),
                        None => return usage(),
                    },
                    _ => return usage(),
                }
            }
            let out = output_dir(&root);
            match codegen::generate(&spec_dir, &out, &root.join("rustfmt.toml")) {
                Ok(files) => {
                    println!("wrote {} files to {}", files.len(), out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("codegen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed generated code must be exactly what the generator produces today.
    #[test]
    fn generated_code_is_up_to_date() {
        let root = repo_root();
        let spec_dir = default_spec_dir(&root);
        if !spec_dir.is_dir() {
            println!(
                "note: {} not found; skipping the generated-code drift check",
                spec_dir.display()
            );
            return;
        }
        let tmp = std::env::temp_dir().join(format!("brook-codegen-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let files = codegen::generate(&spec_dir, &tmp, &root.join("rustfmt.toml"))
            .expect("codegen succeeds");
        let committed = output_dir(&root);
        let mut stale = Vec::new();
        for f in &files {
            let fresh = std::fs::read_to_string(tmp.join(f)).expect("read fresh output");
            let old = std::fs::read_to_string(committed.join(f)).unwrap_or_default();
            if fresh != old {
                stale.push(f.clone());
            }
        }
        let mut extra = Vec::new();
        for entry in std::fs::read_dir(&committed)
            .expect("list committed output")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !files.contains(&name) {
                extra.push(name);
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            stale.is_empty() && extra.is_empty(),
            "generated code is out of date (stale: {stale:?}, extra: {extra:?}); \
             run `cargo run -p xtask -- codegen`"
        );
    }
}
