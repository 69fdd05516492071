//! The partition log: a directory `<topic>-<partition>` of segments holding Kafka record
//! batches exactly as producers sent them.
//!
//! - **Append** ([`Log::append`]) validates each batch's header, magic, lengths and CRC32C,
//!   writes the next offset into its `baseOffset` field (which the CRC does not cover) and
//!   appends the bytes. Records are checked without being built
//!   ([`check_records`]: they parse, fill the batch, match its count and offset deltas;
//!   a compacted log also needs keys), so no batch a consumer cannot read gets in.
//! - **Read** ([`Log::read`]) returns whole batches, as stored, from the batch holding the
//!   requested offset; [`Log::offset_for_timestamp`] finds the first record at or after a
//!   time.
//! - **Segments** roll by `segment.bytes` and `segment.ms`; an offset index entry is added
//!   every `index.interval.bytes`, with a time index beside it.
//! - **Retention** ([`Log::delete_old_segments`]) drops whole closed segments by
//!   `retention.ms` and `retention.bytes`; **compaction** ([`Log::compact`], in `cleaner`)
//!   keeps the latest record per key and runs beside appends and reads.
//! - **Durability**: fsync by `flush.messages` / `flush.ms` (by default never: the OS
//!   writes back, as with Kafka), on roll (on a background thread, as Kafka does) and on
//!   [`Log::close`], which also leaves a clean-shutdown marker. The offset up to which
//!   everything is fsynced, the recovery point, is kept in the file `recovery-point`.
//! - **Recovery** on open: after a clean shutdown the indexes are trusted (after a sanity
//!   check); after a crash every segment past the recovery point is re-read and CRC-checked,
//!   a torn tail of the last segment is cut off, and indexes are rebuilt. A corrupt batch
//!   anywhere else is reported as [`LogError::Corrupt`] and the log is not opened, so
//!   nothing is silently dropped.
//!
//! - **Replication** (Kafka's leader/follower log API): [`Log::append_with_epoch`] stamps
//!   the leader epoch into every batch and keeps the leader-epoch cache (`epoch`,
//!   `leader-epoch-checkpoint`) that answers [`Log::end_offset_for_epoch`];
//!   [`Log::append_as_follower`] appends batches whose offsets the leader assigned;
//!   [`Log::truncate_to`] and [`Log::truncate_fully_and_start_at`] cut the log back when it
//!   diverged from the leader's. Truncation is crash-safe: the recovery point is lowered
//!   and the checkpoints rewritten before any segment file changes, so a crash part-way
//!   reopens to a prefix of the log whose cut-off tail is recovered (re-read) on open.
//!   Readers never return truncated data: each truncation bumps a generation that a read
//!   checks after reading, and a read that overlapped one is retried.
//!
//! All file access goes through [`io::Storage`] so tests can inject torn writes and I/O
//! errors; time comes from a [`clock::Clock`].

mod cleaner;
pub mod clock;
pub mod config;
pub mod dump;
pub mod epoch;
pub mod index;
pub mod io;
mod manager;
pub mod producer;
mod segment;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use brook_protocol::record::{
    check_records, set_base_offset, set_max_timestamp, set_partition_leader_epoch, verify_crc,
    BatchHeader, RecordBatch, RecordError, TimestampType,
};
use bytes::Bytes;

pub use cleaner::CleanStats;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{topic_key_for_broker_key, CleanupPolicy, ConfigError, LogConfig};
pub use epoch::{LeaderEpochCache, LEADER_EPOCH_CHECKPOINT_FILE};
pub use io::{FaultyStorage, OsStorage, Storage, StorageFile};
pub use manager::{valid_topic_name, LogManager, Maintenance, MaintenanceReport, TopicPartition};
pub use segment::segment_file_name;

use producer::{ProducerError, ProducerState, SeqCheck};
use segment::{BatchMeta, ScanEnd, Segment, NO_TIMESTAMP};

/// The file whose presence says the log was closed cleanly.
pub const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
/// The file holding the recovery point (decimal offset).
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// The file holding a log start offset raised by DeleteRecords (decimal).
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// The file holding the producer-state snapshot.
pub const PRODUCER_STATE_FILE: &str = "producer-state";

/// How many producer-state snapshots taken at segment rolls are kept in memory.
const ROLL_SNAPSHOTS: usize = 2;

/// Everything that can go wrong in the log. Each variant names what and where.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid record batch at byte {position} of the appended data: {source}")]
    InvalidBatch {
        position: usize,
        #[source]
        source: RecordError,
    },
    #[error("invalid record batch at byte {position} of the appended data: {reason}")]
    InvalidRecords { position: usize, reason: String },
    #[error("record batch of {size} bytes is larger than max.message.bytes ({limit})")]
    RecordTooLarge { size: usize, limit: u64 },
    #[error(
        "a compacted log requires a key on every record (record {record} of the batch at \
         byte {position} has none)"
    )]
    MissingKey { position: usize, record: usize },
    /// One record of a batch is wrong (not its framing: [`LogError::InvalidBatch`]).
    #[error("record {record} of the batch at byte {position}: {reason}")]
    InvalidRecord {
        position: usize,
        record: usize,
        reason: String,
    },
    #[error("offset {offset} is out of range: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error("corrupt data in {} at byte {position}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        position: u64,
        reason: String,
    },
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log {} is offline: {reason}", dir.display())]
    Offline { dir: PathBuf, reason: String },
    #[error("`{0}` is not a valid topic-partition (topics are 1-249 of [a-zA-Z0-9._-], not `.` or `..`; partitions are >= 0)")]
    InvalidTopicPartition(String),
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl LogError {
    /// The index in its batch of the record this error is about, if it is about one (a
    /// Produce response names it in `record_errors`).
    pub fn record_index(&self) -> Option<usize> {
        match self {
            LogError::MissingKey { record, .. } | LogError::InvalidRecord { record, .. } => {
                Some(*record)
            }
            _ => None,
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
        move |source| LogError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A follower append whose batch at byte `position` does not start at the offset the
    /// log expects. It is an [`InvalidRecords`](LogError::InvalidRecords): a variant of its
    /// own would need a new arm in `server::errors`, which maps every variant to a wire
    /// code. The caller knows what it expected ([`Log::log_end_offset`]).
    fn offset_mismatch(position: usize, expected: i64, got: i64) -> LogError {
        LogError::InvalidRecords {
            position,
            reason: format!(
                "offset mismatch: the batch starts at offset {got}, the log expects {expected}"
            ),
        }
    }

    /// A leader epoch older than the latest one in the log (an
    /// [`InvalidRecords`](LogError::InvalidRecords), for the reason given at
    /// [`offset_mismatch`](Self::offset_mismatch)).
    fn stale_leader_epoch(position: usize, epoch: i32, latest: i32) -> LogError {
        LogError::InvalidRecords {
            position,
            reason: format!(
                "stale leader epoch: {epoch} is older than the log's latest leader epoch {latest}"
            ),
        }
    }
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub first_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// Broker time of the append (ms since the epoch).
    pub append_time_ms: i64,
    /// The largest record timestamp in the appended batches.
    pub max_timestamp: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// The batch was a retry of one already in the log (same producer, epoch and
    /// sequences): nothing was written and the offsets are the original ones.
    pub duplicate: bool,
}

/// What [`Log::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The previous close was clean.
    pub clean_shutdown: bool,
    /// Segments re-read and CRC-checked because they were past the recovery point or their
    /// indexes were missing or inconsistent.
    pub segments_recovered: usize,
    /// Bytes cut off the end of the last segment (a torn write).
    pub bytes_truncated: u64,
}

#[derive(Debug)]
struct LogState {
    segments: BTreeMap<i64, Arc<Segment>>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    recovery_point: i64,
    unflushed_messages: i64,
    last_flush_ms: i64,
    /// The cleaner has compacted everything below this offset.
    first_dirty_offset: i64,
    /// Bumped by every truncation, before any file changes: a reader that saw another value
    /// before reading may have read truncated bytes and reads again.
    generation: u64,
}

impl LogState {
    fn active(&self) -> &Arc<Segment> {
        // A log always has at least one segment: open creates one if the directory is empty
        // and retention never deletes the active segment.
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// Segments from the one that may hold `offset` onwards.
    fn segments_from(&self, offset: i64) -> Vec<Arc<Segment>> {
        let start = self
            .segments
            .range(..=offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN);
        self.segments
            .range(start..)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// State of a log's background flusher.
#[derive(Debug, Default)]
struct BackgroundFlush {
    /// Flush everything below this offset.
    target: i64,
    running: bool,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct LogInner {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    config: RwLock<Arc<LogConfig>>,
    state: RwLock<LogState>,
    /// Serialises appends, rolls, retention and the cleaner's swaps.
    append_lock: Mutex<()>,
    /// Serialises flushes (and the cleaner's swaps, which rewrite index files).
    flush_lock: Mutex<()>,
    /// One compaction at a time.
    clean_lock: Mutex<()>,
    /// Set after an I/O error or close: appends and flushes are refused.
    offline: Mutex<Option<String>>,
    /// The flusher that fsyncs segments closed by rolls.
    background_flush: Mutex<BackgroundFlush>,
    /// Idempotent producers' sequences; changed only under `append_lock`.
    producers: Mutex<ProducerState>,
    /// The producer state as of the base offsets of the last [`ROLL_SNAPSHOTS`] segments
    /// (taken when they were rolled), so a truncation into them replays little. Changed
    /// only under `append_lock`.
    roll_snapshots: Mutex<VecDeque<ProducerState>>,
    /// The leader-epoch cache; changed only under `append_lock`, each change persisted
    /// before the log end offset moves past it. Lock order: `state`, then this.
    epochs: Mutex<LeaderEpochCache>,
    open_report: OpenReport,
    closed: AtomicBool,
}

/// A partition log. Cheap to clone: clones share the same log.
#[derive(Debug, Clone)]
pub struct Log {
    inner: Arc<LogInner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values are either `()` or replaced whole; a panic elsewhere cannot leave
    // them half-updated, so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Log {
    /// Opens (or creates) the log in `dir` on the real file system and clock.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log, LogError> {
        Self::open_with(dir, config, Arc::new(OsStorage), Arc::new(SystemClock))
    }

    /// Opens (or creates) the log in `dir`, recovering it if it was not closed cleanly.
    pub fn open_with(
        dir: impl AsRef<Path>,
        config: LogConfig,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
    ) -> Result<Log, LogError> {
        let dir = dir.as_ref().to_path_buf();
        storage.create_dir_all(&dir).map_err(LogError::io(&dir))?;
        let names = storage.list_dir(&dir).map_err(LogError::io(&dir))?;
        let mut bases = Vec::new();
        for name in &names {
            // Leftovers of an interrupted compaction or checkpoint write.
            if name.ends_with(".cleaned") || name.ends_with(".tmp") {
                let p = dir.join(name);
                match storage.remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(LogError::io(&p)(e))
                    }
                    _ => continue,
                }
            }
            if let Some(stem) = name.strip_suffix(".log") {
                if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(base) = stem.parse::<i64>() {
                        bases.push(base);
                    }
                }
            }
        }
        bases.sort_unstable();

        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = storage.exists(&marker);
        if clean {
            // Durably: a marker that outlived a later crash would make torn data look clean.
            storage
                .remove_file(&marker)
                .map_err(LogError::io(&marker))?;
            storage.sync_dir(&dir).map_err(LogError::io(&dir))?;
        }
        let rp_path = dir.join(RECOVERY_POINT_FILE);
        let recovery_point = storage
            .read_file(&rp_path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);

        let mut report = OpenReport {
            clean_shutdown: clean,
            ..OpenReport::default()
        };
        let mut segments = BTreeMap::new();
        // Segments re-read by recovery: their batches' leader epochs are applied to the
        // epoch cache again (the checkpoint may predate them).
        let mut recovered = Vec::new();
        let mut prev_next: i64 = 0;
        let now = clock.now_ms();
        for (i, &base) in bases.iter().enumerate() {
            let seg = Segment::open(&storage, &dir, base)?;
            let corrupt = |position: u64, reason: String| LogError::Corrupt {
                file: dir.join(segment_file_name(base, "log")),
                position,
                reason,
            };
            if base < prev_next {
                return Err(corrupt(0, format!("segment starts at offset {base}, below the end of the previous segment ({prev_next})")));
            }
            let last = i + 1 == bases.len();
            let flushed = clean || (!last && bases[i + 1] <= recovery_point);
            let trusted = flushed && seg.load_indexes(now)?;
            if !trusted {
                report.segments_recovered += 1;
                recovered.push(base);
                match seg.recover(prev_next, config.index_interval_bytes, now)? {
                    ScanEnd::Complete => {}
                    // A bad tail of the last segment is an interrupted write (even after a
                    // "clean" close, if the disk lost the marker's removal): cut it off.
                    ScanEnd::Invalid { position, reason } if last => {
                        tracing::warn!(
                            dir = %dir.display(), base, position, %reason,
                            "truncating the torn tail of the last segment"
                        );
                        report.bytes_truncated = seg.truncate_file(position)?;
                    }
                    ScanEnd::Invalid { position, reason } => return Err(corrupt(position, reason)),
                }
                if flushed {
                    // Its index files were bad: write the rebuilt ones now.
                    seg.flush()?;
                }
            }
            prev_next = seg.next_offset();
            segments.insert(base, Arc::new(seg));
        }
        let start_path = dir.join(LOG_START_OFFSET_FILE);
        let persisted_start = storage
            .read_file(&start_path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if segments.is_empty() {
            // A new log, or one a full truncation crashed in after deleting its segments:
            // it starts where the persisted start says (0 for a new log).
            let base = persisted_start.max(0);
            let seg = Segment::create(&storage, &dir, base, false)?;
            segments.insert(base, Arc::new(seg));
        }
        // DeleteRecords may have raised the start inside the first segment.
        let log_end = segments
            .values()
            .next_back()
            .map(|s| s.next_offset())
            .unwrap_or(0);
        let log_start_offset =
            (*segments.keys().next().unwrap_or(&0)).max(persisted_start.min(log_end));
        if persisted_start > log_end {
            // Left by a truncation below it that crashed before rewriting it: it would hide
            // records appended later.
            storage
                .write_file_atomic(&start_path, log_start_offset.to_string().as_bytes())
                .map_err(LogError::io(&start_path))?;
        }
        let log_end_offset = segments
            .values()
            .next_back()
            .map(|s| s.next_offset())
            .unwrap_or(0);
        let state = LogState {
            segments,
            log_start_offset,
            log_end_offset,
            high_watermark: log_end_offset,
            recovery_point: if clean {
                log_end_offset
            } else {
                recovery_point.min(log_end_offset)
            },
            unflushed_messages: 0,
            last_flush_ms: now,
            first_dirty_offset: log_start_offset,
            generation: 0,
        };
        let producers = Self::rebuild_producers(&storage, &dir, &state)?;
        let epochs = Self::load_epochs(&storage, &dir, &state, &recovered)?;
        Ok(Log {
            inner: Arc::new(LogInner {
                dir,
                storage,
                clock,
                config: RwLock::new(Arc::new(config)),
                state: RwLock::new(state),
                append_lock: Mutex::new(()),
                flush_lock: Mutex::new(()),
                clean_lock: Mutex::new(()),
                offline: Mutex::new(None),
                background_flush: Mutex::new(BackgroundFlush::default()),
                producers: Mutex::new(producers),
                roll_snapshots: Mutex::new(VecDeque::new()),
                epochs: Mutex::new(epochs),
                open_report: report,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Producer state: the snapshot if it is intact and not past the log end, then the
    /// headers of every batch after it.
    fn rebuild_producers(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        state: &LogState,
    ) -> Result<ProducerState, LogError> {
        let snapshot = storage
            .read_file(&dir.join(PRODUCER_STATE_FILE))
            .ok()
            .and_then(|b| ProducerState::decode(&b))
            .filter(|p| p.next_offset <= state.log_end_offset);
        let mut producers =
            snapshot.unwrap_or_else(|| ProducerState::starting_at(state.log_start_offset));
        let from = producers.next_offset;
        for seg in state.segments_from(from) {
            seg.visit_headers_from(from, |h| producers.apply(h))?;
        }
        Ok(producers)
    }

    /// The leader-epoch cache: the checkpoint if it is valid, cut back to the log end and
    /// extended by the epochs of the segments recovery re-read; otherwise rebuilt from the
    /// batch headers of the whole log. Written back if that changed it.
    fn load_epochs(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        state: &LogState,
        recovered: &[i64],
    ) -> Result<LeaderEpochCache, LogError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let stored = storage.read_file(&path).ok();
        let mut cache = match stored.as_deref().map(LeaderEpochCache::decode) {
            Some(Some(mut cache)) => {
                cache.truncate_from_end(state.log_end_offset);
                for base in recovered {
                    if let Some(seg) = state.segments.get(base) {
                        seg.visit_headers_from(seg.base_offset, |h| {
                            cache.assign(h.partition_leader_epoch, h.base_offset);
                        })?;
                    }
                }
                cache
            }
            found => {
                if found.is_some() {
                    tracing::warn!(
                        dir = %dir.display(),
                        "invalid leader-epoch checkpoint: rebuilding it from the log"
                    );
                }
                let mut cache = LeaderEpochCache::default();
                for seg in state.segments.values() {
                    seg.visit_headers_from(seg.base_offset, |h| {
                        cache.assign(h.partition_leader_epoch, h.base_offset);
                    })?;
                }
                cache
            }
        };
        cache.truncate_from_start(state.log_start_offset);
        let encoded = cache.encode();
        // An empty log has nothing to scan: no need to write its (empty) checkpoint.
        let nothing_to_keep = stored.is_none() && state.segments.values().all(|s| s.size() == 0);
        if stored.as_deref() != Some(&encoded[..]) && !nothing_to_keep {
            storage
                .write_file_atomic(&path, &encoded)
                .map_err(LogError::io(&path))?;
        }
        Ok(cache)
    }

    fn state(&self) -> RwLockReadGuard<'_, LogState> {
        // LogState fields are assigned after the I/O they describe succeeded; a panic while
        // the lock is held cannot leave them inconsistent with the files.
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, LogState> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn config(&self) -> Arc<LogConfig> {
        self.inner
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the configuration; it applies from the next append or maintenance pass.
    pub fn set_config(&self, config: LogConfig) {
        *self.inner.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// What opening the log found.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.open_report
    }

    pub fn log_start_offset(&self) -> i64 {
        self.state().log_start_offset
    }

    /// One past the last offset in the log.
    pub fn log_end_offset(&self) -> i64 {
        self.state().log_end_offset
    }

    /// The high watermark: the replication layer moves it; it starts at the log end offset.
    pub fn high_watermark(&self) -> i64 {
        self.state().high_watermark
    }

    /// Sets the high watermark, clamped to `[log start, log end]`.
    pub fn set_high_watermark(&self, offset: i64) {
        let mut st = self.state_mut();
        st.high_watermark = offset.clamp(st.log_start_offset, st.log_end_offset);
    }

    /// The offset below which everything has been fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.state().recovery_point
    }

    pub fn segment_count(&self) -> usize {
        self.state().segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.state().segments.keys().copied().collect()
    }

    /// Total bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.state().segments.values().map(|s| s.size()).sum()
    }

    fn check_online(&self) -> Result<(), LogError> {
        match &*lock(&self.inner.offline) {
            None => Ok(()),
            Some(reason) => Err(LogError::Offline {
                dir: self.inner.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Takes the log offline after an I/O error: later appends fail until it is reopened
    /// (which runs recovery), as Kafka does with a failed log directory.
    fn go_offline(&self, err: &LogError) {
        let mut off = lock(&self.inner.offline);
        if off.is_none() {
            tracing::error!(dir = %self.inner.dir.display(), error = %err, "log goes offline");
            *off = Some(format!("an earlier write failed: {err}"));
        }
    }

    fn offline_on_err<T>(&self, r: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &r {
            if matches!(e, LogError::Io { .. }) {
                self.go_offline(e);
            }
        }
        r
    }

    /// Validates the batches in `records` and returns what the appender needs to know.
    /// For batches a `follower` fetched, `max.message.bytes` and the keys of a compacted
    /// log are not checked (as Kafka's follower append does not): the leader accepted
    /// them, perhaps under another configuration, and refusing them would stop
    /// replication for good.
    fn validate(
        &self,
        records: &[u8],
        config: &LogConfig,
        follower: bool,
    ) -> Result<(Vec<BatchMeta>, i64), LogError> {
        if records.is_empty() {
            return Err(LogError::InvalidRecords {
                position: 0,
                reason: "no record batches".into(),
            });
        }
        let mut metas = Vec::new();
        let mut count: i64 = 0;
        let mut pos = 0usize;
        while pos < records.len() {
            let rest = &records[pos..];
            let h = BatchHeader::parse(rest).map_err(|source| LogError::InvalidBatch {
                position: pos,
                source,
            })?;
            let len = h.total_len();
            if len as u64 > config.max_message_bytes && !follower {
                return Err(LogError::RecordTooLarge {
                    size: len,
                    limit: config.max_message_bytes,
                });
            }
            if len > rest.len() {
                return Err(LogError::InvalidBatch {
                    position: pos,
                    source: RecordError::Truncated {
                        needed: len,
                        available: rest.len(),
                    },
                });
            }
            let bytes = &rest[..len];
            if h.is_control() {
                // Other batches have their CRC checked with their records, below.
                verify_crc(bytes).map_err(|source| LogError::InvalidBatch {
                    position: pos,
                    source,
                })?;
            }
            h.compression().map_err(|source| LogError::InvalidBatch {
                position: pos,
                source,
            })?;
            if h.records_count <= 0 {
                return Err(LogError::InvalidRecords {
                    position: pos,
                    reason: format!("batch holds {} records", h.records_count),
                });
            }
            if i64::from(h.last_offset_delta) != i64::from(h.records_count) - 1 {
                return Err(LogError::InvalidRecords {
                    position: pos,
                    reason: format!(
                        "last offset delta {} does not match {} records",
                        h.last_offset_delta, h.records_count
                    ),
                });
            }
            if !h.is_control() {
                // Every record must parse, as Kafka's LogValidator insists: a batch that does
                // not would stop every consumer that reaches it.
                let summary = check_records(bytes, cleaner::MAX_UNCOMPRESSED).map_err(
                    |source| match source {
                        RecordError::OffsetDeltaMismatch { expected, .. } => {
                            LogError::InvalidRecord {
                                position: pos,
                                record: expected as usize,
                                reason: source.to_string(),
                            }
                        }
                        source => LogError::InvalidBatch {
                            position: pos,
                            source,
                        },
                    },
                )?;
                let unkeyed = summary.first_unkeyed;
                if let Some(record) = unkeyed.filter(|_| config.cleanup_policy.compact && !follower)
                {
                    return Err(LogError::MissingKey {
                        position: pos,
                        record,
                    });
                }
            }
            metas.push(BatchMeta {
                pos,
                len,
                last_offset: i64::from(h.last_offset_delta),
                max_timestamp: h.max_timestamp,
            });
            count += i64::from(h.records_count);
            pos += len;
        }
        Ok((metas, count))
    }

    /// Appends one or more record batches (format v2, as a producer sends them). The base
    /// offset of each batch is written in place; the rest of the bytes are stored as given.
    /// Either every batch is appended or none is.
    ///
    /// Leader epochs: in a log that has one (its epoch cache is not empty) every batch is
    /// stamped with the latest epoch, as [`append_with_epoch`](Self::append_with_epoch)
    /// with that epoch would; in a log that never had one the `partitionLeaderEpoch` field
    /// is stored as the producer sent it (-1 from Kafka clients), as before epochs existed.
    pub fn append(&self, records: &mut [u8]) -> Result<AppendInfo, LogError> {
        self.append_as_leader(records, None)
    }

    /// Appends as the partition leader in `leader_epoch`: as [`append`](Self::append) does,
    /// and writes `leader_epoch` into every batch's `partitionLeaderEpoch` (bytes 12..16,
    /// which the CRC does not cover). An epoch newer than the log's latest is recorded in
    /// the epoch cache as starting at the first offset appended, and persisted before the
    /// append returns. An epoch older than the latest (a deposed leader) or negative is
    /// refused with [`LogError::InvalidRecords`]. A retried idempotent batch (a duplicate)
    /// writes and records nothing.
    pub fn append_with_epoch(
        &self,
        records: &mut [u8],
        leader_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        if leader_epoch < 0 {
            return Err(LogError::InvalidRecords {
                position: 0,
                reason: format!("leader epoch {leader_epoch} is negative"),
            });
        }
        self.append_as_leader(records, Some(leader_epoch))
    }

    fn append_as_leader(
        &self,
        records: &mut [u8],
        leader_epoch: Option<i32>,
    ) -> Result<AppendInfo, LogError> {
        let config = self.config();
        let (mut metas, count) = self.validate(records, &config, false)?;
        let _append = lock(&self.inner.append_lock);
        self.check_online()?;
        let latest = lock(&self.inner.epochs).latest_epoch();
        let epoch = match (leader_epoch, latest) {
            (Some(e), Some(l)) if e < l => return Err(LogError::stale_leader_epoch(0, e, l)),
            (Some(e), _) => Some(e),
            (None, l) => l,
        };
        let now = self.inner.clock.now_ms();
        let first_offset = self.log_end_offset();
        let mut next = first_offset;
        let mut max_timestamp = NO_TIMESTAMP;
        let log_append_time = config.message_timestamp_type == TimestampType::LogAppendTime;
        for m in &mut metas {
            if log_append_time {
                // Kafka's LogAppendTime: the broker's clock replaces the batch's max
                // timestamp (and with it every record's), and the CRC is recomputed.
                set_max_timestamp(
                    &mut records[m.pos..m.pos + m.len],
                    TimestampType::LogAppendTime,
                    now,
                );
                m.max_timestamp = now;
            }
            set_base_offset(&mut records[m.pos..], next);
            if let Some(e) = epoch {
                set_partition_leader_epoch(&mut records[m.pos..], e);
            }
            m.last_offset += next; // last_offset held the delta until now
            next = m.last_offset + 1;
            max_timestamp = max_timestamp.max(m.max_timestamp);
        }
        let active = self.maybe_roll(records.len(), next, now, &config)?;
        // Taken after the roll: a roll may flush inline, and flushing snapshots this state.
        let mut producers = lock(&self.inner.producers);
        for m in &metas {
            let h =
                BatchHeader::parse(&records[m.pos..]).map_err(|source| LogError::InvalidBatch {
                    position: m.pos,
                    source,
                })?;
            if h.producer_id < 0 || h.is_control() {
                continue;
            }
            if metas.len() > 1 {
                return Err(LogError::InvalidRecords {
                    position: m.pos,
                    reason: "an idempotent producer sends one batch per partition per request"
                        .into(),
                });
            }
            if let SeqCheck::Duplicate { first_offset } = producers.check(&h)? {
                return Ok(AppendInfo {
                    first_offset,
                    last_offset: first_offset + i64::from(h.last_offset_delta),
                    append_time_ms: now,
                    max_timestamp: h.max_timestamp,
                    log_start_offset: self.log_start_offset(),
                    duplicate: true,
                });
            }
        }
        // A new epoch is persisted before its first batch is written (so before the log
        // end, and with it any flush, can pass that batch).
        let mut epochs = None;
        if let Some(e) = epoch.filter(|&e| latest.is_none_or(|l| e > l)) {
            let mut cache = lock(&self.inner.epochs).clone();
            cache.assign(e, first_offset);
            self.persist_epochs(&cache)?;
            epochs = Some(cache);
        }
        let r = active.append(records, &metas, config.index_interval_bytes, now);
        self.offline_on_err(r)?;
        for m in &metas {
            if let Ok(h) = BatchHeader::parse(&records[m.pos..]) {
                producers.apply(&h);
            }
        }
        drop(producers);
        if let Some(cache) = epochs {
            *lock(&self.inner.epochs) = cache;
        }
        let (log_start_offset, flush_now) = self.publish_append(next, count, &config);
        if flush_now {
            self.flush_up_to(next)?;
        }
        Ok(AppendInfo {
            first_offset,
            last_offset: next - 1,
            append_time_ms: now,
            max_timestamp,
            log_start_offset,
            duplicate: false,
        })
    }

    /// Appends batches fetched from the leader, whose offsets the leader assigned: they are
    /// validated as [`append`](Self::append) validates (framing, magic, lengths, CRC,
    /// records; not `max.message.bytes` or keys, see `validate`) and stored unchanged.
    ///
    /// - The first batch must start at the log end offset and each next one right after
    ///   the one before, else [`LogError::InvalidRecords`] ("offset mismatch") and nothing
    ///   is written. In a compacted log (`cleanup.policy` with `compact`) batches may also
    ///   start later (never earlier): the leader's compaction leaves gaps where it removed
    ///   whole batches, and fetches return what follows them.
    /// - No sequence is checked, but every idempotent batch is applied to the producer
    ///   state, so that this replica detects retries once it leads.
    /// - Each batch's `partitionLeaderEpoch` feeds the epoch cache (an epoch newer than the
    ///   latest starts at the batch's base offset; a negative one is ignored; an older one
    ///   is refused as a stale leader epoch: the log diverges and must be truncated first).
    /// - The high watermark does not move (the caller sets it from the leader's).
    /// - An empty `records` appends nothing: the result has `first_offset` = log end offset
    ///   and `last_offset` one below it.
    pub fn append_as_follower(&self, records: &mut [u8]) -> Result<AppendInfo, LogError> {
        if records.is_empty() {
            let st = self.state();
            return Ok(AppendInfo {
                first_offset: st.log_end_offset,
                last_offset: st.log_end_offset - 1,
                append_time_ms: self.inner.clock.now_ms(),
                max_timestamp: NO_TIMESTAMP,
                log_start_offset: st.log_start_offset,
                duplicate: false,
            });
        }
        let config = self.config();
        let (mut metas, count) = self.validate(records, &config, true)?;
        let mut headers = Vec::with_capacity(metas.len());
        for m in &mut metas {
            let h =
                BatchHeader::parse(&records[m.pos..]).map_err(|source| LogError::InvalidBatch {
                    position: m.pos,
                    source,
                })?;
            let last = h.base_offset.checked_add(i64::from(h.last_offset_delta));
            if h.base_offset < 0 || last.is_none_or(|l| l == i64::MAX) {
                return Err(LogError::InvalidRecords {
                    position: m.pos,
                    reason: format!(
                        "batch offsets {} + {} are out of range",
                        h.base_offset, h.last_offset_delta
                    ),
                });
            }
            m.last_offset = h.last_offset();
            headers.push(h);
        }
        let _append = lock(&self.inner.append_lock);
        self.check_online()?;
        let now = self.inner.clock.now_ms();
        let log_end = self.log_end_offset();
        let gaps = config.cleanup_policy.compact;
        let mut next = log_end;
        let mut max_timestamp = NO_TIMESTAMP;
        for (m, h) in metas.iter().zip(&headers) {
            if h.base_offset < next || (h.base_offset != next && !gaps) {
                return Err(LogError::offset_mismatch(m.pos, next, h.base_offset));
            }
            next = h.last_offset() + 1;
            max_timestamp = max_timestamp.max(h.max_timestamp);
        }
        if next - 1 - log_end > i64::from(i32::MAX) {
            // More than one segment's relative offsets, even in a new segment.
            return Err(LogError::InvalidRecords {
                position: 0,
                reason: format!(
                    "the batches span offsets {log_end}..{next}, too many for one segment"
                ),
            });
        }
        // Usually every batch is of the latest epoch: the cache is copied only if not.
        let mut latest = lock(&self.inner.epochs).latest_epoch();
        let mut epochs: Option<LeaderEpochCache> = None;
        for (m, h) in metas.iter().zip(&headers) {
            let e = h.partition_leader_epoch;
            match latest {
                _ if e < 0 => {}
                Some(l) if e < l => return Err(LogError::stale_leader_epoch(m.pos, e, l)),
                Some(l) if e == l => {}
                _ => {
                    epochs
                        .get_or_insert_with(|| lock(&self.inner.epochs).clone())
                        .assign(e, h.base_offset);
                    latest = Some(e);
                }
            }
        }
        let active = self.maybe_roll(records.len(), next, now, &config)?;
        let mut producers = lock(&self.inner.producers);
        if let Some(cache) = &epochs {
            self.persist_epochs(cache)?;
        }
        let r = active.append(records, &metas, config.index_interval_bytes, now);
        self.offline_on_err(r)?;
        for h in &headers {
            producers.apply(h);
        }
        drop(producers);
        if let Some(cache) = epochs {
            *lock(&self.inner.epochs) = cache;
        }
        let (log_start_offset, flush_now) = self.publish_append(next, count, &config);
        if flush_now {
            self.flush_up_to(next)?;
        }
        Ok(AppendInfo {
            first_offset: headers[0].base_offset,
            last_offset: next - 1,
            append_time_ms: now,
            max_timestamp,
            log_start_offset,
            duplicate: false,
        })
    }

    /// Publishes appended offsets; returns the log start offset and whether
    /// `flush.messages` asks for a flush now.
    fn publish_append(&self, next: i64, count: i64, config: &LogConfig) -> (i64, bool) {
        let mut st = self.state_mut();
        st.log_end_offset = next;
        st.unflushed_messages += count;
        (
            st.log_start_offset,
            st.unflushed_messages >= config.flush_messages,
        )
    }

    /// Writes the leader-epoch checkpoint (atomically, and the directory entry durably:
    /// a recovery point written after it must not survive a crash without it). Called under
    /// the append lock; an I/O error takes the log offline.
    fn persist_epochs(&self, cache: &LeaderEpochCache) -> Result<(), LogError> {
        let path = self.inner.dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let r = self
            .inner
            .storage
            .write_file_atomic(&path, &cache.encode())
            .and_then(|()| self.inner.storage.sync_dir(&self.inner.dir))
            .map_err(LogError::io(&path));
        self.offline_on_err(r)
    }

    /// Records that the leader epoch `epoch` starts at the log end offset (Kafka's
    /// `maybeAssignEpochStartOffset`, called when this replica becomes leader), so that
    /// OffsetForLeaderEpoch answers for the previous epochs before the first append, and
    /// [`append`](Self::append) stamps `epoch`. Persisted before it returns. Returns
    /// whether it was recorded: an epoch not newer than the latest changes nothing.
    pub fn assign_leader_epoch(&self, epoch: i32) -> Result<bool, LogError> {
        let _append = lock(&self.inner.append_lock);
        self.check_online()?;
        let mut cache = lock(&self.inner.epochs).clone();
        if !cache.assign(epoch, self.log_end_offset()) {
            return Ok(false);
        }
        self.persist_epochs(&cache)?;
        *lock(&self.inner.epochs) = cache;
        Ok(true)
    }

    /// The latest leader epoch in the epoch cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        lock(&self.inner.epochs).latest_epoch()
    }

    /// The epoch cache: `(epoch, start offset)`, strictly increasing in both.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        lock(&self.inner.epochs).entries().to_vec()
    }

    /// OffsetForLeaderEpoch: the largest epoch `<= epoch` in the cache and its end offset
    /// (the start of the next epoch in the cache, or the log end offset for the latest).
    /// `None` for an empty cache or an epoch below the first one: the caller answers with
    /// the undefined epoch and offset (-1). See [`LeaderEpochCache::end_offset_for`].
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let st = self.state();
        let end = lock(&self.inner.epochs).end_offset_for(epoch, st.log_end_offset);
        end
    }

    /// Rolls to a new segment when the active one is full, too old, or would overflow its
    /// relative offsets. Called with the append lock held.
    fn maybe_roll(
        &self,
        incoming: usize,
        next_offset: i64,
        now: i64,
        config: &LogConfig,
    ) -> Result<Arc<Segment>, LogError> {
        let active = self.state().active().clone();
        let (size, rolling_base) = {
            let st = active.read_state();
            (st.size, st.rolling_base_ms)
        };
        let too_big = size + incoming as u64 > config.segment_bytes;
        let too_old = rolling_base.is_some_and(|t| now.saturating_sub(t) >= config.segment_ms);
        let overflow = next_offset - 1 - active.base_offset > i32::MAX as i64;
        if size == 0 || !(too_big || too_old || overflow) {
            return Ok(active);
        }
        self.roll_locked(active)
    }

    /// Closes the active segment and starts a new one at the log end offset; the old one is
    /// fsynced on a background thread.
    pub fn roll(&self) -> Result<(), LogError> {
        let _append = lock(&self.inner.append_lock);
        self.check_online()?;
        let active = self.state().active().clone();
        if active.size() == 0 {
            return Ok(());
        }
        self.roll_locked(active).map(|_| ())
    }

    fn roll_locked(&self, active: Arc<Segment>) -> Result<Arc<Segment>, LogError> {
        let base = self.log_end_offset();
        let r = Segment::create(&self.inner.storage, &self.inner.dir, base, false);
        let seg = Arc::new(self.offline_on_err(r)?);
        active.seal();
        // Under the append lock every batch below `base` is applied: the state as of `base`.
        let snapshot = lock(&self.inner.producers).clone();
        {
            let mut snapshots = lock(&self.inner.roll_snapshots);
            if snapshots.len() == ROLL_SNAPSHOTS {
                snapshots.pop_front();
            }
            snapshots.push_back(snapshot);
        }
        self.state_mut().segments.insert(base, seg.clone());
        self.flush_in_background(base)?;
        Ok(seg)
    }

    /// Asks the log's background flusher to fsync everything below `offset`. At most one
    /// flusher thread runs per log; it keeps going while rolls raise the target.
    fn flush_in_background(&self, offset: i64) -> Result<(), LogError> {
        let mut bg = lock(&self.inner.background_flush);
        bg.target = bg.target.max(offset);
        if bg.running {
            return Ok(());
        }
        let log = self.clone();
        let spawned = std::thread::Builder::new()
            .name("brook-log-flush".into())
            .spawn(move || loop {
                let target = {
                    let mut bg = lock(&log.inner.background_flush);
                    if bg.target <= log.recovery_point() || log.check_online().is_err() {
                        bg.running = false;
                        return;
                    }
                    bg.target
                };
                if let Err(e) = log.flush_up_to(target) {
                    tracing::error!(dir = %log.inner.dir.display(), error = %e, "flush after roll failed");
                    lock(&log.inner.background_flush).running = false;
                    return;
                }
            });
        match spawned {
            Ok(handle) => {
                bg.running = true;
                bg.thread = Some(handle);
                Ok(())
            }
            // No thread to spare: flush inline instead.
            Err(_) => {
                drop(bg);
                self.flush_up_to(offset)
            }
        }
    }

    /// Waits for the background flusher, if one is running.
    fn join_background_flush(&self) {
        let handle = lock(&self.inner.background_flush).thread.take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Fsyncs everything appended so far and advances the recovery point.
    pub fn flush(&self) -> Result<(), LogError> {
        let end = self.log_end_offset();
        self.flush_up_to(end)
    }

    /// Flushes if `flush.ms` has passed since the last flush and something is unflushed.
    pub fn flush_if_due(&self) -> Result<bool, LogError> {
        let config = self.config();
        let (due, end) = {
            let st = self.state();
            let now = self.inner.clock.now_ms();
            (
                st.recovery_point < st.log_end_offset
                    && now.saturating_sub(st.last_flush_ms) >= config.flush_ms,
                st.log_end_offset,
            )
        };
        if due {
            self.flush_up_to(end)?;
        }
        Ok(due)
    }

    fn flush_up_to(&self, offset: i64) -> Result<(), LogError> {
        let _flush = lock(&self.inner.flush_lock);
        self.check_online()?;
        let (segments, end) = {
            let st = self.state();
            if offset <= st.recovery_point {
                return Ok(());
            }
            let rp = st.recovery_point;
            let segs: Vec<_> = st
                .segments
                .values()
                .filter(|s| s.base_offset < offset && (s.next_offset() > rp || s.base_offset >= rp))
                .cloned()
                .collect();
            (segs, offset.min(st.log_end_offset))
        };
        for seg in segments {
            let r = seg.flush();
            self.offline_on_err(r)?;
        }
        let path = self.inner.dir.join(RECOVERY_POINT_FILE);
        let r = self
            .inner
            .storage
            .write_file_atomic(&path, end.to_string().as_bytes())
            .map_err(LogError::io(&path));
        self.offline_on_err(r)?;
        // A snapshot past what survives a crash is discarded on open, so any moment's
        // state will do.
        let snapshot = lock(&self.inner.producers).encode();
        let path = self.inner.dir.join(PRODUCER_STATE_FILE);
        let r = self
            .inner
            .storage
            .write_file_atomic(&path, &snapshot)
            .map_err(LogError::io(&path));
        self.offline_on_err(r)?;
        let now = self.inner.clock.now_ms();
        let mut st = self.state_mut();
        st.recovery_point = st.recovery_point.max(end);
        st.last_flush_ms = now;
        if st.recovery_point >= st.log_end_offset {
            st.unflushed_messages = 0;
        }
        Ok(())
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes`
    /// (at least one whole batch is returned, however large). An empty result means
    /// `offset` is the log end offset.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Bytes, LogError> {
        self.read_bounded(offset, max_bytes, i64::MAX)
    }

    /// Like [`read`](Self::read), but returns no batch that starts at or after
    /// `max_offset` (e.g. the high watermark).
    pub fn read_bounded(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<Bytes, LogError> {
        let mut buf = Vec::new();
        let range = self.read_into(offset, max_bytes, max_offset, &mut buf)?;
        Ok(Bytes::from(buf).slice(range))
    }

    /// Like [`read_bounded`](Self::read_bounded), but into `buf`, which the caller reuses
    /// across reads (it is only ever grown): the batches are `buf[range]`. This is the read
    /// path with no allocation per call.
    pub fn read_into(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        buf: &mut Vec<u8>,
    ) -> Result<std::ops::Range<usize>, LogError> {
        self.read_into_at(offset, max_bytes, max_offset, buf, 0)
    }

    /// Like [`read_into`](Self::read_into), but writes from `buf[at]` on, leaving
    /// `buf[..at]` alone, so that one buffer can collect the batches of several reads (a
    /// Fetch of many partitions). Bytes past `at` outside the returned range are scratch.
    pub fn read_into_at(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        buf: &mut Vec<u8>,
        at: usize,
    ) -> Result<std::ops::Range<usize>, LogError> {
        loop {
            let (r, generation) = self.read_once(offset, max_bytes, max_offset, buf, at);
            // A truncation during the read may have cut what was read: read again.
            if self.state().generation == generation {
                return r;
            }
        }
    }

    /// One attempt of [`read_into_at`](Self::read_into_at), and the truncation generation
    /// it started in.
    fn read_once(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        buf: &mut Vec<u8>,
        at: usize,
    ) -> (Result<std::ops::Range<usize>, LogError>, u64) {
        let (seg, end, generation) = {
            let st = self.state();
            if offset < st.log_start_offset || offset > st.log_end_offset {
                let e = LogError::OffsetOutOfRange {
                    offset,
                    log_start: st.log_start_offset,
                    log_end: st.log_end_offset,
                };
                return (Err(e), st.generation);
            }
            let seg = st
                .segments
                .range(..=offset)
                .next_back()
                .or_else(|| st.segments.iter().next())
                .map(|(_, s)| s.clone());
            (seg, st.log_end_offset, st.generation)
        };
        (
            self.read_segments(seg, offset, max_bytes, max_offset.min(end), buf, at),
            generation,
        )
    }

    fn read_segments(
        &self,
        mut seg: Option<Arc<Segment>>,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        buf: &mut Vec<u8>,
        at: usize,
    ) -> Result<std::ops::Range<usize>, LogError> {
        // Segment by segment (the lock is not held while reading): usually the first one
        // has the batch; the next one only if `offset` is the end of the first.
        while let Some(s) = seg {
            if s.base_offset >= max_offset {
                break;
            }
            let range = s.read_into(offset, max_bytes, max_offset, buf, at)?;
            if !range.is_empty() {
                return Ok(range);
            }
            seg = self
                .state()
                .segments
                .range(s.base_offset + 1..)
                .next()
                .map(|(_, s)| s.clone());
        }
        Ok(at..at)
    }

    /// Every batch from the log start offset to the log end offset (as of the call), as
    /// stored, read `max_bytes` at a time.
    pub fn batches(&self) -> impl Iterator<Item = Result<Bytes, LogError>> + '_ {
        let mut offset = self.log_start_offset();
        let end = self.log_end_offset();
        let mut pending: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
        let mut failed = false;
        std::iter::from_fn(move || loop {
            if let Some(b) = pending.pop_front() {
                return Some(Ok(b));
            }
            if failed || offset >= end {
                return None;
            }
            let data = match self.read_bounded(offset, 1 << 20, end) {
                Ok(d) if !d.is_empty() => d,
                Ok(_) => return None,
                Err(e) => {
                    failed = true;
                    return Some(Err(e));
                }
            };
            let mut at = 0;
            while at < data.len() {
                let Ok(h) = BatchHeader::parse(&data[at..]) else {
                    break;
                };
                pending.push_back(data.slice(at..at + h.total_len()));
                offset = h.last_offset() + 1;
                at += h.total_len();
            }
        })
    }

    /// The offset and timestamp of the first record whose timestamp is `>= timestamp`, or
    /// `None` if there is none (Kafka's ListOffsets by time).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.retry_on_truncation(|| self.offset_for_timestamp_once(timestamp))
    }

    /// Runs the read `f` until no truncation overlapped it.
    fn retry_on_truncation<T>(
        &self,
        mut f: impl FnMut() -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        loop {
            let generation = self.state().generation;
            let r = f();
            if self.state().generation == generation {
                return r;
            }
        }
    }

    fn offset_for_timestamp_once(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let (segments, start, end) = {
            let st = self.state();
            (
                st.segments.values().cloned().collect::<Vec<_>>(),
                st.log_start_offset,
                st.log_end_offset,
            )
        };
        for seg in segments {
            if seg.max_timestamp() < timestamp {
                continue;
            }
            let from = seg.timestamp_search_start(timestamp);
            let size = seg.size();
            let mut found = None;
            let mut failure = None;
            let scan = seg.scan_batches(from, size, false, |_, h, bytes| {
                if h.max_timestamp < timestamp || h.last_offset() < start || h.base_offset >= end {
                    return Ok(std::ops::ControlFlow::Continue(()));
                }
                match RecordBatch::decode(bytes, cleaner::MAX_UNCOMPRESSED) {
                    Ok(batch) => {
                        for r in &batch.records {
                            let offset = h.base_offset + i64::from(r.offset_delta);
                            let ts = record_timestamp(&batch.header, r);
                            if offset >= start && ts >= timestamp {
                                found = Some((offset, ts));
                                return Ok(std::ops::ControlFlow::Break(()));
                            }
                        }
                        Ok(std::ops::ControlFlow::Continue(()))
                    }
                    Err(e) => {
                        failure = Some(e.to_string());
                        Err(e.to_string())
                    }
                }
            })?;
            if let (ScanEnd::Invalid { position, reason }, Some(_)) = (&scan, &failure) {
                return Err(LogError::Corrupt {
                    file: seg.path("log"),
                    position: *position,
                    reason: reason.clone(),
                });
            }
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the first record carrying the largest timestamp in the
    /// log (ListOffsets' MAX_TIMESTAMP), or `None` for an empty log.
    pub fn offset_of_max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.retry_on_truncation(|| self.offset_of_max_timestamp_once())
    }

    fn offset_of_max_timestamp_once(&self) -> Result<Option<(i64, i64)>, LogError> {
        let (segments, start, end) = {
            let st = self.state();
            (
                st.segments.values().cloned().collect::<Vec<_>>(),
                st.log_start_offset,
                st.log_end_offset,
            )
        };
        let Some(max) = segments
            .iter()
            .map(|s| s.max_timestamp())
            .max()
            .filter(|&m| m != NO_TIMESTAMP)
        else {
            return Ok(None);
        };
        // The earliest segment holding it; then the first record there with that time.
        for seg in segments.iter().filter(|s| s.max_timestamp() == max) {
            let mut found = None;
            let mut failure = None;
            seg.scan_batches(0, seg.size(), false, |_, h, bytes| {
                if h.max_timestamp != max || h.last_offset() < start || h.base_offset >= end {
                    return Ok(std::ops::ControlFlow::Continue(()));
                }
                let batch = RecordBatch::decode(bytes, cleaner::MAX_UNCOMPRESSED).map_err(|e| {
                    failure = Some(e.to_string());
                    e.to_string()
                })?;
                found = batch.records.iter().find_map(|r| {
                    let offset = h.base_offset + i64::from(r.offset_delta);
                    (offset >= start && record_timestamp(&batch.header, r) == max)
                        .then_some((offset, max))
                });
                Ok(if found.is_some() {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                })
            })?;
            if let Some(reason) = failure {
                return Err(LogError::Corrupt {
                    file: seg.path("log"),
                    position: 0,
                    reason,
                });
            }
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Deletes closed segments wholly below the log start offset, and, with
    /// `cleanup.policy` containing `delete`, those past `retention.ms` or beyond
    /// `retention.bytes`. Returns how many were deleted.
    pub fn delete_old_segments(&self) -> Result<usize, LogError> {
        let config = self.config();
        let _append = lock(&self.inner.append_lock);
        let now = self.inner.clock.now_ms();
        let (closed, total, log_start): (Vec<Arc<Segment>>, u64, i64) = {
            let st = self.state();
            let n = st.segments.len();
            (
                st.segments.values().take(n - 1).cloned().collect(),
                st.segments.values().map(|s| s.size()).sum(),
                st.log_start_offset,
            )
        };
        // Segments wholly below the log start offset (raised by DeleteRecords) go whatever
        // the cleanup policy, as in Kafka.
        let mut doomed = closed
            .iter()
            .take_while(|s| s.next_offset() <= log_start)
            .count();
        if !config.cleanup_policy.delete {
            // Only the breach pass applies.
        } else if config.retention_ms >= 0 {
            doomed = doomed.max(
                closed
                    .iter()
                    .take_while(|s| now.saturating_sub(s.max_timestamp()) > config.retention_ms)
                    .count(),
            );
        }
        if config.cleanup_policy.delete && config.retention_bytes >= 0 {
            let mut excess = total as i64 - config.retention_bytes;
            excess -= closed[..doomed]
                .iter()
                .map(|s| s.size() as i64)
                .sum::<i64>();
            for s in &closed[doomed..] {
                if excess - (s.size() as i64) < 0 {
                    break;
                }
                excess -= s.size() as i64;
                doomed += 1;
            }
        }
        if doomed == 0 {
            return Ok(0);
        }
        {
            let mut st = self.state_mut();
            for s in &closed[..doomed] {
                st.segments.remove(&s.base_offset);
            }
            let first = *st.segments.keys().next().unwrap_or(&st.log_end_offset);
            st.log_start_offset = st.log_start_offset.max(first);
            st.high_watermark = st.high_watermark.max(st.log_start_offset);
            st.first_dirty_offset = st.first_dirty_offset.max(st.log_start_offset);
        }
        for s in &closed[..doomed] {
            // Readers that still hold the segment keep reading from the open handle.
            let r = s.delete_files();
            self.offline_on_err(r)?;
        }
        self.trim_epochs_to_start()?;
        Ok(doomed)
    }

    /// After the log start moved up: the epoch-cache entries at or below it give way to one
    /// at the log start (Kafka's `truncateFromStart`), persisted. Called under the append
    /// lock.
    fn trim_epochs_to_start(&self) -> Result<(), LogError> {
        let start = self.log_start_offset();
        let mut cache = lock(&self.inner.epochs).clone();
        if cache.truncate_from_start(start) {
            self.persist_epochs(&cache)?;
            *lock(&self.inner.epochs) = cache;
        }
        Ok(())
    }

    /// Raises the log start offset to `offset` (Kafka's DeleteRecords; `-1` means the high
    /// watermark): records below it can no longer be read, and segments wholly below it
    /// are deleted. The new start is persisted before this returns. Returns the new log
    /// start offset (the low watermark).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        {
            let _append = lock(&self.inner.append_lock);
            self.check_online()?;
            let (start, hw, end) = {
                let st = self.state();
                (st.log_start_offset, st.high_watermark, st.log_end_offset)
            };
            let target = if offset == -1 { hw } else { offset };
            if target < 0 || target > hw {
                return Err(LogError::OffsetOutOfRange {
                    offset,
                    log_start: start,
                    log_end: end,
                });
            }
            if target > start {
                let path = self.inner.dir.join(LOG_START_OFFSET_FILE);
                let r = self
                    .inner
                    .storage
                    .write_file_atomic(&path, target.to_string().as_bytes())
                    .map_err(LogError::io(&path));
                self.offline_on_err(r)?;
                {
                    let mut st = self.state_mut();
                    st.log_start_offset = target;
                    st.first_dirty_offset = st.first_dirty_offset.max(target);
                }
                self.trim_epochs_to_start()?;
            }
        }
        self.delete_old_segments()?;
        Ok(self.log_start_offset())
    }

    /// Truncates the log to end before `offset` (a follower whose log diverged from its
    /// leader's, found with [`end_offset_for_epoch`](Self::end_offset_for_epoch)): every
    /// batch whose base offset is `>= offset` goes. Kafka truncates at batch boundaries, so
    /// a batch holding `offset` goes whole and the log then ends at that batch's base
    /// offset (the log end offset is always one past the last batch kept). Segments wholly
    /// above go, the one holding `offset` is cut and its indexes rebuilt; the epoch cache
    /// loses the epochs starting at or after the new end; the producer state becomes that
    /// of the batches kept; the high watermark, the recovery point, the cleaner's progress
    /// and (if it was above) the log start offset come down to the new end.
    ///
    /// An `offset` at or past the log end offset changes nothing; one below the first
    /// segment is [`truncate_fully_and_start_at`](Self::truncate_fully_and_start_at); a
    /// negative one is [`LogError::OffsetOutOfRange`].
    ///
    /// Crash safety: the recovery point is lowered to the new end and the epoch and
    /// producer checkpoints rewritten before any segment file changes; then the segments
    /// above go newest first and the cut one is cut (and fsynced). A crash at any point
    /// reopens to a prefix of the old log at least as long as the truncated one, with its
    /// cut-off part re-read by recovery (which restores its epochs). Reads that overlap the
    /// truncation are retried, so no read returns truncated data once this returns.
    /// Compaction running meanwhile gives up its pass.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let config = self.config();
        let _append = lock(&self.inner.append_lock);
        let _flush = lock(&self.inner.flush_lock);
        self.check_online()?;
        let (floor, above, start, recovery_point) = {
            let st = self.state();
            if offset < 0 {
                return Err(LogError::OffsetOutOfRange {
                    offset,
                    log_start: st.log_start_offset,
                    log_end: st.log_end_offset,
                });
            }
            if offset >= st.log_end_offset {
                let leo = st.log_end_offset;
                drop(st);
                // Nothing to cut, but an epoch entry may start at the log end: this node
                // was elected leader and appended nothing before another took over. Left in
                // place it would make the new leader's batches of an older epoch look
                // stale to the follower append, so it goes, as in Kafka.
                let mut epochs = lock(&self.inner.epochs).clone();
                if epochs.truncate_from_end(leo) {
                    self.persist_epochs(&epochs)?;
                    *lock(&self.inner.epochs) = epochs;
                }
                return Ok(());
            }
            let Some((_, floor)) = st.segments.range(..=offset).next_back() else {
                drop(st);
                return self.truncate_fully_locked(offset);
            };
            let above: Vec<Arc<Segment>> = st
                .segments
                .range(offset + 1..)
                .map(|(_, s)| s.clone())
                .collect();
            (floor.clone(), above, st.log_start_offset, st.recovery_point)
        };
        let cut = floor.truncated_state(offset, config.index_interval_bytes)?;
        let new_end = cut
            .as_ref()
            .map(|s| s.next_offset)
            .unwrap_or_else(|| floor.next_offset());
        let new_size = cut.as_ref().map(|s| s.size);
        let producers = self.producers_at(new_end)?;
        let mut epochs = lock(&self.inner.epochs).clone();
        epochs.truncate_from_end(new_end);

        // 1. What a crash must find: recovery from the new end on, the checkpoints of the
        //    shorter log.
        let dir = &self.inner.dir;
        if recovery_point > new_end {
            let path = dir.join(RECOVERY_POINT_FILE);
            let r = self
                .inner
                .storage
                .write_file_atomic(&path, new_end.to_string().as_bytes())
                .and_then(|()| self.inner.storage.sync_dir(dir))
                .map_err(LogError::io(&path));
            self.offline_on_err(r)?;
        }
        self.persist_epochs(&epochs)?;
        let path = dir.join(PRODUCER_STATE_FILE);
        let r = self
            .inner
            .storage
            .write_file_atomic(&path, &producers.encode())
            .map_err(LogError::io(&path));
        self.offline_on_err(r)?;

        // 2. Readers see the shorter log from here on (and retry reads that began before).
        {
            let mut st = self.state_mut();
            st.generation += 1;
            for s in &above {
                st.segments.remove(&s.base_offset);
            }
            if let Some(cut) = cut {
                floor.install_state(cut);
            }
            st.log_end_offset = new_end;
            st.high_watermark = st.high_watermark.min(new_end);
            st.recovery_point = st.recovery_point.min(new_end);
            st.log_start_offset = st.log_start_offset.min(new_end);
            st.first_dirty_offset = st.first_dirty_offset.min(new_end);
            *lock(&self.inner.epochs) = epochs;
        }
        *lock(&self.inner.producers) = producers;
        lock(&self.inner.roll_snapshots).retain(|p| p.next_offset <= new_end);
        self.clamp_background_flush(new_end);

        // 3. The files: newest segments first, so a crash leaves a prefix.
        for s in above.iter().rev() {
            let r = s.delete_files();
            self.offline_on_err(r)?;
        }
        if let Some(size) = new_size {
            let r = floor.truncate_file(size).and_then(|_| floor.flush());
            self.offline_on_err(r)?;
        }
        let r = self.inner.storage.sync_dir(dir).map_err(LogError::io(dir));
        self.offline_on_err(r)?;
        if start > new_end {
            // Below a start DeleteRecords raised: the persisted start comes down too (open
            // also mends a persisted start past the log end, should a crash come first).
            let path = dir.join(LOG_START_OFFSET_FILE);
            let r = self
                .inner
                .storage
                .write_file_atomic(&path, new_end.to_string().as_bytes())
                .map_err(LogError::io(&path));
            self.offline_on_err(r)?;
        }
        Ok(())
    }

    /// Empties the log and restarts it at `offset`: log start, log end, high watermark and
    /// recovery point are all `offset`; the epoch cache and the producer state are cleared
    /// (a follower whose log is out of range of its leader's). Every segment goes, newest
    /// first, before the new empty one is created, so a crash reopens either a prefix of the
    /// old log or an empty one. A negative `offset` is [`LogError::OffsetOutOfRange`].
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let _append = lock(&self.inner.append_lock);
        let _flush = lock(&self.inner.flush_lock);
        self.check_online()?;
        self.truncate_fully_locked(offset)
    }

    /// [`truncate_fully_and_start_at`](Self::truncate_fully_and_start_at) with the append
    /// and flush locks held.
    fn truncate_fully_locked(&self, offset: i64) -> Result<(), LogError> {
        let old: Vec<Arc<Segment>> = {
            let st = self.state();
            if offset < 0 {
                return Err(LogError::OffsetOutOfRange {
                    offset,
                    log_start: st.log_start_offset,
                    log_end: st.log_end_offset,
                });
            }
            st.segments.values().cloned().collect()
        };
        // Readers go on reading the old segments through their open handles until the new
        // state is published below.
        for s in old.iter().rev() {
            let r = s.delete_files();
            self.offline_on_err(r)?;
        }
        let dir = &self.inner.dir;
        self.persist_epochs(&LeaderEpochCache::default())?;
        let producers = ProducerState::starting_at(offset);
        let offset_text = offset.to_string();
        for (name, contents) in [
            (LOG_START_OFFSET_FILE, offset_text.as_bytes()),
            (RECOVERY_POINT_FILE, offset_text.as_bytes()),
            (PRODUCER_STATE_FILE, &producers.encode()[..]),
        ] {
            let path = dir.join(name);
            let r = self
                .inner
                .storage
                .write_file_atomic(&path, contents)
                .map_err(LogError::io(&path));
            self.offline_on_err(r)?;
        }
        let r = Segment::create(&self.inner.storage, dir, offset, false);
        let seg = Arc::new(self.offline_on_err(r)?);
        let r = self.inner.storage.sync_dir(dir).map_err(LogError::io(dir));
        self.offline_on_err(r)?;
        {
            let mut st = self.state_mut();
            st.generation += 1;
            st.segments = BTreeMap::from([(offset, seg)]);
            st.log_start_offset = offset;
            st.log_end_offset = offset;
            st.high_watermark = offset;
            st.recovery_point = offset;
            st.first_dirty_offset = offset;
            st.unflushed_messages = 0;
            lock(&self.inner.epochs).clear();
        }
        *lock(&self.inner.producers) = producers;
        lock(&self.inner.roll_snapshots).clear();
        self.clamp_background_flush(offset);
        Ok(())
    }

    /// After a truncation to `end`: the background flusher's target must not stay above
    /// the log end, which the recovery point can never reach.
    fn clamp_background_flush(&self, end: i64) {
        let mut bg = lock(&self.inner.background_flush);
        bg.target = bg.target.min(end);
    }

    /// The producer state as of `end` (every batch below it applied, none after), for a
    /// truncation to `end`: the latest snapshot at or below `end` (taken at a roll, or the
    /// `producer-state` file), else none, then the headers of the batches from there to
    /// `end`. Called under the append lock.
    fn producers_at(&self, end: i64) -> Result<ProducerState, LogError> {
        let (segments, start) = {
            let st = self.state();
            (
                st.segments.values().cloned().collect::<Vec<_>>(),
                st.log_start_offset,
            )
        };
        let mut best = ProducerState::starting_at(start.min(end));
        let stored = self
            .inner
            .storage
            .read_file(&self.inner.dir.join(PRODUCER_STATE_FILE))
            .ok()
            .and_then(|b| ProducerState::decode(&b));
        let rolled = lock(&self.inner.roll_snapshots).clone();
        for candidate in rolled.into_iter().chain(stored) {
            if candidate.next_offset <= end && candidate.next_offset > best.next_offset {
                best = candidate;
            }
        }
        let from = best.next_offset;
        for seg in segments
            .iter()
            .filter(|s| s.next_offset() > from && s.base_offset < end)
        {
            seg.visit_headers_from(from, |h| {
                if h.base_offset < end {
                    best.apply(h);
                }
            })?;
        }
        best.next_offset = end;
        Ok(best)
    }

    /// Flushes everything, writes the clean-shutdown marker and refuses further appends.
    pub fn close(&self) -> Result<(), LogError> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _append = lock(&self.inner.append_lock);
        self.state().active().seal();
        self.flush()?;
        self.join_background_flush();
        let marker = self.inner.dir.join(CLEAN_SHUTDOWN_FILE);
        let f = self
            .inner
            .storage
            .open(&marker, true)
            .map_err(LogError::io(&marker))?;
        f.sync_data().map_err(LogError::io(&marker))?;
        self.inner
            .storage
            .sync_dir(&self.inner.dir)
            .map_err(LogError::io(&self.inner.dir))?;
        *lock(&self.inner.offline) = Some("the log is closed".into());
        Ok(())
    }

    /// Stops using the log the way a crash would: no flush, no clean-shutdown marker, later
    /// appends refused. Background flushes already started are waited for (a crash could
    /// as well have come after them), so that a test can reopen the directory in the same
    /// process without racing them.
    pub fn abandon(self) {
        *lock(&self.inner.offline) = Some("the log was abandoned".into());
        self.inner.closed.store(true, Ordering::SeqCst);
        self.join_background_flush();
    }

    /// Deletes the whole log directory (topic deletion).
    pub fn delete(self) -> Result<(), LogError> {
        let _append = lock(&self.inner.append_lock);
        let _flush = lock(&self.inner.flush_lock);
        *lock(&self.inner.offline) = Some("the log was deleted".into());
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner
            .storage
            .remove_dir_all(&self.inner.dir)
            .map_err(LogError::io(&self.inner.dir))
    }
}

/// A record's timestamp: the batch's max timestamp under LogAppendTime, otherwise the
/// batch's base timestamp plus the record's delta.
pub fn record_timestamp(header: &BatchHeader, record: &brook_protocol::record::Record) -> i64 {
    match header.timestamp_type() {
        TimestampType::LogAppendTime => header.max_timestamp,
        TimestampType::CreateTime => header.base_timestamp.saturating_add(record.timestamp_delta),
    }
}

#[cfg(test)]
mod replication_tests;
#[cfg(test)]
mod tests;
