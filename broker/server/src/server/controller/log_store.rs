//! A durable Raft log for openraft's storage-v2 API ([`RaftLogStorage`]), used for the
//! controller's metadata log.
//!
//! # Files under the store's directory
//!
//! Every file uses the same frame: `[u32 len LE][u32 crc32c(payload) LE][payload]`, where the
//! payload is serde_json.
//!
//! - `log`: the entries, one frame per entry, appended in index order. It may begin with
//!   entries at or below the last purged index (a purge that did not rewrite the file); they
//!   are skipped on open.
//! - `vote`: one frame holding the last saved [`Vote`].
//! - `committed`: one frame holding the last saved committed `Option<LogId>`.
//! - `purged`: one frame holding the last purged [`LogId`].
//!
//! `vote`, `committed` and `purged` are replaced atomically (write `<name>.tmp`, fsync,
//! rename, fsync the directory). A leftover `*.tmp` is an interrupted replacement and is
//! deleted on open. Those files must decode exactly; if one does not, [`FileLogStore::open`]
//! fails rather than forget a vote.
//!
//! # Recovery
//!
//! Open scans `log` from the start. The first frame that is incomplete (short header, short
//! payload), zero-length or fails its checksum ends the log: the file is cut there and
//! fsynced, with a warning. Such a tail can only be an append whose fsync never returned, so
//! it was never acknowledged. A frame whose checksum matches but which does not decode, or
//! entries whose indexes are not contiguous after the last purged index, are not torn writes:
//! open fails with [`io::ErrorKind::InvalidData`] instead of dropping acknowledged entries.
//!
//! # Write ordering and crash safety
//!
//! - `append`: the frames of the whole call are written at the end of the file with one
//!   `write`, then one `fdatasync`, then the entries become readable and the callback is
//!   called. Entries must continue the log (index = last index + 1, or last purged index
//!   + 1 when the log is empty); entries at or below the last purged index are skipped.
//! - `truncate`: `set_len` to the position of the first removed entry, then fsync.
//! - `purge`: the `purged` file is replaced first, so a crash at any later point leaves the
//!   dropped entries ignored on open. When the dropped prefix of `log` is more than half the
//!   file or more than 1 MiB, the live suffix is copied to `log.tmp`, fsynced and renamed over
//!   `log` (then the directory is fsynced); otherwise the prefix stays in the file.
//!
//! After an I/O error in any write the store refuses further writes (the in-memory state may
//! no longer match the disk, and a failed fsync cannot be retried safely); openraft treats
//! storage errors as fatal, and reopening recovers from what is on disk.
//!
//! # Blocking
//!
//! Entries are kept in memory (a metadata log is small; purge drops them), so reads never
//! touch the disk. Every write runs on tokio's blocking pool (`spawn_blocking`) while holding
//! an async mutex that is acquired, in FIFO order, before the task is spawned: writes are
//! serialized in call order even if a caller's future is dropped mid-way (the spawned task
//! then still finishes). [`FileLogStore::open`] is synchronous.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig,
    StorageError, Vote,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

const LOG_FILE: &str = "log";
const VOTE_FILE: &str = "vote";
const COMMITTED_FILE: &str = "committed";
const PURGED_FILE: &str = "purged";
const TMP_SUFFIX: &str = ".tmp";

/// `[u32 len][u32 crc32c]`.
const HEADER_LEN: usize = 8;

/// A purge rewrites `log` without the purged prefix when the prefix is larger than this or
/// than half the file.
const REWRITE_MIN_PREFIX: u64 = 1 << 20;

/// A durable Raft log store: entries in an append-only file of checksummed frames, vote,
/// committed log id and last purged log id in small atomically replaced files. See the
/// module documentation for the formats and the recovery rules.
pub struct FileLogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
    writer: Arc<tokio::sync::Mutex<Writer<C>>>,
}

/// A cheap handle that reads the entries of a [`FileLogStore`]; it sees every append,
/// truncate and purge of the store it came from.
pub struct FileLogReader<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

/// What readers share with the writer: the live entries (index > last purged index).
struct Shared<C: RaftTypeConfig> {
    dir: PathBuf,
    entries: RwLock<BTreeMap<u64, C::Entry>>,
}

/// Everything only the writer touches.
struct Writer<C: RaftTypeConfig> {
    dir: PathBuf,
    shared: Arc<Shared<C>>,
    /// `log`, opened for reading and writing; writes go to explicit positions.
    file: File,
    /// Length of the valid part of `log` (everything the writer has written or kept).
    len: u64,
    /// Index -> position of its frame in `log`, for the live entries.
    positions: BTreeMap<u64, u64>,
    vote: Option<Vote<C::NodeId>>,
    committed: Option<LogId<C::NodeId>>,
    last_purged: Option<LogId<C::NodeId>>,
    /// Set by the first failed write I/O; later writes fail with it.
    broken: Option<String>,
}

impl<C: RaftTypeConfig> Shared<C> {
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<u64, C::Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<u64, C::Entry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    fn last_log_id(&self) -> Option<LogId<C::NodeId>> {
        self.read()
            .values()
            .next_back()
            .map(|e| e.get_log_id().clone())
    }
}

impl<C> FileLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone + Serialize + DeserializeOwned,
{
    /// Opens (creating it if needed) the log store in `dir`, recovering from a crash at any
    /// point: a torn tail of `log` is cut off, entries at or below the last purged index are
    /// dropped, leftover temporary files are removed.
    ///
    /// Fails with [`io::ErrorKind::InvalidData`] when the files are damaged in a way a crash
    /// cannot explain (a `vote`/`committed`/`purged` file that does not decode, a checksummed
    /// log frame that does not decode, a hole in the log indexes).
    ///
    /// Synchronous file I/O: call it at startup or from a blocking context.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        for name in [LOG_FILE, VOTE_FILE, COMMITTED_FILE, PURGED_FILE] {
            match fs::remove_file(dir.join(format!("{name}{TMP_SUFFIX}"))) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), file = name, "removed an interrupted replacement")
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let vote: Option<Vote<C::NodeId>> = read_record(dir, VOTE_FILE)?;
        let committed: Option<LogId<C::NodeId>> =
            read_record::<Option<LogId<C::NodeId>>>(dir, COMMITTED_FILE)?.flatten();
        let last_purged: Option<LogId<C::NodeId>> = read_record(dir, PURGED_FILE)?;

        let log_path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)?;
        // Makes the creation of `log` and the removal of temporary files durable.
        sync_dir(dir)?;

        let scan = scan_log::<C::Entry>(&mut file)?;
        if let Some((offset, reason)) = &scan.torn {
            tracing::warn!(
                file = %log_path.display(),
                offset,
                dropped_bytes = scan.file_len - offset,
                reason = %reason,
                "cutting off a torn or corrupt tail of the raft log",
            );
            file.set_len(*offset)?;
            file.sync_all()?;
        }

        let purged_index = last_purged.as_ref().map(|p| p.index);
        let mut positions = BTreeMap::new();
        let mut entries = BTreeMap::new();
        let mut last_index: Option<u64> = None;
        for (pos, entry) in scan.frames {
            let index = entry.get_log_id().index;
            if last_index.is_none() && purged_index.is_some_and(|p| index <= p) {
                // Purged, but the purge did not rewrite the file.
                continue;
            }
            let expected = last_index.or(purged_index).map(|i| i + 1);
            if let Some(expected) = expected {
                if index != expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: entry at offset {pos} has index {index}, expected {expected} \
                             (last purged: {purged_index:?})",
                            log_path.display()
                        ),
                    ));
                }
            }
            last_index = Some(index);
            positions.insert(index, pos);
            entries.insert(index, entry);
        }
        tracing::debug!(
            dir = %dir.display(),
            entries = entries.len(),
            ?last_purged,
            "opened raft log store"
        );

        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            entries: RwLock::new(entries),
        });
        let writer = Writer {
            dir: dir.to_path_buf(),
            shared: shared.clone(),
            file,
            len: scan.good_len,
            positions,
            vote,
            committed,
            last_purged,
            broken: None,
        };
        Ok(FileLogStore {
            shared,
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
        })
    }

    /// Runs `op` on the blocking pool with the writer, in call order.
    async fn write_op<T, F>(&self, op: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer<C>) -> io::Result<T> + Send + 'static,
    {
        let mut writer = self.writer.clone().lock_owned().await;
        match tokio::task::spawn_blocking(move || op(&mut writer)).await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(format!("raft log store task failed: {e}"))),
        }
    }
}

impl<C> Writer<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone + Serialize + DeserializeOwned,
{
    /// Runs write I/O; the first failure makes the writer refuse everything after it.
    fn io<T>(&mut self, f: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(format!(
                "raft log store is unusable after an earlier write failure: {why}"
            )));
        }
        let result = f(self);
        if let Err(e) = &result {
            tracing::error!(dir = %self.dir.display(), error = %e, "raft log store write failed");
            self.broken = Some(e.to_string());
        }
        result
    }

    fn next_index(&self) -> Option<u64> {
        self.positions
            .keys()
            .next_back()
            .copied()
            .or(self.last_purged.as_ref().map(|p| p.index))
            .map(|i| i + 1)
    }

    fn append(&mut self, mut entries: Vec<C::Entry>) -> io::Result<()> {
        // Entries at or below the last purged index are already covered by the state machine
        // and would be dropped on open anyway. openraft does not send them in operation, but
        // its storage test suite does.
        if let Some(purged) = &self.last_purged {
            entries.retain(|e| e.get_log_id().index > purged.index);
        }
        if entries.is_empty() {
            return Ok(());
        }
        // Defensive: a hole would make the log unopenable.
        let mut expected = self.next_index();
        for entry in &entries {
            let index = entry.get_log_id().index;
            if expected.is_some_and(|e| e != index) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "append of index {index} would not be contiguous, expected {expected:?}"
                    ),
                ));
            }
            expected = Some(index + 1);
        }
        let mut buf = Vec::new();
        let mut new_positions = Vec::with_capacity(entries.len());
        for entry in &entries {
            let payload = serde_json::to_vec(entry).map_err(io::Error::other)?;
            new_positions.push((entry.get_log_id().index, self.len + buf.len() as u64));
            encode_frame(&mut buf, &payload)?;
        }
        self.io(|w| {
            w.file.seek(SeekFrom::Start(w.len))?;
            w.file.write_all(&buf)?;
            w.file.sync_data()?;
            w.len += buf.len() as u64;
            Ok(())
        })?;
        self.positions.extend(new_positions);
        let mut live = self.shared.write();
        for entry in entries {
            live.insert(entry.get_log_id().index, entry);
        }
        Ok(())
    }

    fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some(&pos) = self.positions.range(index..).next().map(|(_, pos)| pos) else {
            return Ok(());
        };
        self.io(|w| {
            w.file.set_len(pos)?;
            w.file.sync_data()?;
            w.len = pos;
            Ok(())
        })?;
        self.positions.split_off(&index);
        self.shared.write().split_off(&index);
        Ok(())
    }

    fn purge(&mut self, log_id: LogId<C::NodeId>) -> io::Result<()> {
        if self
            .last_purged
            .as_ref()
            .is_some_and(|p| log_id.index <= p.index)
        {
            return Ok(());
        }
        let index = log_id.index;
        let dir = self.dir.clone();
        self.io(|_| write_record(&dir, PURGED_FILE, &log_id))?;
        self.last_purged = Some(log_id);
        self.positions = self.positions.split_off(&(index + 1));
        {
            let mut live = self.shared.write();
            let kept = live.split_off(&(index + 1));
            *live = kept;
        }
        let prefix = self.positions.values().next().copied().unwrap_or(self.len);
        if prefix > 0 && (prefix > REWRITE_MIN_PREFIX || prefix * 2 > self.len) {
            self.io(|w| w.rewrite_without_prefix(prefix))?;
        }
        Ok(())
    }

    /// Replaces `log` with its bytes from `prefix` on: copy to `log.tmp`, fsync, rename,
    /// fsync the directory.
    fn rewrite_without_prefix(&mut self, prefix: u64) -> io::Result<()> {
        let tmp_path = self.dir.join(format!("{LOG_FILE}{TMP_SUFFIX}"));
        let mut tmp = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp_path)?;
        let keep = self.len - prefix;
        self.file.seek(SeekFrom::Start(prefix))?;
        let copied = io::copy(&mut (&mut self.file).take(keep), &mut tmp)?;
        if copied != keep {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("raft log shorter than expected: copied {copied} of {keep} bytes"),
            ));
        }
        tmp.sync_all()?;
        fs::rename(&tmp_path, self.dir.join(LOG_FILE))?;
        sync_dir(&self.dir)?;
        self.file = tmp;
        self.len = keep;
        for pos in self.positions.values_mut() {
            *pos -= prefix;
        }
        tracing::debug!(dir = %self.dir.display(), dropped_bytes = prefix, "rewrote the raft log without its purged prefix");
        Ok(())
    }
}

impl<C: RaftTypeConfig> fmt::Debug for FileLogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileLogStore")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl<C: RaftTypeConfig> fmt::Debug for FileLogReader<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileLogReader")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl<C: RaftTypeConfig> Clone for FileLogReader<C> {
    fn clone(&self) -> Self {
        FileLogReader {
            shared: self.shared.clone(),
        }
    }
}

/// The entries of `map` with an index in `range` (empty for an empty or inverted range).
fn entries_in<E: Clone>(map: &BTreeMap<u64, E>, range: impl RangeBounds<u64>) -> Vec<E> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => match s.checked_add(1) {
            Some(s) => s,
            None => return Vec::new(),
        },
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    match end {
        Some(end) if end <= start => Vec::new(),
        Some(end) => map.range(start..end).map(|(_, e)| e.clone()).collect(),
        None => map.range(start..).map(|(_, e)| e.clone()).collect(),
    }
}

impl<C> RaftLogReader<C> for FileLogReader<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(entries_in(&self.shared.read(), range))
    }
}

impl<C> RaftLogReader<C> for FileLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        Ok(entries_in(&self.shared.read(), range))
    }
}

fn logs_error<NID: openraft::NodeId>(verb: ErrorVerb, e: io::Error) -> StorageError<NID> {
    StorageError::from_io_error(ErrorSubject::Logs, verb, e)
}

impl<C> RaftLogStorage<C> for FileLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Clone + Serialize + DeserializeOwned,
{
    type LogReader = FileLogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let last_purged_log_id = self.writer.lock().await.last_purged.clone();
        let last_log_id = self
            .shared
            .last_log_id()
            .or_else(|| last_purged_log_id.clone());
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        FileLogReader {
            shared: self.shared.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let vote = vote.clone();
        self.write_op(move |w| {
            let dir = w.dir.clone();
            w.io(|_| write_record(&dir, VOTE_FILE, &vote))?;
            w.vote = Some(vote);
            Ok(())
        })
        .await
        .map_err(|e| StorageError::from_io_error(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.writer.lock().await.vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        self.write_op(move |w| {
            let dir = w.dir.clone();
            w.io(|_| write_record(&dir, COMMITTED_FILE, &committed))?;
            w.committed = committed;
            Ok(())
        })
        .await
        .map_err(|e| StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.writer.lock().await.committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<C::Entry> = entries.into_iter().collect();
        match self.write_op(move |w| w.append(entries)).await {
            Ok(()) => {
                // Written and fsynced: only now is the append acknowledged.
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(logs_error(ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.write_op(move |w| w.truncate(log_id.index))
            .await
            .map_err(|e| logs_error(ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.write_op(move |w| w.purge(log_id))
            .await
            .map_err(|e| logs_error(ErrorVerb::Delete, e))
    }
}

/// Appends `[len][crc32c][payload]` to `out`.
fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame payload over 4 GiB"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FrameError {
    ShortHeader { have: usize },
    ZeroLength,
    ShortPayload { need: usize, have: usize },
    Checksum { stored: u32, computed: u32 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ShortHeader { have } => {
                write!(f, "incomplete frame header ({have} of {HEADER_LEN} bytes)")
            }
            FrameError::ZeroLength => write!(f, "zero-length frame"),
            FrameError::ShortPayload { need, have } => {
                write!(f, "incomplete frame payload ({have} of {need} bytes)")
            }
            FrameError::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        }
    }
}

/// Reads the frame at the start of `data` (non-empty): its payload and total length.
fn decode_frame(data: &[u8]) -> Result<(&[u8], usize), FrameError> {
    if data.len() < HEADER_LEN {
        return Err(FrameError::ShortHeader { have: data.len() });
    }
    let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let stored = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    if len == 0 {
        return Err(FrameError::ZeroLength);
    }
    let rest = &data[HEADER_LEN..];
    if rest.len() < len {
        return Err(FrameError::ShortPayload {
            need: len,
            have: rest.len(),
        });
    }
    let payload = &rest[..len];
    let computed = crc32c::crc32c(payload);
    if computed != stored {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok((payload, HEADER_LEN + len))
}

/// What open found in `log`.
struct Scan<E> {
    /// Position and entry of every good frame, in file order.
    frames: Vec<(u64, E)>,
    /// End of the last good frame.
    good_len: u64,
    file_len: u64,
    /// Where and why the scan stopped before the end of the file.
    torn: Option<(u64, FrameError)>,
}

fn scan_log<E: DeserializeOwned>(file: &mut File) -> io::Result<Scan<E>> {
    let mut data = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut data)?;
    let mut frames = Vec::new();
    let mut pos = 0usize;
    let mut torn = None;
    while pos < data.len() {
        match decode_frame(&data[pos..]) {
            Ok((payload, frame_len)) => {
                let entry = serde_json::from_slice(payload).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "raft log frame at offset {pos} has a valid checksum but does not \
                             decode: {e}"
                        ),
                    )
                })?;
                frames.push((pos as u64, entry));
                pos += frame_len;
            }
            Err(e) => {
                torn = Some((pos as u64, e));
                break;
            }
        }
    }
    Ok(Scan {
        frames,
        good_len: pos as u64,
        file_len: data.len() as u64,
        torn,
    })
}

/// Reads a file written by [`write_record`]; `None` if it does not exist.
fn read_record<T: DeserializeOwned>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    let path = dir.join(name);
    let data = match fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let invalid = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    };
    let (payload, frame_len) = decode_frame(&data).map_err(|e| invalid(e.to_string()))?;
    if frame_len != data.len() {
        return Err(invalid(format!(
            "{} trailing bytes after the record",
            data.len() - frame_len
        )));
    }
    serde_json::from_slice(payload)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

/// Replaces `dir/name` atomically with one frame holding `value`.
fn write_record<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let payload = serde_json::to_vec(value).map_err(io::Error::other)?;
    let mut buf = Vec::with_capacity(HEADER_LEN + payload.len());
    encode_frame(&mut buf, &payload)?;
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::Cursor;
    use std::sync::Mutex;

    use openraft::storage::{RaftLogStorageExt, RaftStateMachine, Snapshot};
    use openraft::testing::{log_id, StoreBuilder, Suite};
    use openraft::{
        BasicNode, Entry, EntryPayload, Membership, RaftSnapshotBuilder, SnapshotMeta,
        StoredMembership,
    };
    use serde::Deserialize;

    use super::*;

    openraft::declare_raft_types!(
        pub TestConfig:
            D = String,
            R = (),
            NodeId = u64,
            Node = BasicNode,
            Entry = Entry<TestConfig>,
            SnapshotData = Cursor<Vec<u8>>,
            AsyncRuntime = openraft::TokioRuntime,
    );

    type Store = FileLogStore<TestConfig>;
    type Ent = Entry<TestConfig>;

    fn normal(term: u64, index: u64, data: &str) -> Ent {
        Entry {
            log_id: log_id(term, 1, index),
            payload: EntryPayload::Normal(data.to_string()),
        }
    }

    fn membership(term: u64, index: u64) -> Ent {
        Entry {
            log_id: log_id(term, 1, index),
            payload: EntryPayload::Membership(Membership::new(
                vec![BTreeSet::from([1, 2, 3])],
                None,
            )),
        }
    }

    /// Entries `from..to`, all in `term`, with data naming their index.
    fn ents(term: u64, from: u64, to: u64) -> Vec<Ent> {
        (from..to)
            .map(|i| normal(term, i, &format!("entry-{i}")))
            .collect()
    }

    async fn all(store: &mut Store) -> Vec<Ent> {
        store.try_get_log_entries(..).await.unwrap()
    }

    async fn state(store: &mut Store) -> LogState<TestConfig> {
        store.get_log_state().await.unwrap()
    }

    fn log_len(dir: &Path) -> u64 {
        fs::metadata(dir.join(LOG_FILE)).unwrap().len()
    }

    /// Offset of the last frame of `dir/log` (which must be well formed).
    fn last_frame_offset(dir: &Path) -> usize {
        let data = fs::read(dir.join(LOG_FILE)).unwrap();
        let mut pos = 0;
        let mut last = None;
        while pos < data.len() {
            let (_, len) = decode_frame(&data[pos..]).unwrap();
            last = Some(pos);
            pos += len;
        }
        last.expect("log has no frame")
    }

    #[tokio::test]
    async fn append_and_read_back_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = vec![membership(1, 0)];
        first.extend(ents(1, 1, 4));
        let second = ents(2, 4, 7);
        {
            let mut store = Store::open(dir.path()).unwrap();
            assert_eq!(all(&mut store).await, vec![]);
            store.blocking_append(first.clone()).await.unwrap();
            store.blocking_append(second.clone()).await.unwrap();
            let want: Vec<Ent> = first.iter().chain(&second).cloned().collect();
            assert_eq!(all(&mut store).await, want);
            assert_eq!(
                store.try_get_log_entries(2..5).await.unwrap(),
                want[2..5].to_vec()
            );
            assert_eq!(
                store.try_get_log_entries(5..=6).await.unwrap(),
                want[5..7].to_vec()
            );
            assert_eq!(store.try_get_log_entries(5..5).await.unwrap(), vec![]);
            // An inverted range is empty, not a panic (BTreeMap::range would panic).
            #[allow(clippy::reversed_empty_ranges)]
            let inverted = 6..2;
            assert_eq!(store.try_get_log_entries(inverted).await.unwrap(), vec![]);
            assert_eq!(
                store
                    .try_get_log_entries((Bound::Excluded(u64::MAX), Bound::Unbounded))
                    .await
                    .unwrap(),
                vec![]
            );
        }
        let mut store = Store::open(dir.path()).unwrap();
        let want: Vec<Ent> = first.iter().chain(&second).cloned().collect();
        assert_eq!(all(&mut store).await, want);
        assert_eq!(
            state(&mut store).await,
            LogState {
                last_purged_log_id: None,
                last_log_id: Some(log_id(2, 1, 6)),
            }
        );
        // The log keeps growing after a reopen.
        store.blocking_append(ents(2, 7, 8)).await.unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await.len(), 8);
    }

    #[tokio::test]
    async fn append_rejects_a_hole() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append(ents(1, 0, 3)).await.unwrap();
        let len = log_len(dir.path());
        assert!(store.blocking_append(ents(1, 4, 5)).await.is_err());
        assert!(store
            .blocking_append(vec![normal(1, 3, "a"), normal(1, 5, "b")])
            .await
            .is_err());
        assert_eq!(log_len(dir.path()), len, "nothing written");
        // A rejected append is not an I/O failure: the store keeps working.
        store.blocking_append(ents(1, 3, 4)).await.unwrap();
        assert_eq!(all(&mut store).await, ents(1, 0, 4));
    }

    #[tokio::test]
    async fn vote_and_committed_persist() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            assert_eq!(store.read_vote().await.unwrap(), None);
            assert_eq!(store.read_committed().await.unwrap(), None);
            store.save_vote(&Vote::new(3, 2)).await.unwrap();
            store.save_committed(Some(log_id(3, 2, 9))).await.unwrap();
            assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
        }
        {
            let mut store = Store::open(dir.path()).unwrap();
            assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
            assert_eq!(store.read_committed().await.unwrap(), Some(log_id(3, 2, 9)));
            let mut committed_vote = Vote::new(4, 1);
            committed_vote.commit();
            store.save_vote(&committed_vote).await.unwrap();
            store.save_committed(Some(log_id(4, 1, 12))).await.unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        let mut committed_vote = Vote::new(4, 1);
        committed_vote.commit();
        assert_eq!(store.read_vote().await.unwrap(), Some(committed_vote));
        assert_eq!(
            store.read_committed().await.unwrap(),
            Some(log_id(4, 1, 12))
        );
        for name in [VOTE_FILE, COMMITTED_FILE] {
            assert!(!dir.path().join(format!("{name}{TMP_SUFFIX}")).exists());
        }
    }

    #[tokio::test]
    async fn leftover_tmp_files_are_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        write_record(dir.path(), VOTE_FILE, &Vote::<u64>::new(5, 1)).unwrap();
        for name in [LOG_FILE, VOTE_FILE, COMMITTED_FILE, PURGED_FILE] {
            fs::write(
                dir.path().join(format!("{name}{TMP_SUFFIX}")),
                b"half a replacement",
            )
            .unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(5, 1)));
        for name in [LOG_FILE, VOTE_FILE, COMMITTED_FILE, PURGED_FILE] {
            assert!(
                !dir.path().join(format!("{name}{TMP_SUFFIX}")).exists(),
                "{name}"
            );
        }
    }

    #[test]
    fn corrupt_vote_file_fails_open() {
        let dir = tempfile::tempdir().unwrap();
        write_record(dir.path(), VOTE_FILE, &Vote::<u64>::new(5, 1)).unwrap();
        let path = dir.path().join(VOTE_FILE);
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x01;
        fs::write(&path, &data).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn truncate_then_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.blocking_append(ents(1, 0, 10)).await.unwrap();
            let len_before = log_len(dir.path());
            store.truncate(log_id(1, 1, 5)).await.unwrap();
            assert!(log_len(dir.path()) < len_before);
            assert_eq!(all(&mut store).await, ents(1, 0, 5));
            assert_eq!(state(&mut store).await.last_log_id, Some(log_id(1, 1, 4)));
            // Truncating past the end changes nothing.
            store.truncate(log_id(1, 1, 7)).await.unwrap();
            assert_eq!(all(&mut store).await, ents(1, 0, 5));
            // New entries from a new leader replace the removed ones.
            store.blocking_append(ents(2, 5, 7)).await.unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        let mut want = ents(1, 0, 5);
        want.extend(ents(2, 5, 7));
        assert_eq!(all(&mut store).await, want);
        assert_eq!(state(&mut store).await.last_log_id, Some(log_id(2, 1, 6)));

        // Truncate everything.
        store.truncate(log_id(1, 1, 0)).await.unwrap();
        assert_eq!(log_len(dir.path()), 0);
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, vec![]);
        assert_eq!(state(&mut store).await, LogState::default());
    }

    #[tokio::test]
    async fn small_purge_keeps_the_file_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.blocking_append(ents(1, 0, 10)).await.unwrap();
            let len = log_len(dir.path());
            store.purge(log_id(1, 1, 2)).await.unwrap();
            assert_eq!(log_len(dir.path()), len, "a small prefix is not rewritten");
            assert_eq!(all(&mut store).await, ents(1, 3, 10));
            // A purge at or below the last purged index is a no-op.
            store.purge(log_id(1, 1, 1)).await.unwrap();
            assert_eq!(
                state(&mut store).await.last_purged_log_id,
                Some(log_id(1, 1, 2))
            );
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, ents(1, 3, 10));
        assert_eq!(
            state(&mut store).await,
            LogState {
                last_purged_log_id: Some(log_id(1, 1, 2)),
                last_log_id: Some(log_id(1, 1, 9)),
            }
        );
        // Truncating after the purge cuts at the right place despite the stale prefix.
        store.truncate(log_id(1, 1, 8)).await.unwrap();
        store.blocking_append(ents(3, 8, 9)).await.unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        let mut want = ents(1, 3, 8);
        want.extend(ents(3, 8, 9));
        assert_eq!(all(&mut store).await, want);
    }

    #[tokio::test]
    async fn large_purge_rewrites_the_file_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.blocking_append(ents(1, 0, 10)).await.unwrap();
            let len = log_len(dir.path());
            store.purge(log_id(1, 1, 6)).await.unwrap();
            assert!(
                log_len(dir.path()) < len / 2,
                "the purged prefix is rewritten away"
            );
            assert!(!dir.path().join(format!("{LOG_FILE}{TMP_SUFFIX}")).exists());
            assert_eq!(all(&mut store).await, ents(1, 7, 10));
            // Positions were shifted: truncate and append still land in the right place.
            store.truncate(log_id(1, 1, 9)).await.unwrap();
            store.blocking_append(ents(2, 9, 11)).await.unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        let mut want = ents(1, 7, 9);
        want.extend(ents(2, 9, 11));
        assert_eq!(all(&mut store).await, want);
        assert_eq!(
            state(&mut store).await,
            LogState {
                last_purged_log_id: Some(log_id(1, 1, 6)),
                last_log_id: Some(log_id(2, 1, 10)),
            }
        );
    }

    #[tokio::test]
    async fn purge_of_over_a_mebibyte_rewrites_even_under_half_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(64 * 1024);
        let entries: Vec<Ent> = (0..40).map(|i| normal(1, i, &big)).collect();
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append(entries.clone()).await.unwrap();
        let len = log_len(dir.path());
        // 18 frames: a bit over 1 MiB, well under half of the ~2.6 MiB file.
        store.purge(log_id(1, 1, 17)).await.unwrap();
        let after = log_len(dir.path());
        assert!(after < len, "rewritten: {after} < {len}");
        assert!(len - after > REWRITE_MIN_PREFIX && (len - after) * 2 < len);
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, entries[18..].to_vec());
    }

    #[tokio::test]
    async fn purge_past_the_end_then_append() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.blocking_append(ents(1, 0, 5)).await.unwrap();
            // As after installing a snapshot that is ahead of the log.
            store.purge(log_id(3, 2, 20)).await.unwrap();
            assert_eq!(all(&mut store).await, vec![]);
            assert_eq!(
                state(&mut store).await,
                LogState {
                    last_purged_log_id: Some(log_id(3, 2, 20)),
                    last_log_id: Some(log_id(3, 2, 20)),
                }
            );
            assert_eq!(log_len(dir.path()), 0);
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(state(&mut store).await.last_log_id, Some(log_id(3, 2, 20)));
        store.blocking_append(ents(3, 21, 23)).await.unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, ents(3, 21, 23));
    }

    /// A crash after the purge state is saved but before the log is rewritten: the old log
    /// (with the purged entries) is still there and they must be ignored.
    #[tokio::test]
    async fn crash_between_purge_record_and_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let old_log;
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.blocking_append(ents(1, 0, 10)).await.unwrap();
            old_log = fs::read(dir.path().join(LOG_FILE)).unwrap();
            store.purge(log_id(1, 1, 7)).await.unwrap();
            assert!(log_len(dir.path()) < old_log.len() as u64);
        }
        fs::write(dir.path().join(LOG_FILE), &old_log).unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, ents(1, 8, 10));
        assert_eq!(
            state(&mut store).await,
            LogState {
                last_purged_log_id: Some(log_id(1, 1, 7)),
                last_log_id: Some(log_id(1, 1, 9)),
            }
        );
        // Same with everything purged and a new entry appended after it.
        store.purge(log_id(2, 1, 30)).await.unwrap();
        drop(store);
        fs::write(dir.path().join(LOG_FILE), &old_log).unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, vec![]);
        assert_eq!(state(&mut store).await.last_log_id, Some(log_id(2, 1, 30)));
        store.blocking_append(ents(2, 31, 32)).await.unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, ents(2, 31, 32));
    }

    /// Writes 5 entries, damages the tail with `damage`, reopens: the log must be the first
    /// `keep` entries, the file cut to their end, and appending must work again.
    async fn check_torn_tail(damage: impl FnOnce(&Path, &mut Vec<u8>), keep: u64) {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.blocking_append(ents(1, 0, 3)).await.unwrap();
            store.blocking_append(ents(1, 3, 5)).await.unwrap();
        }
        let good_prefix_len = {
            // The length of the first `keep` frames.
            let data = fs::read(dir.path().join(LOG_FILE)).unwrap();
            let mut pos = 0;
            for _ in 0..keep {
                pos += decode_frame(&data[pos..]).unwrap().1;
            }
            pos as u64
        };
        let path = dir.path().join(LOG_FILE);
        let mut data = fs::read(&path).unwrap();
        damage(dir.path(), &mut data);
        fs::write(&path, &data).unwrap();

        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(all(&mut store).await, ents(1, 0, keep));
        assert_eq!(
            log_len(dir.path()),
            good_prefix_len,
            "torn tail cut off the file"
        );
        store
            .blocking_append(ents(2, keep, keep + 1))
            .await
            .unwrap();
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        let mut want = ents(1, 0, keep);
        want.extend(ents(2, keep, keep + 1));
        assert_eq!(all(&mut store).await, want);
    }

    #[tokio::test]
    async fn torn_tail_garbage_appended() {
        check_torn_tail(
            |_, data| data.extend_from_slice(b"\x17\x00\x00\x00garbage"),
            5,
        )
        .await;
    }

    #[tokio::test]
    async fn torn_tail_zeros_appended() {
        check_torn_tail(|_, data| data.extend_from_slice(&[0; 4096]), 5).await;
    }

    #[tokio::test]
    async fn torn_tail_short_header() {
        check_torn_tail(|_, data| data.extend_from_slice(&[9, 0, 0]), 5).await;
    }

    #[tokio::test]
    async fn torn_tail_half_a_frame() {
        check_torn_tail(
            |dir, data| {
                let last = last_frame_offset(dir);
                let frame_len = data.len() - last;
                data.truncate(last + frame_len / 2);
            },
            4,
        )
        .await;
    }

    #[tokio::test]
    async fn torn_tail_flipped_payload_byte() {
        check_torn_tail(
            |dir, data| {
                let last = last_frame_offset(dir);
                data[last + HEADER_LEN + 3] ^= 0x20;
            },
            4,
        )
        .await;
    }

    #[tokio::test]
    async fn torn_middle_of_last_append_drops_the_rest() {
        // Pages of the last (unacknowledged) append may reach the disk out of order: a bad
        // frame followed by a good one. Everything from the bad frame on is dropped.
        check_torn_tail(
            |dir, data| {
                let _ = dir;
                let mut pos = 0;
                for _ in 0..3 {
                    pos += decode_frame(&data[pos..]).unwrap().1;
                }
                data[pos + HEADER_LEN] ^= 0xff;
            },
            3,
        )
        .await;
    }

    #[test]
    fn checksummed_frame_that_does_not_decode_fails_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = Vec::new();
        encode_frame(&mut data, &serde_json::to_vec(&normal(1, 0, "a")).unwrap()).unwrap();
        encode_frame(&mut data, b"{\"not\":\"an entry\"}").unwrap();
        fs::write(dir.path().join(LOG_FILE), &data).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            fs::read(dir.path().join(LOG_FILE)).unwrap(),
            data,
            "not cut"
        );
    }

    #[test]
    fn hole_in_the_log_fails_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = Vec::new();
        for entry in [normal(1, 0, "a"), normal(1, 1, "b"), normal(1, 3, "d")] {
            encode_frame(&mut data, &serde_json::to_vec(&entry).unwrap()).unwrap();
        }
        fs::write(dir.path().join(LOG_FILE), &data).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // A gap right after the purged index is a hole too.
        let dir = tempfile::tempdir().unwrap();
        let mut data = Vec::new();
        for entry in [normal(1, 0, "a"), normal(1, 5, "f")] {
            encode_frame(&mut data, &serde_json::to_vec(&entry).unwrap()).unwrap();
        }
        fs::write(dir.path().join(LOG_FILE), &data).unwrap();
        write_record(dir.path(), PURGED_FILE, &log_id(1, 1, 2)).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn reader_shares_state_with_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut reader = store.get_log_reader().await;
        let mut reader2 = reader.clone();
        store.blocking_append(ents(1, 0, 4)).await.unwrap();
        assert_eq!(reader.try_get_log_entries(..).await.unwrap(), ents(1, 0, 4));
        store.purge(log_id(1, 1, 1)).await.unwrap();
        assert_eq!(reader.try_get_log_entries(..).await.unwrap(), ents(1, 2, 4));
        store.truncate(log_id(1, 1, 3)).await.unwrap();
        assert_eq!(
            reader2.try_get_log_entries(0..10).await.unwrap(),
            ents(1, 2, 3)
        );
    }

    // --- openraft's storage test suite, with a trivial in-memory state machine.

    #[derive(Debug, Default, Clone, Serialize, Deserialize)]
    struct SmData {
        last_applied: Option<LogId<u64>>,
        membership: StoredMembership<u64, BasicNode>,
        values: Vec<String>,
    }

    #[derive(Debug, Default)]
    struct SmInner {
        data: SmData,
        snapshot: Option<(SnapshotMeta<u64, BasicNode>, Vec<u8>)>,
        snapshots_built: u64,
    }

    #[derive(Debug, Default, Clone)]
    struct MemStateMachine {
        inner: Arc<Mutex<SmInner>>,
    }

    impl RaftSnapshotBuilder<TestConfig> for MemStateMachine {
        async fn build_snapshot(&mut self) -> Result<Snapshot<TestConfig>, StorageError<u64>> {
            let mut inner = self.inner.lock().unwrap();
            inner.snapshots_built += 1;
            let bytes = serde_json::to_vec(&inner.data).unwrap();
            let meta = SnapshotMeta {
                last_log_id: inner.data.last_applied,
                last_membership: inner.data.membership.clone(),
                snapshot_id: format!("snapshot-{}", inner.snapshots_built),
            };
            inner.snapshot = Some((meta.clone(), bytes.clone()));
            Ok(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(bytes)),
            })
        }
    }

    impl RaftStateMachine<TestConfig> for MemStateMachine {
        type SnapshotBuilder = Self;

        async fn applied_state(
            &mut self,
        ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>>
        {
            let inner = self.inner.lock().unwrap();
            Ok((inner.data.last_applied, inner.data.membership.clone()))
        }

        async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<u64>>
        where
            I: IntoIterator<Item = Ent> + OptionalSend,
            I::IntoIter: OptionalSend,
        {
            let mut inner = self.inner.lock().unwrap();
            let mut replies = Vec::new();
            for entry in entries {
                inner.data.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(value) => inner.data.values.push(value),
                    EntryPayload::Membership(m) => {
                        inner.data.membership = StoredMembership::new(Some(entry.log_id), m)
                    }
                }
                replies.push(());
            }
            Ok(replies)
        }

        async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
            self.clone()
        }

        async fn begin_receiving_snapshot(
            &mut self,
        ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
            Ok(Box::new(Cursor::new(Vec::new())))
        }

        async fn install_snapshot(
            &mut self,
            meta: &SnapshotMeta<u64, BasicNode>,
            snapshot: Box<Cursor<Vec<u8>>>,
        ) -> Result<(), StorageError<u64>> {
            let bytes = snapshot.into_inner();
            let data: SmData = serde_json::from_slice(&bytes).unwrap();
            let mut inner = self.inner.lock().unwrap();
            inner.data = data;
            inner.snapshot = Some((meta.clone(), bytes));
            Ok(())
        }

        async fn get_current_snapshot(
            &mut self,
        ) -> Result<Option<Snapshot<TestConfig>>, StorageError<u64>> {
            let inner = self.inner.lock().unwrap();
            Ok(inner.snapshot.as_ref().map(|(meta, bytes)| Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(Cursor::new(bytes.clone())),
            }))
        }
    }

    struct Builder;

    impl StoreBuilder<TestConfig, Store, MemStateMachine, tempfile::TempDir> for Builder {
        async fn build(
            &self,
        ) -> Result<(tempfile::TempDir, Store, MemStateMachine), StorageError<u64>> {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            Ok((dir, store, MemStateMachine::default()))
        }
    }

    /// openraft's own conformance suite for `RaftLogStorage` + `RaftStateMachine`.
    #[test]
    fn openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }
}
