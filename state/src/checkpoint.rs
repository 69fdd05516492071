//! A task's checkpoint file: for each changelog partition of the task's stores, the offset
//! up to which the stores on disk hold the changelog, so a restart restores only from there.
//! Written at commit, after the stores are flushed.
//!
//! **Format** (Kafka Streams' `.checkpoint`, `OffsetCheckpoint`), UTF-8 text, each line
//! ended by `\n`:
//!
//! ```text
//! 0                               the version
//! 2                               the number of entries
//! app-counts-changelog 0 1234     topic, partition, offset (the next offset to restore)
//! app-names-changelog 0 17
//! ```
//!
//! Reading is stricter than Kafka Streams', so that a damaged file is reported rather than
//! read as other offsets: the version must be 0, the count must equal the number of entry
//! lines (a duplicate topic-partition counts as a mismatch), every line must end with a
//! newline (so no strict prefix of a valid file parses: one cut mid-number lacks its
//! newline, one cut at a line end lacks entries), partitions and offsets must be
//! non-negative (Kafka Streams skips negative offsets with a warning; Brook never writes
//! them), and the file must be UTF-8. Fields may be separated by any run of spaces or tabs,
//! as Kafka Streams splits on whitespace; a `\r` before the `\n` is accepted.
//!
//! **Writing** is atomic: the text goes to `<path>.tmp`, which is fsynced and renamed over
//! `<path>`, then the directory is fsynced, so after a crash the file is the old or the new
//! checkpoint, whole; a leftover `.tmp` is never read. Unlike Kafka Streams, which deletes the
//! file when there are no offsets, an empty checkpoint is written as a file with count 0
//! (which Kafka Streams reads as no offsets); [`CheckpointFile::delete`] removes the file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The checkpointed offsets of a task: the next changelog offset to restore, by changelog
/// topic and partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Offsets by (topic, partition).
    pub entries: BTreeMap<(String, i32), i64>,
}

impl Checkpoint {
    /// The only format version there is.
    pub const VERSION: i32 = 0;

    /// A checkpoint with no entries.
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// Sets the offset of `topic`'s `partition`; returns the one it replaces.
    pub fn insert(&mut self, topic: impl Into<String>, partition: i32, offset: i64) -> Option<i64> {
        self.entries.insert((topic.into(), partition), offset)
    }

    /// The offset of `topic`'s `partition`.
    pub fn offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.entries.get(&(topic.to_owned(), partition)).copied()
    }

    /// The file's bytes. `what` names the file in errors: a topic that is empty or holds
    /// whitespace (it would not read back), a negative partition or a negative offset is an
    /// invalid argument.
    pub fn encode(&self, what: &str) -> Result<Vec<u8>, StoreError> {
        let invalid = |reason: String| StoreError::InvalidArgument {
            store: what.to_owned(),
            reason,
        };
        let mut out = format!("{}\n{}\n", Checkpoint::VERSION, self.entries.len());
        for ((topic, partition), offset) in &self.entries {
            if topic.is_empty() || topic.chars().any(char::is_whitespace) {
                return Err(invalid(format!(
                    "cannot checkpoint topic {topic:?}: empty or with whitespace"
                )));
            }
            if *partition < 0 || *offset < 0 {
                return Err(invalid(format!(
                    "cannot checkpoint offset {offset} of {topic}-{partition}: negative"
                )));
            }
            out.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        Ok(out.into_bytes())
    }

    /// Parses a file's bytes; `what` names the file in errors. Anything but a well-formed
    /// checkpoint (see the [module docs](self)) is [`StoreError::Corrupt`] with the reason.
    pub fn decode(what: &str, bytes: &[u8]) -> Result<Checkpoint, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            store: what.to_owned(),
            reason: format!("checkpoint file: {reason}"),
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            corrupt(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        let Some(body) = text.strip_suffix('\n') else {
            return Err(corrupt(if text.is_empty() {
                "empty".to_owned()
            } else {
                "truncated: the last line has no newline".to_owned()
            }));
        };
        let mut lines = body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let version = lines.next().unwrap_or_default();
        match version.trim().parse::<i32>() {
            Ok(Checkpoint::VERSION) => {}
            Ok(v) => return Err(corrupt(format!("unknown version {v}"))),
            Err(_) => return Err(corrupt(format!("line 1: bad version {version:?}"))),
        }
        let Some(count) = lines.next() else {
            return Err(corrupt("truncated: no entry count".to_owned()));
        };
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| corrupt(format!("line 2: bad entry count {count:?}")))?;
        let mut checkpoint = Checkpoint::new();
        let mut found = 0usize;
        for (i, line) in lines.enumerate() {
            let n = i + 3;
            found += 1;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [topic, partition, offset] = fields[..] else {
                return Err(corrupt(format!(
                    "line {n}: {} field(s), not `topic partition offset`: {line:?}",
                    fields.len()
                )));
            };
            let partition: i32 = partition
                .parse()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(|| corrupt(format!("line {n}: bad partition {partition:?}")))?;
            let offset: i64 = offset
                .parse()
                .ok()
                .filter(|o| *o >= 0)
                .ok_or_else(|| corrupt(format!("line {n}: bad offset {offset:?}")))?;
            if checkpoint.insert(topic, partition, offset).is_some() {
                return Err(corrupt(format!(
                    "line {n}: {topic}-{partition} appears twice"
                )));
            }
        }
        if found != count {
            return Err(corrupt(format!(
                "expected {count} entries but found {found}"
            )));
        }
        Ok(checkpoint)
    }
}

/// A checkpoint file on disk (Kafka Streams keeps it at `<state dir>/<task id>/.checkpoint`).
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
    tmp: PathBuf,
}

impl CheckpointFile {
    /// The file's usual name in a task directory.
    pub const FILE_NAME: &'static str = ".checkpoint";

    /// The checkpoint at `path` (nothing is read or written yet).
    pub fn new(path: impl Into<PathBuf>) -> CheckpointFile {
        let path = path.into();
        let mut tmp = OsString::from(path.as_os_str());
        tmp.push(".tmp");
        CheckpointFile {
            path,
            tmp: PathBuf::from(tmp),
        }
    }

    /// Where the checkpoint is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a write goes before it is renamed into place: `<path>.tmp`.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    fn what(&self) -> String {
        self.path.display().to_string()
    }

    fn io_error(&self, doing: &str, path: &Path, e: io::Error) -> StoreError {
        StoreError::Storage {
            store: self.what(),
            reason: format!("{doing} {}: {e}", path.display()),
        }
    }

    /// Reads the checkpoint: `None` if there is no file, [`StoreError::Corrupt`] if it is
    /// not a well-formed checkpoint, [`StoreError::Storage`] if it cannot be read.
    pub fn read(&self) -> Result<Option<Checkpoint>, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => Checkpoint::decode(&self.what(), &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error("reading", &self.path, e)),
        }
    }

    /// Replaces the checkpoint with `checkpoint`, atomically and durably: written to
    /// `<path>.tmp`, fsynced, renamed over `<path>`, and the directory fsynced. An invalid
    /// checkpoint (see [`Checkpoint::encode`]) fails before anything is written.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let bytes = checkpoint.encode(&self.what())?;
        let written = (|| {
            let mut f = File::create(&self.tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&self.tmp);
            return Err(self.io_error("writing", &self.tmp, e));
        }
        if let Err(e) = fs::rename(&self.tmp, &self.path) {
            let _ = fs::remove_file(&self.tmp);
            return Err(self.io_error("renaming into place", &self.tmp, e));
        }
        self.sync_dir()
    }

    /// Removes the checkpoint (and a leftover `<path>.tmp`), durably; no file is fine.
    pub fn delete(&self) -> Result<(), StoreError> {
        for p in [&self.path, &self.tmp] {
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_error("deleting", p, e)),
            }
        }
        self.sync_dir()
    }

    /// Fsyncs the directory holding the file, so a rename or removal survives a crash.
    fn sync_dir(&self) -> Result<(), StoreError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        #[cfg(unix)]
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io_error("syncing directory", dir, e))?;
        #[cfg(not(unix))]
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(text: &[u8]) -> Result<Checkpoint, StoreError> {
        Checkpoint::decode("task-0_1/.checkpoint", text)
    }

    fn corrupt_reason(text: &[u8]) -> String {
        match decode(text) {
            Err(e @ StoreError::Corrupt { .. }) => e.to_string(),
            other => panic!("{:?} decoded as {other:?}", String::from_utf8_lossy(text)),
        }
    }

    #[test]
    fn checkpoint_format_matches_kafka_streams() {
        let mut c = Checkpoint::new();
        c.insert("app-counts-changelog", 0, 1234);
        c.insert("app-names-changelog", 3, 0);
        let bytes = c.encode("x").unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "0\n2\napp-counts-changelog 0 1234\napp-names-changelog 3 0\n"
        );
        assert_eq!(decode(&bytes).unwrap(), c);
        assert_eq!(c.offset("app-counts-changelog", 0), Some(1234));
        assert_eq!(c.offset("app-counts-changelog", 1), None);
        assert_eq!(decode(b"0\n0\n").unwrap(), Checkpoint::new());
        // Kafka Streams splits on whitespace; Windows line ends.
        let loose = decode(b"0\r\n1\r\nt\t2   5\r\n").unwrap();
        assert_eq!(loose.offset("t", 2), Some(5));
    }

    #[test]
    fn checkpoint_malformed_files_are_corrupt_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"0", "no newline"),
            (b"0\n", "no entry count"),
            (b"0\n1\nt 0 5", "no newline"),
            (b"0\n1\nt 0 5\n\n", "0 field(s)"),
            (b"1\n0\n", "unknown version 1"),
            (b"-1\n0\n", "unknown version -1"),
            (b"v0\n0\n", "bad version"),
            (b"0\nx\n", "bad entry count"),
            (b"0\n-1\n", "bad entry count"),
            (b"0\n2\nt 0 5\n", "expected 2 entries but found 1"),
            (b"0\n1\nt 0 5\nu 0 6\n", "expected 1 entries but found 2"),
            (b"0\n2\nt 0 5\nt 0 6\n", "appears twice"),
            (b"0\n1\nt 0\n", "2 field(s)"),
            (b"0\n1\nt 0 5 6\n", "4 field(s)"),
            (b"0\n1\nt x 5\n", "bad partition"),
            (b"0\n1\nt -1 5\n", "bad partition"),
            (b"0\n1\nt 0 -5\n", "bad offset"),
            (b"0\n1\nt 0 5x\n", "bad offset"),
            (b"0\n1\nt 0 99999999999999999999\n", "bad offset"),
            (b"0\n1\nt \xff 5\n", "not UTF-8"),
            (b"\x00\x01\x02garbage\n", "bad version"),
            (
                b"0\n18446744073709551615\n",
                "expected 18446744073709551615 entries",
            ),
        ];
        for (text, want) in cases {
            let reason = corrupt_reason(text);
            assert!(
                reason.contains(want) && reason.contains("task-0_1/.checkpoint"),
                "{:?}: {reason}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn checkpoint_invalid_entries_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path().join(CheckpointFile::FILE_NAME));
        for (topic, partition, offset) in [("a b", 0, 1), ("", 0, 1), ("t", -1, 1), ("t", 0, -1)] {
            let mut c = Checkpoint::new();
            c.insert(topic, partition, offset);
            assert!(matches!(
                file.write(&c),
                Err(StoreError::InvalidArgument { .. })
            ));
        }
        assert_eq!(file.read().unwrap(), None);
        assert!(!file.tmp_path().exists());
    }

    #[test]
    fn checkpoint_file_write_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path().join(".checkpoint"));
        assert_eq!(file.tmp_path(), dir.path().join(".checkpoint.tmp"));
        assert_eq!(file.read().unwrap(), None);
        file.delete().unwrap();
        let mut c = Checkpoint::new();
        c.insert("app-s-changelog", 0, 10);
        file.write(&c).unwrap();
        assert_eq!(file.read().unwrap(), Some(c.clone()));
        assert!(!file.tmp_path().exists());
        c.insert("app-s-changelog", 0, 20);
        file.write(&c).unwrap();
        assert_eq!(
            file.read().unwrap().unwrap().offset("app-s-changelog", 0),
            Some(20)
        );
        file.write(&Checkpoint::new()).unwrap();
        assert_eq!(file.read().unwrap(), Some(Checkpoint::new()));
        file.delete().unwrap();
        assert_eq!(file.read().unwrap(), None);
        // A directory that does not exist is a storage error, not a panic.
        let missing = CheckpointFile::new(dir.path().join("no/such/dir/.checkpoint"));
        assert!(matches!(missing.write(&c), Err(StoreError::Storage { .. })));
        // So is a checkpoint path that is a directory.
        let is_dir = CheckpointFile::new(dir.path());
        assert!(matches!(is_dir.read(), Err(StoreError::Storage { .. })));
    }

    fn topic() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._-]{1,12}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// What is written reads back; every strict prefix of a file is corrupt.
        #[test]
        fn checkpoint_round_trips_and_prefixes_are_corrupt(
            entries in proptest::collection::btree_map((topic(), 0i32..i32::MAX), 0i64..i64::MAX, 0..6),
        ) {
            let c = Checkpoint { entries };
            let dir = tempfile::tempdir().unwrap();
            let file = CheckpointFile::new(dir.path().join(".checkpoint"));
            file.write(&c).unwrap();
            prop_assert_eq!(file.read().unwrap(), Some(c.clone()));
            let bytes = c.encode("x").unwrap();
            for len in 0..bytes.len() {
                let corrupt = matches!(decode(&bytes[..len]), Err(StoreError::Corrupt { .. }));
                prop_assert!(corrupt, "a prefix of {} byte(s) decoded", len);
            }
        }

        /// Arbitrary bytes never panic the reader.
        #[test]
        fn checkpoint_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
