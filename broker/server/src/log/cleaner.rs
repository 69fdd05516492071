//! Log compaction (`cleanup.policy=compact`): keep the latest record for every key.
//!
//! One pass, on the caller's thread ([`Log::compact`]):
//! 1. Pick the cleanable segments: every closed segment, up to the first one younger than
//!    `min.compaction.lag.ms`. Skip the pass unless the share of bytes not compacted yet is
//!    at least `min.cleanable.dirty.ratio`.
//! 2. Read them (CRC-checked) and map every key to its highest offset.
//! 3. Rewrite each segment into `<base>.log.cleaned`, keeping a record only if it is the
//!    latest for its key. Offsets never change; batches that keep every record are copied
//!    byte for byte, others are re-encoded with their codec and a fresh CRC. Tombstones
//!    (null values) are kept until `delete.retention.ms` after their batch was first
//!    compacted: as in Kafka (KIP-534) that batch gets the delete-horizon attribute, with
//!    the horizon stored as its base timestamp. Control batches are kept as they are.
//! 4. Swap each rewritten segment in under the append lock (a few renames), so appends and
//!    reads go on during steps 1-3. A segment that retention deleted meanwhile is skipped.
//!
//! Segments are rewritten one for one (Kafka also merges small neighbours; Brook does not
//! yet). The key map holds every distinct key of the cleanable range in memory.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use brook_protocol::record::{BatchHeader, Record, RecordBatch, TimestampType};

use super::segment::{BatchMeta, ScanEnd, Segment};
use super::{lock, record_timestamp, Log, LogError};

/// The largest decompressed batch the cleaner (and timestamp search) will inflate.
pub(crate) const MAX_UNCOMPRESSED: usize = 256 << 20;

/// Bit 6 of the batch attributes: the base timestamp holds the delete horizon (KIP-534).
const DELETE_HORIZON_FLAG: i16 = 1 << 6;

/// Bytes the cleaner buffers before writing to the new segment.
const WRITE_CHUNK: usize = 1 << 20;

/// What one compaction pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_cleaned: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// Records without a key found in a compacted log (from before the policy changed):
    /// compaction drops them, as Kafka's cleaner does.
    pub keyless_removed: u64,
}

fn corrupt(seg: &Segment, position: u64, reason: String) -> LogError {
    LogError::Corrupt {
        file: seg.path("log"),
        position,
        reason,
    }
}

impl Log {
    /// Runs one compaction pass if the log is compacted and dirty enough. Returns what it
    /// did, or `None` if there was nothing to do.
    pub fn compact(&self) -> Result<Option<CleanStats>, LogError> {
        let config = self.config();
        if !config.cleanup_policy.compact {
            return Ok(None);
        }
        let _clean = lock(&self.inner.clean_lock);
        self.check_online()?;
        // A truncation meanwhile (it may delete or cut the segments being read) ends the
        // pass: nothing more is swapped in, and its errors are not the log's.
        let generation = self.state().generation;
        match self.compact_pass(&config, generation) {
            Err(_) if self.state().generation != generation => Ok(None),
            r => r,
        }
    }

    fn compact_pass(
        &self,
        config: &super::LogConfig,
        generation: u64,
    ) -> Result<Option<CleanStats>, LogError> {
        let now = self.inner.clock.now_ms();
        let (closed, first_dirty) = {
            let st = self.state();
            let n = st.segments.len();
            let closed: Vec<Arc<Segment>> = st.segments.values().take(n - 1).cloned().collect();
            (closed, st.first_dirty_offset)
        };
        let cleanable: Vec<Arc<Segment>> = closed
            .into_iter()
            .take_while(|s| {
                config.min_compaction_lag_ms == 0
                    || now.saturating_sub(s.max_timestamp()) >= config.min_compaction_lag_ms
            })
            .collect();
        let total: u64 = cleanable.iter().map(|s| s.size()).sum();
        let dirty: u64 = cleanable
            .iter()
            .filter(|s| s.next_offset() > first_dirty)
            .map(|s| s.size())
            .sum();
        if dirty == 0 || (dirty as f64) < config.min_cleanable_dirty_ratio * total as f64 {
            return Ok(None);
        }
        let Some(clean_end) = cleanable.last().map(|s| s.next_offset()) else {
            return Ok(None);
        };

        // Step 2: the latest offset of every key.
        let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
        for seg in &cleanable {
            let end = seg.scan_batches(0, seg.size(), true, |_, h, bytes| {
                if h.is_control() {
                    return Ok(ControlFlow::Continue(()));
                }
                let batch =
                    RecordBatch::decode(bytes, MAX_UNCOMPRESSED).map_err(|e| e.to_string())?;
                for r in &batch.records {
                    if let Some(k) = &r.key {
                        let offset = h.base_offset + i64::from(r.offset_delta);
                        match latest.get_mut(k.as_ref()) {
                            Some(o) => *o = (*o).max(offset),
                            None => {
                                latest.insert(k.to_vec(), offset);
                            }
                        }
                    }
                }
                Ok(ControlFlow::Continue(()))
            })?;
            if let ScanEnd::Invalid { position, reason } = end {
                return Err(corrupt(seg, position, reason));
            }
        }

        // Steps 3 and 4, one segment at a time.
        let mut stats = CleanStats::default();
        for seg in &cleanable {
            let cleaned = self.clean_segment(
                seg,
                &latest,
                now,
                config.delete_retention_ms,
                config.index_interval_bytes,
                &mut stats,
            )?;
            stats.bytes_before += seg.size();
            stats.bytes_after += cleaned.size();
            stats.segments_cleaned += 1;
            if !self.swap_in(seg, cleaned, generation)? {
                return Ok(Some(stats));
            }
        }
        let dir = self.inner.dir.clone();
        self.inner
            .storage
            .sync_dir(&dir)
            .map_err(LogError::io(&dir))?;
        let mut st = self.state_mut();
        if st.generation == generation {
            st.first_dirty_offset = st.first_dirty_offset.max(clean_end);
        }
        Ok(Some(stats))
    }

    /// Writes the records of `seg` that survive compaction into a `.cleaned` segment.
    fn clean_segment(
        &self,
        seg: &Segment,
        latest: &HashMap<Vec<u8>, i64>,
        now: i64,
        delete_retention_ms: i64,
        index_interval: u64,
        stats: &mut CleanStats,
    ) -> Result<Segment, LogError> {
        let cleaned = Segment::create(&self.inner.storage, &self.inner.dir, seg.base_offset, true)?;
        let mut out: Vec<u8> = Vec::with_capacity(WRITE_CHUNK);
        let mut metas: Vec<BatchMeta> = Vec::new();
        let mut write_err = None;
        let end = seg.scan_batches(0, seg.size(), true, |_, h, bytes| {
            let start = out.len();
            if h.is_control() {
                out.extend_from_slice(bytes);
            } else {
                let batch =
                    RecordBatch::decode(bytes, MAX_UNCOMPRESSED).map_err(|e| e.to_string())?;
                let horizon = h.has_delete_horizon().then_some(h.base_timestamp);
                let mut kept: Vec<Record> = Vec::with_capacity(batch.records.len());
                let mut has_tombstone = false;
                for r in &batch.records {
                    let offset = h.base_offset + i64::from(r.offset_delta);
                    let Some(key) = &r.key else {
                        stats.keyless_removed += 1;
                        continue;
                    };
                    if latest.get(key.as_ref()).is_some_and(|&o| o > offset) {
                        stats.records_removed += 1;
                        continue;
                    }
                    if r.value.is_none() {
                        if horizon.is_some_and(|t| now >= t) {
                            stats.tombstones_removed += 1;
                            continue;
                        }
                        has_tombstone = true;
                    }
                    kept.push(r.clone());
                }
                let needs_horizon = has_tombstone && horizon.is_none();
                if kept.len() == batch.records.len() && !needs_horizon {
                    out.extend_from_slice(bytes);
                } else if !kept.is_empty() {
                    rewrite(
                        &batch,
                        kept,
                        needs_horizon.then(|| now.saturating_add(delete_retention_ms)),
                        &mut out,
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
            if out.len() > start {
                // Re-read what was written so the index sees the batch as stored.
                let header = BatchHeader::parse(&out[start..]).map_err(|e| e.to_string())?;
                metas.push(BatchMeta {
                    pos: start,
                    len: out.len() - start,
                    last_offset: header.last_offset(),
                    max_timestamp: header.max_timestamp,
                });
            }
            if out.len() >= WRITE_CHUNK {
                if let Err(e) = cleaned.append(&out, &metas, index_interval, now) {
                    write_err = Some(e);
                    return Err("write failed".into());
                }
                out.clear();
                metas.clear();
            }
            Ok(ControlFlow::Continue(()))
        })?;
        let cleanup = |e: LogError| {
            let _ = cleaned.delete_files();
            e
        };
        if let Some(e) = write_err {
            return Err(cleanup(e));
        }
        if let ScanEnd::Invalid { position, reason } = end {
            return Err(cleanup(corrupt(seg, position, reason)));
        }
        if !out.is_empty() {
            cleaned
                .append(&out, &metas, index_interval, now)
                .map_err(cleanup)?;
        }
        cleaned.seal();
        cleaned.flush().map_err(cleanup)?;
        Ok(cleaned)
    }

    /// Replaces `old` with `cleaned` unless retention removed `old` meanwhile. Returns
    /// false, swapping nothing, if the log was truncated since the pass began (at
    /// `generation`): `cleaned` may hold records the log no longer has.
    fn swap_in(
        &self,
        old: &Arc<Segment>,
        cleaned: Segment,
        generation: u64,
    ) -> Result<bool, LogError> {
        let _append = lock(&self.inner.append_lock);
        let _flush = lock(&self.inner.flush_lock);
        let (still_there, truncated) = {
            let st = self.state();
            (
                st.segments
                    .get(&old.base_offset)
                    .is_some_and(|s| Arc::ptr_eq(s, old)),
                st.generation != generation,
            )
        };
        if truncated {
            cleaned.delete_files()?;
            return Ok(false);
        }
        if !still_there || self.check_online().is_err() {
            return cleaned.delete_files().map(|()| true);
        }
        if cleaned.size() == 0 {
            cleaned.delete_files()?;
            old.delete_files()?;
            self.state_mut().segments.remove(&old.base_offset);
        } else {
            cleaned.install_cleaned()?;
            self.state_mut()
                .segments
                .insert(old.base_offset, Arc::new(cleaned));
        }
        Ok(true)
    }
}

/// Re-encodes `batch` with only `kept` records, preserving offsets (base offset and last
/// offset delta) and record timestamps; with `horizon`, marks the batch with a delete
/// horizon stored as its base timestamp.
fn rewrite(
    batch: &RecordBatch,
    mut kept: Vec<Record>,
    horizon: Option<i64>,
    out: &mut Vec<u8>,
) -> Result<(), brook_protocol::record::RecordError> {
    let mut header = batch.header;
    if header.timestamp_type() == TimestampType::CreateTime {
        let stamps: Vec<i64> = kept
            .iter()
            .map(|r| record_timestamp(&batch.header, r))
            .collect();
        let base = horizon.unwrap_or(batch.header.base_timestamp);
        for (r, ts) in kept.iter_mut().zip(&stamps) {
            r.timestamp_delta = ts - base;
        }
        header.base_timestamp = base;
        header.max_timestamp = stamps.iter().copied().max().unwrap_or(header.max_timestamp);
    } else if let Some(h) = horizon {
        header.base_timestamp = h;
    }
    if horizon.is_some() {
        header.attributes |= DELETE_HORIZON_FLAG;
    }
    RecordBatch {
        header,
        records: kept,
    }
    .encode(out)
}
