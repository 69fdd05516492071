//! Crash tests of the checkpoint and the RocksDB store (DESIGN.md, "Testing and measuring
//! habits"): torn writes of the checkpoint file, and `kill -9` of a process that writes a
//! store and checkpoints it, then checks that what was flushed before the last checkpoint
//! survives.
//!
//! The kill test re-executes this test binary as the child (selected by the environment
//! variable [`CHILD_ENV`] and the filter `--exact kill_nine_keeps_everything_below_the_checkpoint`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brook_state::{
    Checkpoint, CheckpointFile, KeyValueStore, MemoryBudget, StateStore, StoreError, TaskDb,
};

// ---------------------------------------------------------------------------------------
// Torn writes.

fn checkpoint_of(entries: &[(&str, i32, i64)]) -> Checkpoint {
    let mut c = Checkpoint::new();
    for (t, p, o) in entries {
        c.insert(*t, *p, *o);
    }
    c
}

#[test]
fn a_leftover_tmp_never_affects_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = CheckpointFile::new(dir.path().join(CheckpointFile::FILE_NAME));
    let old = checkpoint_of(&[("app-a-changelog", 0, 100), ("app-b-changelog", 0, 7)]);
    let new = checkpoint_of(&[("app-a-changelog", 0, 200), ("app-b-changelog", 0, 9)]);
    let new_bytes = new.encode("new").unwrap();

    // No checkpoint yet, only a torn temporary file: there is no checkpoint.
    std::fs::write(file.tmp_path(), &new_bytes[..new_bytes.len() / 2]).unwrap();
    assert_eq!(file.read().unwrap(), None);

    file.write(&old).unwrap();
    // A crash during the next write leaves any prefix of it, or all of it (a crash before
    // the rename), or garbage in the temporary file: the checkpoint is the old one.
    let mut leftovers: Vec<Vec<u8>> = (0..=new_bytes.len())
        .map(|n| new_bytes[..n].to_vec())
        .collect();
    leftovers.push(b"\xff\xfe garbage \x00".to_vec());
    for tmp in leftovers {
        std::fs::write(file.tmp_path(), &tmp).unwrap();
        assert_eq!(file.read().unwrap().as_ref(), Some(&old));
    }
    // The next write replaces the leftover and leaves none.
    file.write(&new).unwrap();
    assert_eq!(file.read().unwrap(), Some(new));
    assert!(!file.tmp_path().exists());
}

#[test]
fn a_truncated_checkpoint_reads_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let file = CheckpointFile::new(dir.path().join(CheckpointFile::FILE_NAME));
    let c = checkpoint_of(&[
        ("app-counts-changelog", 0, 123_456),
        ("app-counts-changelog", 1, 10),
        ("app-names-changelog", 0, 99),
    ]);
    file.write(&c).unwrap();
    let bytes = std::fs::read(file.path()).unwrap();
    for len in 0..bytes.len() {
        std::fs::write(file.path(), &bytes[..len]).unwrap();
        match file.read() {
            Err(StoreError::Corrupt { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("a checkpoint cut to {len} bytes read as {other:?}"),
        }
    }
    std::fs::write(file.path(), &bytes).unwrap();
    assert_eq!(file.read().unwrap(), Some(c));
}

// ---------------------------------------------------------------------------------------
// kill -9.

/// Set in the child: the task directory it writes.
const CHILD_ENV: &str = "BROOK_CRASH_CHILD_DIR";
/// The kill test's name, the filter the child runs under.
const KILL_TEST: &str = "kill_nine_keeps_everything_below_the_checkpoint";
/// The store's name and its changelog topic.
const STORE: &str = "counts";
const TOPIC: &str = "crash-counts-changelog";
/// Puts between two checkpoints.
const PUTS_PER_CHECKPOINT: u64 = 97;
/// The child stops by itself after this long, should its parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

fn key(i: u64) -> Vec<u8> {
    format!("k{i:010}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    // Large enough that memtables fill and flushes write real files.
    format!("value-{i}-")
        .repeat(1 + (i % 13) as usize)
        .into_bytes()
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("rocksdb")
}

fn checkpoint_file(dir: &Path) -> CheckpointFile {
    CheckpointFile::new(dir.join(CheckpointFile::FILE_NAME))
}

/// The checkpointed offset: how many keys (k0, k1, ...) the store holds for sure.
fn checkpointed(dir: &Path) -> u64 {
    match checkpoint_file(dir).read() {
        Ok(Some(c)) => {
            assert_eq!(c.entries.len(), 1, "{c:?}");
            let offset = c.offset(TOPIC, 0).expect("the changelog's entry");
            u64::try_from(offset).expect("a non-negative offset")
        }
        Ok(None) => 0,
        Err(e) => panic!("the checkpoint does not read after a kill: {e}"),
    }
}

/// The child: resumes from the checkpoint (as a restarted task does), then puts k<n> in
/// order, flushing and checkpointing every [`PUTS_PER_CHECKPOINT`] puts, until killed.
fn child_main(dir: &Path) {
    let deadline = Instant::now() + CHILD_LIFETIME;
    let db = TaskDb::open(&db_path(dir), &[STORE], &MemoryBudget::new(4 << 20)).unwrap();
    let mut store = db.key_value_store(STORE).unwrap();
    let file = checkpoint_file(dir);
    let mut next = checkpointed(dir);
    println!("started {next}");
    while Instant::now() < deadline {
        store.put(&key(next), &value(next)).unwrap();
        next += 1;
        if next.is_multiple_of(PUTS_PER_CHECKPOINT) {
            store.flush().unwrap();
            let mut c = Checkpoint::new();
            c.insert(TOPIC, 0, next as i64);
            file.write(&c).unwrap();
            // A parent that is gone closes the pipe; printing then panics and ends the child.
            println!("checkpoint {next}");
        }
    }
}

/// Kills the child when dropped, so it never outlives the test, whatever path the test
/// takes.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a child over `dir` and kills it (SIGKILL) `delay` after it has printed
/// `checkpoints` checkpoints; returns the last checkpointed offset it printed.
fn run_and_kill(dir: &Path, checkpoints: usize, delay: Duration) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let mut child = ChildGuard(
        Command::new(exe)
            .args(["--exact", KILL_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = 0;
    let mut last = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < checkpoints {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(n) = line.strip_prefix("checkpoint ") {
                    last = n.trim().parse().unwrap();
                    seen += 1;
                }
            }
            Err(e) => panic!(
                "the child ended or stalled after {seen} checkpoint(s) ({e:?}); status {:?}",
                child.0.try_wait()
            ),
        }
    }
    std::thread::sleep(delay);
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert!(!status.success(), "the child was to be killed: {status:?}");
    last
}

#[test]
fn kill_nine_keeps_everything_below_the_checkpoint() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child_main(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut previous = 0;
    // Kills at different moments: right after a checkpoint, and some way into the puts
    // (or a flush) after one.
    for (round, (checkpoints, delay_ms)) in
        [(2, 0), (5, 3), (3, 11), (4, 1)].into_iter().enumerate()
    {
        let printed = run_and_kill(dir.path(), checkpoints, Duration::from_millis(delay_ms));
        let offset = checkpointed(dir.path());
        assert!(
            offset >= printed && offset > previous,
            "round {round}: checkpoint {offset}, printed {printed}, previous {previous}"
        );
        let db = TaskDb::open(&db_path(dir.path()), &[STORE], &MemoryBudget::new(4 << 20)).unwrap();
        let store = db.key_value_store(STORE).unwrap();
        for i in 0..offset {
            assert_eq!(
                store.get(&key(i)).unwrap(),
                Some(value(i)),
                "round {round}: key {i} below the checkpoint {offset}"
            );
        }
        // Nothing but keys the child wrote, with their values.
        let mut held = 0;
        for kv in store.all().unwrap() {
            let (k, v) = kv.unwrap();
            let i: u64 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            assert_eq!(v, value(i), "round {round}: key {i}");
            held += 1;
        }
        eprintln!(
            "round {round}: killed after checkpoint {printed}; the checkpoint says {offset}, \
             the store holds {held} keys"
        );
        previous = offset;
    }
}
