//! One segment: `<base offset, 20 digits>.log` of record batches as produced, plus its
//! `.index` and `.timeindex`, which live in memory and are written out on flush.
//!
//! Concurrency: the owning [`Log`](super::Log) lets only one thread append at a time. The
//! appender writes past `size` first and publishes the new size afterwards, so readers,
//! which never read past the size they saw, need no lock while they read the file.

use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use brook_protocol::record::{verify_crc, BatchHeader, BATCH_HEADER_LEN};

use super::index::{OffsetIndex, TimeIndex};
use super::io::{Storage, StorageFile};
use super::LogError;

/// How much of a segment one read syscall fetches while scanning.
const SCAN_CHUNK: usize = 1 << 20;
/// How much is read at a time while stepping over batch headers to find an offset.
const LOCATE_CHUNK: usize = 16 << 10;

pub(crate) const NO_TIMESTAMP: i64 = -1;

/// File name of a segment file: the base offset as 20 digits, then the extension.
pub fn segment_file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// Whether a stored batch's offsets can belong to the segment based at `base`: not below
/// it, not wrapping, within the 32-bit relative offsets of the indexes.
fn plausible_offsets(h: &BatchHeader, base: i64) -> bool {
    h.base_offset >= base
        && h.last_offset_delta >= 0
        && h.last_offset() >= h.base_offset
        && h.last_offset() < i64::MAX
        && h.last_offset() - base <= i64::from(i32::MAX)
}

/// What the appender knows about one validated batch in the data it appends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMeta {
    /// Byte position of the batch inside the appended data.
    pub pos: usize,
    pub len: usize,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct SegState {
    /// Bytes of whole batches in the file; readers never look past it.
    pub size: u64,
    /// One past the last offset in the segment (`base_offset` when empty).
    pub next_offset: i64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    bytes_since_index: u64,
    /// Wall-clock time of the first append to this segment by this process (or of opening
    /// it, for a segment that already held data); `segment.ms` counts from it. Kafka counts
    /// from the first batch's record timestamp instead, which rolls a segment per batch when
    /// producers replay old data.
    pub rolling_base_ms: Option<i64>,
    /// "" for a live segment, ".cleaned" while the cleaner builds a replacement.
    suffix: &'static str,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    file: Arc<dyn StorageFile>,
    state: RwLock<SegState>,
}

/// How a scan over a segment's batches ended.
#[derive(Debug)]
pub(crate) enum ScanEnd {
    /// Every byte up to the end was a valid batch.
    Complete,
    /// The batch at `position` is torn or invalid; nothing from there on was visited.
    Invalid { position: u64, reason: String },
}

impl Segment {
    fn new_state(base_offset: i64, suffix: &'static str) -> SegState {
        SegState {
            size: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            bytes_since_index: 0,
            rolling_base_ms: None,
            suffix,
        }
    }

    /// Creates a new empty segment file (or, with `cleaned`, the cleaner's replacement file
    /// `<base>.log.cleaned`).
    pub fn create(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        base_offset: i64,
        cleaned: bool,
    ) -> Result<Segment, LogError> {
        let suffix = if cleaned { ".cleaned" } else { "" };
        let path = dir.join(segment_file_name(base_offset, "log") + suffix);
        let file = storage.open(&path, true).map_err(LogError::io(&path))?;
        file.set_len(0).map_err(LogError::io(&path))?;
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            storage: storage.clone(),
            file,
            state: RwLock::new(Self::new_state(base_offset, suffix)),
        })
    }

    /// Opens an existing segment file without looking at its contents; the caller then
    /// either [`load_indexes`](Self::load_indexes) or [`recover`](Self::recover)s it.
    pub fn open(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        base_offset: i64,
    ) -> Result<Segment, LogError> {
        let path = dir.join(segment_file_name(base_offset, "log"));
        let file = storage.open(&path, false).map_err(LogError::io(&path))?;
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            storage: storage.clone(),
            file,
            state: RwLock::new(Self::new_state(base_offset, "")),
        })
    }

    pub fn path(&self, ext: &str) -> PathBuf {
        let suffix = self.read_state().suffix;
        self.dir
            .join(segment_file_name(self.base_offset, ext) + suffix)
    }

    /// Maps an I/O error on this segment's file with extension `ext` to a [`LogError`],
    /// building the path only when there is an error.
    fn io_err(&self, ext: &'static str) -> impl FnOnce(std::io::Error) -> LogError + '_ {
        move |source| LogError::Io {
            path: self.path(ext),
            source,
        }
    }

    pub fn read_state(&self) -> RwLockReadGuard<'_, SegState> {
        // Segment state is updated in single assignments after I/O succeeded; a panic while
        // holding the lock cannot leave it half-written, so a poisoned lock is still usable.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, SegState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn size(&self) -> u64 {
        self.read_state().size
    }

    pub fn next_offset(&self) -> i64 {
        self.read_state().next_offset
    }

    pub fn max_timestamp(&self) -> i64 {
        self.read_state().max_timestamp
    }

    fn relative(&self, offset: i64) -> u32 {
        // Callers keep offsets within [base, base + i32::MAX] (the log rolls before that).
        (offset - self.base_offset).clamp(0, u32::MAX as i64) as u32
    }

    /// Appends already-validated batches whose offsets are assigned. The caller holds the
    /// log's append lock.
    pub fn append(
        &self,
        data: &[u8],
        batches: &[BatchMeta],
        index_interval: u64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let start = self.size();
        self.file
            .write_all_at(data, start)
            .map_err(self.io_err("log"))?;
        let mut st = self.write_state();
        st.rolling_base_ms.get_or_insert(now_ms);
        for b in batches {
            self.index_batch(
                &mut st,
                start + b.pos as u64,
                b.len as u64,
                b.last_offset,
                b.max_timestamp,
                index_interval,
            );
        }
        st.size = start + data.len() as u64;
        Ok(())
    }

    fn index_batch(
        &self,
        st: &mut SegState,
        position: u64,
        len: u64,
        last_offset: i64,
        max_timestamp: i64,
        index_interval: u64,
    ) {
        if max_timestamp > st.max_timestamp {
            st.max_timestamp = max_timestamp;
            st.offset_of_max_timestamp = last_offset;
        }
        if st.bytes_since_index > index_interval {
            let rel = self.relative(last_offset);
            st.offset_index.append(rel, position as u32);
            let ts_rel = self.relative(st.offset_of_max_timestamp);
            let ts = st.max_timestamp;
            st.time_index.maybe_append(ts, ts_rel);
            st.bytes_since_index = 0;
        }
        st.bytes_since_index += len;
        st.next_offset = last_offset + 1;
    }

    /// Marks the segment closed: records its final max timestamp in the time index (as
    /// Kafka does when a segment stops being active).
    pub fn seal(&self) {
        let mut st = self.write_state();
        if st.max_timestamp != NO_TIMESTAMP {
            let rel = self.relative(st.offset_of_max_timestamp);
            let ts = st.max_timestamp;
            st.time_index.maybe_append(ts, rel);
        }
    }

    /// Fsyncs the log file and writes (and fsyncs) both index files.
    pub fn flush(&self) -> Result<(), LogError> {
        self.file.sync_data().map_err(self.io_err("log"))?;
        let (offsets, times) = {
            let st = self.read_state();
            (st.offset_index.encode(), st.time_index.encode())
        };
        for (ext, bytes) in [("index", offsets), ("timeindex", times)] {
            let path = self.path(ext);
            let f = self.storage.open(&path, true).map_err(self.io_err(ext))?;
            f.write_all_at(&bytes, 0).map_err(self.io_err(ext))?;
            f.set_len(bytes.len() as u64).map_err(self.io_err(ext))?;
            f.sync_data().map_err(self.io_err(ext))?;
        }
        Ok(())
    }

    /// Loads the index files of a segment that was cleanly written (closed, or flushed
    /// before a clean shutdown). Returns false if an index is missing or fails its sanity
    /// checks, in which case the caller rebuilds with [`recover`](Self::recover).
    pub fn load_indexes(&self, now_ms: i64) -> Result<bool, LogError> {
        let log_path = self.path("log");
        let size = self.file.file_size().map_err(LogError::io(&log_path))?;
        let read = |ext: &str| -> Option<Vec<u8>> {
            let p = self.path(ext);
            if !self.storage.exists(&p) {
                return None;
            }
            self.storage.read_file(&p).ok()
        };
        let (Some(off_bytes), Some(time_bytes)) = (read("index"), read("timeindex")) else {
            return Ok(false);
        };
        let Ok(offset_index) = OffsetIndex::decode(&off_bytes, size) else {
            return Ok(false);
        };
        // Walk the batch headers after the last index entry to find the end of the segment;
        // this also checks that the last entry points at a batch boundary.
        let (last_rel, last_pos) = offset_index.last().unwrap_or((0, 0));
        let mut st = Self::new_state(self.base_offset, "");
        st.size = size;
        let mut ok = true;
        let mut first = true;
        let end = self.scan_headers(u64::from(last_pos), size, |_, h| {
            if first && last_pos > 0 && h.last_offset() != self.base_offset + i64::from(last_rel) {
                ok = false;
                return ControlFlow::Break(());
            }
            first = false;
            if !plausible_offsets(h, self.base_offset) {
                ok = false;
                return ControlFlow::Break(());
            }
            if h.max_timestamp > st.max_timestamp {
                st.max_timestamp = h.max_timestamp;
                st.offset_of_max_timestamp = h.last_offset();
            }
            st.next_offset = h.last_offset() + 1;
            ControlFlow::Continue(())
        })?;
        if !ok || !matches!(end, ScanEnd::Complete) {
            return Ok(false);
        }
        let next_rel = (st.next_offset - self.base_offset) as u64;
        let Ok(time_index) = TimeIndex::decode(&time_bytes, next_rel) else {
            return Ok(false);
        };
        if let Some((ts, rel)) = time_index.last() {
            if ts > st.max_timestamp {
                st.max_timestamp = ts;
                st.offset_of_max_timestamp = self.base_offset + i64::from(rel);
            }
        }
        st.bytes_since_index = size - u64::from(last_pos);
        st.rolling_base_ms = (size > 0).then_some(now_ms);
        st.offset_index = offset_index;
        st.time_index = time_index;
        *self.write_state() = st;
        Ok(true)
    }

    /// Rebuilds the segment's state and indexes by reading and CRC-checking every batch.
    /// Batches must not go backwards in offset and must not start below `min_offset`.
    /// Returns how the scan ended; the state covers the valid prefix only.
    pub fn recover(
        &self,
        min_offset: i64,
        index_interval: u64,
        now_ms: i64,
    ) -> Result<ScanEnd, LogError> {
        let file_len = self.file.file_size().map_err(self.io_err("log"))?;
        let mut st = Self::new_state(self.base_offset, "");
        let mut expected = min_offset.max(self.base_offset);
        let end = self.scan_batches(0, file_len, true, |pos, h, _| {
            if h.base_offset < expected {
                return Err(format!(
                    "batch base offset {} goes backwards (expected at least {expected})",
                    h.base_offset
                ));
            }
            if !plausible_offsets(h, self.base_offset) {
                return Err(format!(
                    "batch offsets {}..={} do not fit segment {}",
                    h.base_offset,
                    h.last_offset(),
                    self.base_offset
                ));
            }
            expected = h.last_offset() + 1;
            self.index_batch(
                &mut st,
                pos,
                h.total_len() as u64,
                h.last_offset(),
                h.max_timestamp,
                index_interval,
            );
            st.size = pos + h.total_len() as u64;
            Ok(ControlFlow::Continue(()))
        })?;
        st.rolling_base_ms = (st.size > 0).then_some(now_ms);
        *self.write_state() = st;
        Ok(end)
    }

    /// The state this segment would have without the batches from the first one whose last
    /// offset is `>= offset` on (Kafka truncates at batch boundaries), with indexes rebuilt
    /// as appends would have built them. Reads the headers of the batches kept (the file
    /// is not changed); `None` if no batch would go.
    pub fn truncated_state(
        &self,
        offset: i64,
        index_interval: u64,
    ) -> Result<Option<SegState>, LogError> {
        let (size, rolling_base_ms, suffix) = {
            let st = self.read_state();
            (st.size, st.rolling_base_ms, st.suffix)
        };
        let mut st = Self::new_state(self.base_offset, suffix);
        let mut cut = None;
        let end = self.scan_headers(0, size, |pos, h| {
            if h.last_offset() >= offset {
                cut = Some(pos);
                return ControlFlow::Break(());
            }
            self.index_batch(
                &mut st,
                pos,
                h.total_len() as u64,
                h.last_offset(),
                h.max_timestamp,
                index_interval,
            );
            st.size = pos + h.total_len() as u64;
            ControlFlow::Continue(())
        })?;
        if let ScanEnd::Invalid { position, reason } = end {
            // The published part of a segment holds whole batches; this is damage.
            return Err(LogError::Corrupt {
                file: self.path("log"),
                position,
                reason,
            });
        }
        if cut.is_none() {
            return Ok(None);
        }
        st.rolling_base_ms = rolling_base_ms.filter(|_| st.size > 0);
        Ok(Some(st))
    }

    /// Replaces the in-memory state (with one from [`truncated_state`](Self::truncated_state)):
    /// readers see the shorter segment from now on. The file is cut afterwards.
    pub fn install_state(&self, st: SegState) {
        *self.write_state() = st;
    }

    /// Cuts the file back to `size` bytes (a torn tail found by recovery); returns how
    /// many bytes were cut.
    pub fn truncate_file(&self, size: u64) -> Result<u64, LogError> {
        let len = self.file.file_size().map_err(self.io_err("log"))?;
        self.file.set_len(size).map_err(self.io_err("log"))?;
        self.file.sync_data().map_err(self.io_err("log"))?;
        Ok(len.saturating_sub(size))
    }

    /// Visits whole batches from `from` to `end`, reading `SCAN_CHUNK` bytes at a time,
    /// optionally checking CRCs. The visitor may reject a batch with a reason, which ends the
    /// scan as [`ScanEnd::Invalid`] at that batch.
    pub fn scan_batches(
        &self,
        from: u64,
        end: u64,
        verify: bool,
        mut visit: impl FnMut(u64, &BatchHeader, &[u8]) -> Result<ControlFlow<()>, String>,
    ) -> Result<ScanEnd, LogError> {
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_pos = from; // file position of buf[0]
        let mut pos = from;
        while pos < end {
            let in_buf = (pos - buf_pos) as usize;
            // Make sure the header is in the buffer.
            if buf.len() < in_buf + BATCH_HEADER_LEN {
                if end - pos < BATCH_HEADER_LEN as u64 {
                    return Ok(ScanEnd::Invalid {
                        position: pos,
                        reason: format!("torn batch header ({} bytes)", end - pos),
                    });
                }
                let len = (end - pos).min(SCAN_CHUNK as u64) as usize;
                buf.resize(len, 0);
                self.file
                    .read_exact_at(&mut buf, pos)
                    .map_err(self.io_err("log"))?;
                buf_pos = pos;
                continue;
            }
            let header = match BatchHeader::parse(&buf[in_buf..]) {
                Ok(h) => h,
                Err(e) => {
                    return Ok(ScanEnd::Invalid {
                        position: pos,
                        reason: e.to_string(),
                    })
                }
            };
            let total = header.total_len() as u64;
            if pos + total > end {
                return Ok(ScanEnd::Invalid {
                    position: pos,
                    reason: format!("torn batch: {total} bytes declared, {} present", end - pos),
                });
            }
            if buf.len() < in_buf + total as usize {
                // Refill from this batch; the file holds at least `total` bytes here, so the
                // allocation is bounded by the file.
                let len = (end - pos).min((SCAN_CHUNK as u64).max(total)) as usize;
                buf.resize(len, 0);
                self.file
                    .read_exact_at(&mut buf, pos)
                    .map_err(self.io_err("log"))?;
                buf_pos = pos;
                continue;
            }
            let bytes = &buf[in_buf..in_buf + total as usize];
            if verify {
                if let Err(e) = verify_crc(bytes) {
                    return Ok(ScanEnd::Invalid {
                        position: pos,
                        reason: e.to_string(),
                    });
                }
            }
            match visit(pos, &header, bytes) {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => return Ok(ScanEnd::Complete),
                Err(reason) => {
                    return Ok(ScanEnd::Invalid {
                        position: pos,
                        reason,
                    })
                }
            }
            pos += total;
        }
        Ok(ScanEnd::Complete)
    }

    /// Visits batch headers from `from` without reading batch bodies.
    fn scan_headers(
        &self,
        from: u64,
        end: u64,
        mut visit: impl FnMut(u64, &BatchHeader) -> ControlFlow<()>,
    ) -> Result<ScanEnd, LogError> {
        let mut buf = vec![0u8; LOCATE_CHUNK];
        let mut pos = from;
        while pos < end {
            if end - pos < BATCH_HEADER_LEN as u64 {
                return Ok(ScanEnd::Invalid {
                    position: pos,
                    reason: "torn batch header".into(),
                });
            }
            let len = (end - pos).min(LOCATE_CHUNK as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..len], pos)
                .map_err(self.io_err("log"))?;
            let mut at = 0usize;
            while at + BATCH_HEADER_LEN <= len {
                let h = match BatchHeader::parse(&buf[at..len]) {
                    Ok(h) => h,
                    Err(e) => {
                        return Ok(ScanEnd::Invalid {
                            position: pos + at as u64,
                            reason: e.to_string(),
                        })
                    }
                };
                if pos + at as u64 + h.total_len() as u64 > end {
                    return Ok(ScanEnd::Invalid {
                        position: pos + at as u64,
                        reason: "torn batch".into(),
                    });
                }
                if visit(pos + at as u64, &h).is_break() {
                    return Ok(ScanEnd::Complete);
                }
                at += h.total_len();
            }
            pos += at as u64;
        }
        Ok(ScanEnd::Complete)
    }

    /// Visits the headers of the batches whose last offset is `>= offset`, in order.
    pub fn visit_headers_from(
        &self,
        offset: i64,
        mut visit: impl FnMut(&BatchHeader),
    ) -> Result<(), LogError> {
        let (size, hint) = {
            let st = self.read_state();
            (
                st.size,
                u64::from(st.offset_index.lookup(self.relative(offset)).1),
            )
        };
        self.scan_headers(hint, size, |_, h| {
            if h.last_offset() >= offset {
                visit(h);
            }
            ControlFlow::Continue(())
        })?;
        Ok(())
    }

    /// Finds the first batch whose last offset is `>= offset`: its position and header.
    fn locate(
        &self,
        offset: i64,
        size: u64,
        hint: u64,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let mut found = None;
        self.scan_headers(hint, size, |pos, h| {
            if h.last_offset() >= offset {
                found = Some((pos, *h));
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(found)
    }

    /// Reads whole batches into `buf` from index `at` on, starting with the one that holds
    /// `offset` (or the first after it), up to `max_bytes` (the first batch is returned
    /// whole even if larger), stopping before any batch whose base offset is
    /// `>= max_offset`. Returns the range of `buf` holding them (empty if no batch
    /// qualifies); bytes of `buf` past `at` outside that range are scratch.
    ///
    /// `buf` is space the caller may reuse across reads: it is only grown (and only the
    /// growth is zero-filled), so steady-state reads cost one `pread` and no allocation.
    pub fn read_into(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        buf: &mut Vec<u8>,
        at: usize,
    ) -> Result<Range<usize>, LogError> {
        let (size, hint) = {
            let st = self.read_state();
            let (_, pos) = st.offset_index.lookup(self.relative(offset));
            (st.size, u64::from(pos))
        };
        if hint >= size {
            return Ok(at..at);
        }
        // Usually the index points right at the batch: read from there and find the batch
        // inside the buffer.
        let mut len = self.fill(
            buf,
            at,
            hint,
            (size - hint).min(max_bytes.max(BATCH_HEADER_LEN) as u64) as usize,
        )?;
        let mut start = 0usize;
        let first = loop {
            match BatchHeader::parse(&buf[at + start..at + len]) {
                Ok(h) if h.last_offset() >= offset => break Some(h),
                Ok(h) if start + h.total_len() + BATCH_HEADER_LEN <= len => start += h.total_len(),
                _ => break None,
            }
        };
        let first = match first {
            Some(h) if start + h.total_len() <= len => h,
            _ => {
                // Not within the first read (a sparse index, or a batch larger than
                // `max_bytes`): step over headers, then read from the batch itself.
                let from = hint + start as u64;
                let Some((pos, h)) = self.locate(offset, size, from)? else {
                    return Ok(at..at);
                };
                start = 0;
                let want = (size - pos).min(max_bytes.max(h.total_len()) as u64) as usize;
                len = self.fill(buf, at, pos, want)?;
                h
            }
        };
        if first.base_offset >= max_offset {
            return Ok(at + start..at + start);
        }
        // Keep whole batches below max_offset, within max_bytes of the start.
        let limit = len.min(start + max_bytes.max(first.total_len()));
        let mut end = start;
        while end + BATCH_HEADER_LEN <= limit {
            let Ok(h) = BatchHeader::parse(&buf[at + end..at + limit]) else {
                break;
            };
            if h.base_offset >= max_offset || end + h.total_len() > limit {
                break;
            }
            end += h.total_len();
        }
        Ok(at + start..at + end)
    }

    /// Reads `len` bytes at file `position` into `buf[at..at + len]`, growing `buf` if
    /// needed.
    fn fill(
        &self,
        buf: &mut Vec<u8>,
        at: usize,
        position: u64,
        len: usize,
    ) -> Result<usize, LogError> {
        if buf.len() < at + len {
            // The first read of a buffer reserves exactly (the caller bounds what it asks
            // for); later ones, appending partition after partition, grow it amortized so
            // a many-partition fetch does not copy everything read so far each time.
            if at == 0 {
                buf.reserve_exact(len.saturating_sub(buf.len()));
            } else {
                buf.reserve(at + len - buf.len());
            }
            buf.resize(at + len, 0);
        }
        self.file
            .read_exact_at(&mut buf[at..at + len], position)
            .map_err(self.io_err("log"))?;
        Ok(len)
    }

    /// Positions at which to search for a timestamp: the start of the batch after the last
    /// time-index entry below `timestamp`.
    pub fn timestamp_search_start(&self, timestamp: i64) -> u64 {
        let st = self.read_state();
        match st.time_index.last_below(timestamp) {
            None => 0,
            Some((_, rel)) => u64::from(st.offset_index.lookup(rel).1),
        }
    }

    /// Removes the segment's files.
    pub fn delete_files(&self) -> Result<(), LogError> {
        for ext in ["log", "index", "timeindex"] {
            let p = self.path(ext);
            if self.storage.exists(&p) {
                self.storage.remove_file(&p).map_err(LogError::io(&p))?;
            }
        }
        Ok(())
    }

    /// Moves the cleaner's replacement files over the live ones: the old indexes go first,
    /// so a crash part-way leaves either the old or the new log with no stale index (missing
    /// indexes are rebuilt on open).
    pub fn install_cleaned(&self) -> Result<(), LogError> {
        let live = |ext: &str| self.dir.join(segment_file_name(self.base_offset, ext));
        for ext in ["index", "timeindex"] {
            let p = live(ext);
            if self.storage.exists(&p) {
                self.storage.remove_file(&p).map_err(LogError::io(&p))?;
            }
        }
        for ext in ["log", "index", "timeindex"] {
            let from = self.path(ext);
            let to = live(ext);
            self.storage.rename(&from, &to).map_err(LogError::io(&to))?;
        }
        self.write_state().suffix = "";
        Ok(())
    }
}
