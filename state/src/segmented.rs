//! The RocksDB window and session stores: [`RocksDbWindowStore`] and [`RocksDbSessionStore`],
//! segmented by time so that expiry drops whole segments, as Kafka Streams' segmented stores
//! do. Their answers are exactly those of [`InMemoryWindowStore`] and
//! [`InMemorySessionStore`] (property tests below run both side by side).
//!
//! **Segments are column families of the task's RocksDB instance** ([`TaskDb`]). Time is cut
//! into segments of `segment_interval_ms` (Kafka Streams' default: half the retention, at
//! least a minute, [`default_segment_interval`]); segment `id = floor(time / interval)`
//! covers `id * interval ..= id * interval + interval - 1`, and is the column family
//! `<store>.<id>` (the id in decimal, possibly negative). A window store segments by window
//! start, a session store by session end, as Kafka Streams does (so no other store of the
//! task may be named `<store>.<integer>`: reopening takes such a family for a segment). A
//! segment is created on the first write into it and dropped (`drop_cf`) once every time it
//! can hold is older than the retention. Kafka Streams opens one RocksDB instance per segment; Brook has one instance
//! per task (see [`crate::rocks`]), so a segment is a column family in it. Either way
//! expiry is cheap: dropping a column family removes its memtable and SST files at once, with
//! no tombstones written and nothing left for compaction to clean up, so expiring a segment
//! costs the same however much it holds. Entries older than the retention inside a segment
//! that is still live (the segment straddles the retention boundary) stay on disk until the
//! segment goes, and every read filters them out.
//!
//! **Keys.** Inside a segment a window is `enc(key) ++ time(start)` and a session is
//! `enc(key) ++ time(end) ++ time(start)`, where `time(t)` is `t` as 8 big-endian bytes with
//! the sign bit flipped (so byte order is numeric order, negative times included) and
//! `enc(key)` is the key with every `0x00` byte escaped as `0x00 0xff`, followed by the
//! terminator `0x00 0x00`. That encoding is *prefix-free* (no encoded key is a prefix of
//! another: inside an encoded key a `0x00` is always followed by `0xff`) and
//! *order-preserving* (`enc(a) < enc(b)` exactly when `a < b`), so
//! - one key's entries are contiguous and ordered by time (and end, then start, for
//!   sessions): `fetch`/`fetch_session` are point reads and `fetch_key_range` is a single
//!   range scan per segment, `enc(key) ++ time(from) ..= enc(key) ++ time(to)`, which no
//!   other key's entries can enter;
//! - a key range is a byte range: `fetch_range`, `fetch_all` and `find_sessions` scan only
//!   the keys within the bounds, already in key order.
//!
//! The two obvious alternatives fall short. The raw concatenation `key ++ time` (Kafka
//! Streams' own layout) interleaves the entries of `a` with those of `a\0...`, so even one
//! key's time range collects other keys' entries that must be filtered out. A length prefix
//! (`len(key) ++ key ++ time`) keeps one key's entries contiguous but orders keys by length
//! first, so a key range is no longer a byte range and every range query would scan whole
//! segments. The escaping costs two bytes per key plus one per zero byte.
//!
//! **Orders across segments.** Segments are disjoint spans of time. `fetch_range` answers
//! "by start, then key": it scans the key range of each segment in time order, and sorts
//! each segment's entries by `(start, key)` before yielding them (one segment's worth in
//! memory at a time). `find_sessions` answers "by key, then end, then start": each
//! segment's scan is in that order already, and a k-way merge over the segments interleaves
//! them lazily.
//!
//! **Metadata.** The store's own column family (named as the store, `<store>`) holds three
//! small entries: the kind of store (`window` or `session`), the segment interval (reopening
//! with another interval is an error, as the segment ids would mean other spans), and the
//! observed stream time (the largest window start, or session end, written). The observed
//! time is written in the same write batch as the put that raises it, so restarting keeps
//! expiry where it was. Should it be missing while segments exist (a crash after RocksDB
//! flushed a segment on its own but before the metadata), it is recovered from the newest
//! segment's entries. (After a crash between two commits it may also lag the segments; the
//! restoration from the changelog that follows replays the puts since the checkpoint and so
//! raises it again.)
//!
//! **Durability** is that of [`RocksDbKeyValueStore`](crate::RocksDbKeyValueStore): writes
//! skip the write-ahead log and [`StateStore::flush`] flushes every segment's and the
//! metadata's memtable.
//!
//! Anything read from disk that does not decode (a key that is not an escaped key followed by
//! its times, a time outside its segment, metadata of the wrong size) is a
//! [`StoreError::Corrupt`], never a panic.
//!
//! [`InMemoryWindowStore`]: crate::InMemoryWindowStore
//! [`InMemorySessionStore`]: crate::InMemorySessionStore

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use rocksdb::{BoundColumnFamily, Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};

use crate::error::StoreError;
use crate::memory::{as_ref, empty_range, in_range, owned};
use crate::rocks::{storage, TaskDb, DB};
use crate::store::{
    prefix_end, SessionEntry, SessionIter, SessionStore, SessionWindow, StateStore, WindowIter,
    WindowStore, WindowedEntry,
};

/// The smallest default segment interval, ms (Kafka Streams' minimum): one minute.
pub const MIN_DEFAULT_SEGMENT_INTERVAL_MS: i64 = 60_000;

/// Kafka Streams' default segment interval for a retention of `retention_ms`: half the
/// retention, and at least [`MIN_DEFAULT_SEGMENT_INTERVAL_MS`]. So about three segments are
/// live at a time and expiry drops about a third of the data at once.
pub fn default_segment_interval(retention_ms: i64) -> i64 {
    (retention_ms / 2).max(MIN_DEFAULT_SEGMENT_INTERVAL_MS)
}

/// Metadata keys in the store's own column family.
const KIND_KEY: &[u8] = b"kind";
const INTERVAL_KEY: &[u8] = b"segment.interval.ms";
const OBSERVED_KEY: &[u8] = b"observed.stream.time";

/// Which segmented store a column family belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Window,
    Session,
}

impl Kind {
    fn tag(self) -> &'static [u8] {
        match self {
            Kind::Window => b"window",
            Kind::Session => b"session",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Window => "window store",
            Kind::Session => "session store",
        }
    }

    /// The segmenting time (window start, session end) of a segment key.
    fn time_of(self, store: &str, segment: &str, key: &[u8]) -> Result<i64, StoreError> {
        match self {
            Kind::Window => decode_window_key(store, segment, key).map(|(_, start)| start),
            Kind::Session => decode_session_key(store, segment, key).map(|(_, w)| w.end),
        }
    }
}

fn corrupt(store: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        store: store.to_owned(),
        reason,
    }
}

fn invalid(store: &str, reason: String) -> StoreError {
    StoreError::InvalidArgument {
        store: store.to_owned(),
        reason,
    }
}

/// Appends the escaped, terminated `key`: `0x00` as `0x00 0xff`, then `0x00 0x00`.
fn encode_key(out: &mut Vec<u8>, key: &[u8]) {
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

fn escaped(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    encode_key(&mut out, key);
    out
}

/// Appends `t` as 8 big-endian bytes with the sign bit flipped.
fn encode_time(out: &mut Vec<u8>, t: i64) {
    out.extend_from_slice(&((t as u64) ^ (1 << 63)).to_be_bytes());
}

fn decode_time(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// Splits an escaped key off the front of `bytes`: the key and what follows it.
fn decode_key(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut key = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != 0 {
            key.push(b);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(0xff) => key.push(0),
            Some(0) => return Some((key, &bytes[i + 2..])),
            _ => return None,
        }
        i += 2;
    }
    None
}

fn window_key(key: &[u8], start: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 10);
    encode_key(&mut out, key);
    encode_time(&mut out, start);
    out
}

fn session_key(key: &[u8], window: SessionWindow) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 18);
    encode_key(&mut out, key);
    encode_time(&mut out, window.end);
    encode_time(&mut out, window.start);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_window_key(
    store: &str,
    segment: &str,
    bytes: &[u8],
) -> Result<(Vec<u8>, i64), StoreError> {
    match decode_key(bytes) {
        Some((key, rest)) => match <[u8; 8]>::try_from(rest) {
            Ok(t) => Ok((key, decode_time(t))),
            Err(_) => Err(corrupt(
                store,
                format!(
                    "segment `{segment}`: key {} is not an escaped key and an 8-byte start",
                    hex(bytes)
                ),
            )),
        },
        None => Err(corrupt(
            store,
            format!(
                "segment `{segment}`: key {} does not start with an escaped key",
                hex(bytes)
            ),
        )),
    }
}

fn decode_session_key(
    store: &str,
    segment: &str,
    bytes: &[u8],
) -> Result<(Vec<u8>, SessionWindow), StoreError> {
    let Some((key, rest)) = decode_key(bytes) else {
        return Err(corrupt(
            store,
            format!(
                "segment `{segment}`: key {} does not start with an escaped key",
                hex(bytes)
            ),
        ));
    };
    let times = <[u8; 16]>::try_from(rest).map_err(|_| {
        corrupt(
            store,
            format!(
                "segment `{segment}`: key {} is not an escaped key, an 8-byte end and an 8-byte start",
                hex(bytes)
            ),
        )
    })?;
    let (mut end, mut start) = ([0; 8], [0; 8]);
    end.copy_from_slice(&times[..8]);
    start.copy_from_slice(&times[8..]);
    let window = SessionWindow {
        end: decode_time(end),
        start: decode_time(start),
    };
    if window.end < window.start {
        return Err(corrupt(
            store,
            format!(
                "segment `{segment}`: session {}..={} ends before it starts",
                window.start, window.end
            ),
        ));
    }
    Ok((key, window))
}

/// The lower bound (inclusive) of the escaped keys at or after `b`.
fn lower_key(b: Bound<&[u8]>) -> Option<Vec<u8>> {
    match b {
        Bound::Included(k) => Some(escaped(k)),
        Bound::Excluded(k) => prefix_end(&escaped(k)),
        Bound::Unbounded => None,
    }
}

/// The upper bound (exclusive) of the escaped keys at or before `b`.
fn upper_key(b: Bound<&[u8]>) -> Option<Vec<u8>> {
    match b {
        Bound::Included(k) => prefix_end(&escaped(k)),
        Bound::Excluded(k) => Some(escaped(k)),
        Bound::Unbounded => None,
    }
}

/// The segment and retention bookkeeping both stores share.
struct Segments {
    name: String,
    kind: Kind,
    db: TaskDb,
    retention_ms: i64,
    interval_ms: i64,
    /// The segments that exist, ascending by id, with their column families' names
    /// (made once per segment, not per operation).
    ids: BTreeMap<i64, String>,
    /// The observed stream time; `i64::MIN` before anything was written.
    observed: i64,
    write: WriteOptions,
    open: bool,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments")
            .field("name", &self.name)
            .field("retention_ms", &self.retention_ms)
            .field("interval_ms", &self.interval_ms)
            .field("ids", &self.ids)
            .field("observed", &self.observed)
            .field("open", &self.open)
            .finish()
    }
}

/// A forward scan (or backward, with `reverse`) of a segment between two bounds.
type RawIter<'a> = Box<dyn Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), StoreError>> + 'a>;

impl Segments {
    fn open(
        db: &TaskDb,
        name: &str,
        kind: Kind,
        retention_ms: i64,
        interval_ms: i64,
    ) -> Result<Segments, StoreError> {
        if retention_ms < 0 {
            return Err(invalid(
                name,
                format!("retention {retention_ms} ms is negative"),
            ));
        }
        if interval_ms <= 0 {
            return Err(invalid(
                name,
                format!("segment interval {interval_ms} ms is not positive"),
            ));
        }
        db.create_column_family(name)?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        let mut s = Segments {
            name: name.to_owned(),
            kind,
            db: db.clone(),
            retention_ms,
            interval_ms,
            ids: BTreeMap::new(),
            observed: i64::MIN,
            write,
            open: true,
        };
        let stored_kind = s.meta_get(KIND_KEY)?;
        if let Some(k) = &stored_kind {
            if k.as_slice() != kind.tag() {
                return Err(invalid(
                    name,
                    format!(
                        "cannot open as a {}: its column family holds `{}`",
                        kind.what(),
                        String::from_utf8_lossy(k)
                    ),
                ));
            }
        }
        if let Some(stored) = s.meta_i64(INTERVAL_KEY)? {
            if stored != interval_ms {
                return Err(invalid(
                    name,
                    format!(
                        "segment interval {interval_ms} ms differs from the {stored} ms its \
                         segments were written with"
                    ),
                ));
            }
        }
        let prefix = format!("{name}.");
        for cf in db.column_families() {
            if let Some(id) = cf
                .strip_prefix(&prefix)
                .and_then(|rest| rest.parse::<i64>().ok().filter(|id| id.to_string() == rest))
            {
                s.ids.insert(id, cf.clone());
            }
        }
        s.observed = match s.meta_i64(OBSERVED_KEY)? {
            Some(t) => t,
            None => s.newest_time()?.unwrap_or(i64::MIN),
        };
        if stored_kind.is_none() {
            let dbh = Arc::clone(s.db.db());
            let meta = s.meta_cf(&dbh)?;
            let mut batch = WriteBatch::default();
            batch.put_cf(&meta, KIND_KEY, kind.tag());
            batch.put_cf(&meta, INTERVAL_KEY, interval_ms.to_be_bytes());
            if s.observed != i64::MIN {
                batch.put_cf(&meta, OBSERVED_KEY, s.observed.to_be_bytes());
            }
            dbh.write_opt(batch, &s.write)
                .map_err(|e| storage(name, e))?;
        }
        s.expire()?;
        Ok(s)
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }

    fn meta_cf<'a>(&self, db: &'a DB) -> Result<Arc<BoundColumnFamily<'a>>, StoreError> {
        db.cf_handle(&self.name).ok_or_else(|| StoreError::Storage {
            store: self.name.clone(),
            reason: "its metadata column family is missing".to_owned(),
        })
    }

    fn meta_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db.db();
        let cf = self.meta_cf(db)?;
        db.get_cf(&cf, key).map_err(|e| storage(&self.name, e))
    }

    fn meta_i64(&self, key: &[u8]) -> Result<Option<i64>, StoreError> {
        match self.meta_get(key)? {
            None => Ok(None),
            Some(v) => match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(b) => Ok(Some(i64::from_be_bytes(b))),
                Err(_) => Err(corrupt(
                    &self.name,
                    format!(
                        "metadata `{}` is {} byte(s), not 8",
                        String::from_utf8_lossy(key),
                        v.len()
                    ),
                )),
            },
        }
    }

    /// The largest segmenting time in the newest segment that holds anything.
    fn newest_time(&self) -> Result<Option<i64>, StoreError> {
        for (&id, segment) in self.ids.iter().rev() {
            let mut newest = None;
            for r in self.scan(id, None, None, false)? {
                let (k, _) = r?;
                let t = self.kind.time_of(&self.name, segment, &k)?;
                newest = Some(newest.map_or(t, |n: i64| n.max(t)));
            }
            if newest.is_some() {
                return Ok(newest);
            }
        }
        Ok(None)
    }

    fn segment_name(&self, id: i64) -> String {
        format!("{}.{id}", self.name)
    }

    /// The column family name of existing segment `id` (for messages too).
    fn segment_label(&self, id: i64) -> &str {
        self.ids.get(&id).map_or("?", String::as_str)
    }

    fn segment_id(&self, t: i64) -> i64 {
        t.div_euclid(self.interval_ms)
    }

    /// The last time segment `id` covers.
    fn segment_end(&self, id: i64) -> i64 {
        let end = i128::from(id) * i128::from(self.interval_ms) + i128::from(self.interval_ms) - 1;
        end.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The earliest live time (window start or session end) for the observed time `observed`.
    fn earliest_live_at(&self, observed: i64) -> i64 {
        observed.saturating_sub(self.retention_ms).saturating_add(1)
    }

    fn earliest_live(&self) -> i64 {
        self.earliest_live_at(self.observed)
    }

    fn segment_cf<'a>(
        &self,
        db: &'a DB,
        id: i64,
    ) -> Result<Arc<BoundColumnFamily<'a>>, StoreError> {
        let missing = || StoreError::Storage {
            store: self.name.clone(),
            reason: format!(
                "segment column family `{}` is missing",
                self.segment_name(id)
            ),
        };
        let name = self.ids.get(&id).ok_or_else(missing)?;
        db.cf_handle(name).ok_or_else(missing)
    }

    /// The existing segments that may hold times within `from..=to`, ascending.
    fn ids_within(&self, from: i64, to: i64) -> Vec<i64> {
        if from > to {
            return Vec::new();
        }
        self.ids
            .range(self.segment_id(from)..=self.segment_id(to))
            .map(|(&id, _)| id)
            .collect()
    }

    /// The entries of segment `id` from `lower` (inclusive) to `upper` (exclusive).
    fn scan(
        &self,
        id: i64,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
        reverse: bool,
    ) -> Result<RawIter<'_>, StoreError> {
        let db: &DB = self.db.db();
        let cf = self.segment_cf(db, id)?;
        // The bounds keep RocksDB within the range; callers filter what they decode anyway.
        let mut opts = ReadOptions::default();
        if let Some(l) = &lower {
            opts.set_iterate_lower_bound(l.clone());
        }
        if let Some(u) = upper {
            opts.set_iterate_upper_bound(u);
        }
        let mode = match (&lower, reverse) {
            (_, true) => IteratorMode::End,
            (Some(l), false) => IteratorMode::From(l, Direction::Forward),
            (None, false) => IteratorMode::Start,
        };
        let it = db.iterator_cf_opt(&cf, opts, mode);
        let name = self.name.clone();
        Ok(Box::new(it.map(move |r| r.map_err(|e| storage(&name, e)))))
    }

    /// A point read in segment `id`, if it exists.
    fn get(&self, id: i64, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.ids.contains_key(&id) {
            return Ok(None);
        }
        let db: &DB = self.db.db();
        let cf = self.segment_cf(db, id)?;
        db.get_cf(&cf, key).map_err(|e| storage(&self.name, e))
    }

    /// Observes `time` (raising the stream time), then, if `time` is still live, sets
    /// `key` of `time`'s segment to `value` (creating the segment) or deletes it (`None`);
    /// then drops the segments that expired.
    fn apply(&mut self, time: i64, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        let db = Arc::clone(self.db.db());
        let mut batch = WriteBatch::default();
        let observed = self.observed.max(time);
        if observed != self.observed {
            let meta = self.meta_cf(&db)?;
            batch.put_cf(&meta, OBSERVED_KEY, observed.to_be_bytes());
        }
        if time >= self.earliest_live_at(observed) {
            let id = self.segment_id(time);
            match value {
                Some(v) => {
                    if !self.ids.contains_key(&id) {
                        let name = self.segment_name(id);
                        self.db.create_column_family(&name)?;
                        self.ids.insert(id, name);
                    }
                    batch.put_cf(&self.segment_cf(&db, id)?, key, v);
                }
                None => {
                    if self.ids.contains_key(&id) {
                        batch.delete_cf(&self.segment_cf(&db, id)?, key);
                    }
                }
            }
        }
        if !batch.is_empty() {
            db.write_opt(batch, &self.write)
                .map_err(|e| storage(&self.name, e))?;
        }
        self.observed = observed;
        self.expire()
    }

    /// Deletes `key` from `time`'s segment, if it exists, without observing `time`.
    fn delete(&mut self, time: i64, key: &[u8]) -> Result<(), StoreError> {
        let id = self.segment_id(time);
        if !self.ids.contains_key(&id) {
            return Ok(());
        }
        let db: &DB = self.db.db();
        let cf = self.segment_cf(db, id)?;
        db.delete_cf_opt(&cf, key, &self.write)
            .map_err(|e| storage(&self.name, e))
    }

    /// Drops every segment whose whole span is older than the retention.
    fn expire(&mut self) -> Result<(), StoreError> {
        let live = self.earliest_live();
        while let Some((&id, name)) = self.ids.first_key_value() {
            if self.segment_end(id) >= live {
                break;
            }
            self.db.drop_column_family(name)?;
            self.ids.remove(&id);
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.check_open()?;
        let db: &DB = self.db.db();
        for &id in self.ids.keys() {
            db.flush_cf(&self.segment_cf(db, id)?)
                .map_err(|e| storage(&self.name, e))?;
        }
        db.flush_cf(&self.meta_cf(db)?)
            .map_err(|e| storage(&self.name, e))
    }

    fn close(&mut self) -> Result<(), StoreError> {
        if self.open {
            self.flush()?;
            self.open = false;
        }
        Ok(())
    }

    fn observed_stream_time(&self) -> Option<i64> {
        (self.observed != i64::MIN).then_some(self.observed)
    }

    fn segment_ids(&self) -> Vec<i64> {
        self.ids.keys().copied().collect()
    }
}

/// A window store in a task's RocksDB instance, one column family per time segment of
/// window starts (see the [module documentation](self) for the layout and why).
pub struct RocksDbWindowStore {
    segments: Segments,
}

impl std::fmt::Debug for RocksDbWindowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbWindowStore")
            .field("segments", &self.segments)
            .finish()
    }
}

impl RocksDbWindowStore {
    /// Opens (creating if need be) the window store `name` in `db`, keeping windows for
    /// `retention_ms` (Kafka Streams' default is the window size plus the grace period, set
    /// by the caller) in segments of `segment_interval_ms` (usually
    /// [`default_segment_interval`]`(retention_ms)`). The segments already there are found
    /// by their column families' names and the observed stream time is read back, so expiry
    /// carries on where it was; segments that have expired meanwhile (a shorter retention)
    /// are dropped. Fails on a negative retention, an interval that is not positive or
    /// differs from the one the store was written with, or a `name` that is another kind of
    /// segmented store.
    pub fn open(
        db: &TaskDb,
        name: &str,
        retention_ms: i64,
        segment_interval_ms: i64,
    ) -> Result<RocksDbWindowStore, StoreError> {
        Ok(RocksDbWindowStore {
            segments: Segments::open(db, name, Kind::Window, retention_ms, segment_interval_ms)?,
        })
    }

    /// The segment interval, ms.
    pub fn segment_interval_ms(&self) -> i64 {
        self.segments.interval_ms
    }

    /// The ids of the segments that exist now, ascending (segment `id` holds the windows
    /// starting within `id * interval ..= id * interval + interval - 1`, in the column
    /// family `<store>.<id>`).
    pub fn segment_ids(&self) -> Vec<i64> {
        self.segments.segment_ids()
    }

    /// The largest window start written so far (including puts dropped as expired), from
    /// which the retention is measured; `None` before the first put.
    pub fn observed_stream_time(&self) -> Option<i64> {
        self.segments.observed_stream_time()
    }

    fn decode(&self, id: i64, k: &[u8], v: Box<[u8]>) -> Result<WindowedEntry, StoreError> {
        let s = &self.segments;
        let (key, start) = decode_window_key(&s.name, s.segment_label(id), k)?;
        if s.segment_id(start) != id {
            return Err(corrupt(
                &s.name,
                format!(
                    "segment `{}` holds a window starting at {start}, outside its span",
                    s.segment_label(id)
                ),
            ));
        }
        Ok(WindowedEntry {
            key,
            start,
            value: v.into_vec(),
        })
    }

    /// The windows of `key` in segment `id` starting within `from..=to`.
    fn key_scan(&self, id: i64, key: Vec<u8>, from: i64, to: i64, reverse: bool) -> WindowIter<'_> {
        let mut lower = escaped(&key);
        let mut upper = lower.clone();
        encode_time(&mut lower, from);
        encode_time(&mut upper, to);
        upper.push(0);
        match self.segments.scan(id, Some(lower), Some(upper), reverse) {
            Err(e) => Box::new(std::iter::once(Err(e))),
            Ok(it) => {
                Box::new(it.filter_map(
                    move |r| match r.and_then(|(k, v)| self.decode(id, &k, v)) {
                        Ok(e) if e.key == key && (from..=to).contains(&e.start) => Some(Ok(e)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    },
                ))
            }
        }
    }

    /// The windows of segment `id` within the bounds, by start, then key (errors first).
    fn range_scan(
        &self,
        id: i64,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        from: i64,
        to: i64,
    ) -> Vec<Result<WindowedEntry, StoreError>> {
        let mut errors = Vec::new();
        let mut found = Vec::new();
        match self
            .segments
            .scan(id, lower_key(key_from), upper_key(key_to), false)
        {
            Err(e) => errors.push(e),
            Ok(it) => {
                for r in it {
                    match r.and_then(|(k, v)| self.decode(id, &k, v)) {
                        Ok(e) => {
                            if (from..=to).contains(&e.start) && in_range(&e.key, key_from, key_to)
                            {
                                found.push(e);
                            }
                        }
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        found.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        errors
            .into_iter()
            .map(Err)
            .chain(found.into_iter().map(Ok))
            .collect()
    }
}

impl StateStore for RocksDbWindowStore {
    fn name(&self) -> &str {
        &self.segments.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.segments.flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.segments.close()
    }

    fn is_open(&self) -> bool {
        self.segments.open
    }
}

impl WindowStore for RocksDbWindowStore {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> Result<(), StoreError> {
        self.segments.check_open()?;
        self.segments.apply(start, &window_key(key, start), value)
    }

    fn fetch(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let s = &self.segments;
        s.check_open()?;
        if start < s.earliest_live() {
            return Ok(None);
        }
        s.get(s.segment_id(start), &window_key(key, start))
    }

    fn fetch_key_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<WindowIter<'_>, StoreError> {
        let s = &self.segments;
        s.check_open()?;
        let from = time_from.max(s.earliest_live());
        let mut ids = s.ids_within(from, time_to);
        if reverse {
            ids.reverse();
        }
        let key = key.to_vec();
        Ok(Box::new(ids.into_iter().flat_map(move |id| {
            self.key_scan(id, key.clone(), from, time_to, reverse)
        })))
    }

    fn fetch_range(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowIter<'_>, StoreError> {
        let s = &self.segments;
        s.check_open()?;
        if empty_range(key_from, key_to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let from = time_from.max(s.earliest_live());
        let ids = s.ids_within(from, time_to);
        let (lo, hi) = (owned(key_from), owned(key_to));
        Ok(Box::new(ids.into_iter().flat_map(move |id| {
            self.range_scan(id, as_ref(&lo), as_ref(&hi), from, time_to)
        })))
    }

    fn retention_ms(&self) -> i64 {
        self.segments.retention_ms
    }
}

/// A session store in a task's RocksDB instance, one column family per time segment of
/// session ends (see the [module documentation](self) for the layout and why).
pub struct RocksDbSessionStore {
    segments: Segments,
}

impl std::fmt::Debug for RocksDbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbSessionStore")
            .field("segments", &self.segments)
            .finish()
    }
}

impl RocksDbSessionStore {
    /// Opens (creating if need be) the session store `name` in `db`, keeping sessions for
    /// `retention_ms` after they end (Kafka Streams' default is the inactivity gap plus the
    /// grace period, set by the caller) in segments of `segment_interval_ms` of session ends
    /// (usually [`default_segment_interval`]`(retention_ms)`). Reopening finds the segments
    /// and the observed stream time again, as [`RocksDbWindowStore::open`] does, and fails
    /// in the same cases.
    pub fn open(
        db: &TaskDb,
        name: &str,
        retention_ms: i64,
        segment_interval_ms: i64,
    ) -> Result<RocksDbSessionStore, StoreError> {
        Ok(RocksDbSessionStore {
            segments: Segments::open(db, name, Kind::Session, retention_ms, segment_interval_ms)?,
        })
    }

    /// The segment interval, ms.
    pub fn segment_interval_ms(&self) -> i64 {
        self.segments.interval_ms
    }

    /// The ids of the segments that exist now, ascending (segment `id` holds the sessions
    /// ending within `id * interval ..= id * interval + interval - 1`, in the column family
    /// `<store>.<id>`).
    pub fn segment_ids(&self) -> Vec<i64> {
        self.segments.segment_ids()
    }

    /// The largest session end written so far (including puts dropped as expired), from
    /// which the retention is measured; `None` before the first put.
    pub fn observed_stream_time(&self) -> Option<i64> {
        self.segments.observed_stream_time()
    }

    /// The sessions of segment `id` within the key bounds, ending at or after
    /// `earliest_end` and starting at or before `latest_start`, by key, end, start.
    fn segment_sessions<'a>(
        &'a self,
        id: i64,
        key_from: &Bound<Vec<u8>>,
        key_to: &Bound<Vec<u8>>,
        earliest_end: i64,
        latest_start: i64,
    ) -> SessionIter<'a> {
        let s = &self.segments;
        // From the first key's first live end: earlier ends of that key are skipped.
        let lower = match key_from {
            Bound::Included(k) => {
                let mut l = escaped(k);
                encode_time(&mut l, earliest_end);
                Some(l)
            }
            b => lower_key(as_ref(b)),
        };
        let (lo, hi) = (key_from.clone(), key_to.clone());
        match s.scan(id, lower, upper_key(as_ref(key_to)), false) {
            Err(e) => Box::new(std::iter::once(Err(e))),
            Ok(it) => Box::new(it.filter_map(move |r| {
                let decoded = r.and_then(|(k, v)| {
                    let segment = s.segment_label(id);
                    let (key, window) = decode_session_key(&s.name, segment, &k)?;
                    if s.segment_id(window.end) != id {
                        return Err(corrupt(
                            &s.name,
                            format!(
                                "segment `{segment}` holds a session ending at {}, outside its span",
                                window.end
                            ),
                        ));
                    }
                    Ok(SessionEntry {
                        key,
                        window,
                        value: v.into_vec(),
                    })
                });
                match decoded {
                    Ok(e) => (e.window.end >= earliest_end
                        && e.window.start <= latest_start
                        && in_range(&e.key, as_ref(&lo), as_ref(&hi)))
                    .then_some(Ok(e)),
                    Err(e) => Some(Err(e)),
                }
            })),
        }
    }
}

/// A k-way merge of session scans, each by key, then end, then start, into one in that
/// order; an error is yielded as soon as a scan produces it.
struct MergeSessions<'a> {
    scans: Vec<(Option<Result<SessionEntry, StoreError>>, SessionIter<'a>)>,
}

impl<'a> MergeSessions<'a> {
    fn new(scans: Vec<SessionIter<'a>>) -> MergeSessions<'a> {
        MergeSessions {
            scans: scans.into_iter().map(|mut it| (it.next(), it)).collect(),
        }
    }
}

/// What orders sessions: key, then end, then start.
fn session_order(e: &SessionEntry) -> (&[u8], i64, i64) {
    (&e.key, e.window.end, e.window.start)
}

impl Iterator for MergeSessions<'_> {
    type Item = Result<SessionEntry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, &SessionEntry)> = None;
        let mut pick = None;
        for (i, (head, _)) in self.scans.iter().enumerate() {
            match head {
                Some(Err(_)) => {
                    pick = Some(i);
                    break;
                }
                Some(Ok(e)) if best.is_none_or(|(_, b)| session_order(e) < session_order(b)) => {
                    best = Some((i, e));
                }
                _ => {}
            }
        }
        let i = pick.or(best.map(|(i, _)| i))?;
        let (head, it) = &mut self.scans[i];
        let out = head.take();
        *head = it.next();
        out
    }
}

impl StateStore for RocksDbSessionStore {
    fn name(&self) -> &str {
        &self.segments.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.segments.flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.segments.close()
    }

    fn is_open(&self) -> bool {
        self.segments.open
    }
}

impl SessionStore for RocksDbSessionStore {
    fn put(&mut self, key: &[u8], window: SessionWindow, value: &[u8]) -> Result<(), StoreError> {
        self.segments.check_open()?;
        if window.end < window.start {
            return Err(invalid(
                &self.segments.name,
                format!(
                    "session window ends ({}) before it starts ({})",
                    window.end, window.start
                ),
            ));
        }
        self.segments
            .apply(window.end, &session_key(key, window), Some(value))
    }

    fn remove(&mut self, key: &[u8], window: SessionWindow) -> Result<(), StoreError> {
        self.segments.check_open()?;
        self.segments.delete(window.end, &session_key(key, window))
    }

    fn fetch_session(
        &self,
        key: &[u8],
        window: SessionWindow,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let s = &self.segments;
        s.check_open()?;
        if window.end < s.earliest_live() {
            return Ok(None);
        }
        s.get(s.segment_id(window.end), &session_key(key, window))
    }

    fn find_sessions(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>, StoreError> {
        let s = &self.segments;
        s.check_open()?;
        if empty_range(key_from, key_to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let earliest_end = earliest_end.max(s.earliest_live());
        let (lo, hi) = (owned(key_from), owned(key_to));
        let scans: Vec<SessionIter<'_>> = s
            .ids_within(earliest_end, i64::MAX)
            .into_iter()
            .map(|id| self.segment_sessions(id, &lo, &hi, earliest_end, latest_start))
            .collect();
        Ok(Box::new(MergeSessions::new(scans)))
    }

    fn retention_ms(&self) -> i64 {
        self.segments.retention_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{InMemorySessionStore, InMemoryWindowStore};
    use crate::rocks::MemoryBudget;
    use proptest::prelude::*;
    use proptest::sample::Index;

    type Windows = Vec<(Vec<u8>, i64, Vec<u8>)>;
    type Sessions = Vec<(Vec<u8>, i64, i64, Vec<u8>)>;

    fn budget() -> MemoryBudget {
        MemoryBudget::new(4 << 20)
    }

    fn windows(it: WindowIter<'_>) -> Windows {
        it.map(|e| e.map(|e| (e.key, e.start, e.value)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn sessions(it: SessionIter<'_>) -> Sessions {
        it.map(|e| e.map(|e| (e.key, e.window.start, e.window.end, e.value)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn w(start: i64, end: i64) -> SessionWindow {
        SessionWindow { start, end }
    }

    /// The segment column families of `store` in `db`.
    fn segment_cfs(db: &TaskDb, store: &str) -> Vec<String> {
        let prefix = format!("{store}.");
        db.column_families()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }

    #[test]
    fn default_interval_is_half_the_retention_and_at_least_a_minute() {
        assert_eq!(default_segment_interval(0), 60_000);
        assert_eq!(default_segment_interval(100_000), 60_000);
        assert_eq!(default_segment_interval(86_400_000), 43_200_000);
    }

    #[test]
    fn keys_escape_into_an_order_preserving_prefix_free_encoding() {
        let keys: Vec<&[u8]> = vec![b"", b"\0", b"\0\0", b"\0\x01", b"\x01", b"a", b"a\0", b"ab"];
        for (i, a) in keys.iter().enumerate() {
            let enc = escaped(a);
            let (back, rest) = decode_key(&enc).unwrap();
            assert_eq!((back.as_slice(), rest), (*a, &[][..]));
            for b in &keys[i + 1..] {
                assert!(escaped(a) < escaped(b), "{a:?} < {b:?}");
                assert!(!escaped(b).starts_with(&escaped(a)));
            }
        }
        assert!(decode_key(b"a\0\x01").is_none());
        assert!(decode_key(b"a\0").is_none());
        for t in [i64::MIN, -1, 0, 1, i64::MAX] {
            let mut out = Vec::new();
            encode_time(&mut out, t);
            assert_eq!(decode_time(out.try_into().unwrap()), t);
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode_time(&mut a, -1);
        encode_time(&mut b, 0);
        assert!(a < b, "negative times sort first");
    }

    #[test]
    fn window_expiry_drops_whole_segment_column_families() {
        let dir = tempfile::tempdir().unwrap();
        let db = TaskDb::open(dir.path(), &[], &budget()).unwrap();
        let mut s = RocksDbWindowStore::open(&db, "w", 100, 50).unwrap();
        assert!(s.persistent());
        assert_eq!(s.observed_stream_time(), None);
        s.put(b"a", Some(b"1"), 0).unwrap();
        s.put(b"a", Some(b"2"), 10).unwrap();
        s.put(b"b", Some(b"3"), 60).unwrap();
        s.put(b"c", Some(b"4"), 120).unwrap();
        assert_eq!(segment_cfs(&db, "w"), vec!["w.0", "w.1", "w.2"]);
        // Stream time 120: starts up to 20 are gone, though segment 0 (0..=49) is live.
        assert_eq!(s.fetch(b"a", 10).unwrap(), None);
        assert_eq!(s.fetch(b"b", 60).unwrap(), Some(b"3".to_vec()));
        assert_eq!(
            windows(s.all().unwrap()),
            vec![
                (b"b".to_vec(), 60, b"3".to_vec()),
                (b"c".to_vec(), 120, b"4".to_vec())
            ]
        );
        // Stream time 150: every start of segment 0 is older than the retention.
        s.put(b"d", Some(b"5"), 150).unwrap();
        assert_eq!(segment_cfs(&db, "w"), vec!["w.1", "w.2", "w.3"]);
        assert_eq!(s.segment_ids(), vec![1, 2, 3]);
        // A delete raises the stream time too: 300 expires everything.
        s.put(b"e", None, 300).unwrap();
        assert!(segment_cfs(&db, "w").is_empty());
        assert_eq!(s.observed_stream_time(), Some(300));
        // A late put is dropped and creates no segment.
        s.put(b"a", Some(b"6"), 150).unwrap();
        assert!(segment_cfs(&db, "w").is_empty());
        assert_eq!(s.fetch(b"a", 150).unwrap(), None);
        assert_eq!(db.column_families(), vec!["w"], "only the metadata is left");
    }

    #[test]
    fn window_store_reopens_with_its_segments_and_observed_time() {
        let dir = tempfile::tempdir().unwrap();
        let budget = budget();
        {
            let db = TaskDb::open(dir.path(), &["w"], &budget).unwrap();
            let mut s = RocksDbWindowStore::open(&db, "w", 100, 50).unwrap();
            s.put(b"k", Some(b"0"), 0).unwrap();
            s.put(b"k", Some(b"70"), 70).unwrap();
            s.put(b"k", Some(b"130"), 130).unwrap();
            s.put(b"x", None, 200).unwrap();
            assert_eq!(s.segment_ids(), vec![2]);
            s.close().unwrap();
            assert!(!s.is_open());
        }
        let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
        assert!(matches!(
            RocksDbWindowStore::open(&db, "w", 100, 60),
            Err(StoreError::InvalidArgument { .. })
        ));
        assert!(matches!(
            RocksDbSessionStore::open(&db, "w", 100, 50),
            Err(StoreError::InvalidArgument { .. })
        ));
        let mut s = RocksDbWindowStore::open(&db, "w", 100, 50).unwrap();
        assert_eq!(s.segment_ids(), vec![2]);
        assert_eq!(s.observed_stream_time(), Some(200));
        assert_eq!(s.segment_interval_ms(), 50);
        assert_eq!(s.fetch(b"k", 130).unwrap(), Some(b"130".to_vec()));
        // Still stream time 200: a put at 90 is late.
        s.put(b"k", Some(b"90"), 90).unwrap();
        assert_eq!(s.fetch(b"k", 90).unwrap(), None);
        assert_eq!(segment_cfs(&db, "w"), vec!["w.2"]);
        // Expiry carries on from there.
        s.put(b"k", Some(b"260"), 260).unwrap();
        assert_eq!(segment_cfs(&db, "w"), vec!["w.5"]);
        s.close().unwrap();
        drop(s);
        drop(db);
        // A shorter retention drops what has expired under it at once.
        let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
        let s = RocksDbWindowStore::open(&db, "w", 5, 50).unwrap();
        assert_eq!(s.segment_ids(), vec![5]);
        assert_eq!(s.fetch(b"k", 260).unwrap(), Some(b"260".to_vec()));
    }

    #[test]
    fn observed_time_is_recovered_from_the_segments_without_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let budget = budget();
        {
            let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
            let mut s = RocksDbWindowStore::open(&db, "w", 1000, 50).unwrap();
            let mut ss = RocksDbSessionStore::open(&db, "s", 1000, 50).unwrap();
            s.put(b"a", Some(b"1"), 70).unwrap();
            s.put(b"b", Some(b"2"), 30).unwrap();
            ss.put(b"a", w(10, 80), b"1").unwrap();
            ss.put(b"b", w(60, 90), b"2").unwrap();
            ss.put(b"c", w(5, 20), b"3").unwrap();
            let raw = db.db();
            for store in ["w", "s"] {
                let meta = raw.cf_handle(store).unwrap();
                raw.delete_cf(&meta, OBSERVED_KEY).unwrap();
            }
            s.close().unwrap();
            ss.close().unwrap();
        }
        let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
        let s = RocksDbWindowStore::open(&db, "w", 1000, 50).unwrap();
        assert_eq!(s.observed_stream_time(), Some(70));
        let ss = RocksDbSessionStore::open(&db, "s", 1000, 50).unwrap();
        assert_eq!(ss.observed_stream_time(), Some(90));
    }

    #[test]
    fn window_scans_keep_keys_apart_and_order_by_start_then_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = TaskDb::open(dir.path(), &[], &budget()).unwrap();
        let mut s = RocksDbWindowStore::open(&db, "w", 1000, 10).unwrap();
        let mut model = InMemoryWindowStore::new("w", 1000).unwrap();
        let keys: [&[u8]; 9] = [
            b"", b"\0", b"a", b"a\0", b"a\0\0", b"a\x01", b"ab", b"b", b"\xff",
        ];
        for (i, k) in keys.iter().enumerate() {
            for start in [-15, 5, 3, 15, 27 - i as i64] {
                let v = [i as u8, start as u8];
                s.put(k, Some(&v), start).unwrap();
                model.put(k, Some(&v), start).unwrap();
            }
        }
        assert!(s.segment_ids().len() >= 4, "{:?}", s.segment_ids());
        // One key's windows only, though `a\0` and `a\0\0` start with `a`'s bytes.
        let a = windows(s.fetch_key_range(b"a", i64::MIN, i64::MAX, false).unwrap());
        assert_eq!(
            a.iter().map(|(_, t, _)| *t).collect::<Vec<_>>(),
            vec![-15, 3, 5, 15, 25]
        );
        assert!(a.iter().all(|(k, _, _)| k == b"a"));
        let mut rev = a.clone();
        rev.reverse();
        assert_eq!(
            windows(s.fetch_key_range(b"a", i64::MIN, i64::MAX, true).unwrap()),
            rev
        );
        let all = windows(s.all().unwrap());
        let mut sorted = all.clone();
        sorted.sort_by(|x, y| (x.1, &x.0).cmp(&(y.1, &y.0)));
        assert_eq!(all, sorted, "by start, then key");
        assert_eq!(all, windows(model.all().unwrap()));
        let some = |lo: Bound<&[u8]>, hi: Bound<&[u8]>, from, to| {
            let got = windows(s.fetch_range(lo, hi, from, to).unwrap());
            assert_eq!(got, windows(model.fetch_range(lo, hi, from, to).unwrap()));
            got
        };
        assert_eq!(
            some(Bound::Included(b"a"), Bound::Included(b"a\0"), 0, 9)
                .into_iter()
                .map(|(k, t, _)| (k, t))
                .collect::<Vec<_>>(),
            vec![
                (b"a".to_vec(), 3),
                (b"a\0".to_vec(), 3),
                (b"a".to_vec(), 5),
                (b"a\0".to_vec(), 5),
            ]
        );
        some(Bound::Excluded(b"a"), Bound::Excluded(b"b"), -100, 100);
        some(Bound::Unbounded, Bound::Excluded(b"a\0"), 4, 26);
        some(Bound::Excluded(b"\0"), Bound::Unbounded, -15, -15);
        assert!(some(Bound::Included(b"b"), Bound::Included(b"a"), -100, 100).is_empty());
        assert!(some(Bound::Unbounded, Bound::Unbounded, 9, 8).is_empty());
    }

    #[test]
    fn corrupt_entries_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let budget = budget();
        {
            let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
            let mut s = RocksDbWindowStore::open(&db, "w", 1000, 50).unwrap();
            let mut ss = RocksDbSessionStore::open(&db, "s", 1000, 50).unwrap();
            s.put(b"a", Some(b"1"), 5).unwrap();
            ss.put(b"a", w(1, 5), b"1").unwrap();
            let raw = db.db();
            let seg = raw.cf_handle("w.0").unwrap();
            raw.put_cf(&seg, b"junk", b"x").unwrap();
            // A well-formed key whose start lies in another segment.
            raw.put_cf(&seg, window_key(b"b", 500), b"x").unwrap();
            let bad = |it: WindowIter<'_>| {
                it.filter(|r| matches!(r, Err(StoreError::Corrupt { .. })))
                    .count()
            };
            assert_eq!(bad(s.all().unwrap()), 2);
            assert_eq!(
                windows(s.fetch_key_range(b"a", 0, 10, false).unwrap()).len(),
                1
            );
            let seg = raw.cf_handle("s.0").unwrap();
            // A session that ends before it starts.
            raw.put_cf(&seg, session_key(b"a", w(9, 8)), b"x").unwrap();
            raw.put_cf(&seg, [0u8], b"x").unwrap();
            let errors = ss
                .find_sessions(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX)
                .unwrap()
                .filter(|r| matches!(r, Err(StoreError::Corrupt { .. })))
                .count();
            assert_eq!(errors, 2);
            let meta = raw.cf_handle("w").unwrap();
            raw.put_cf(&meta, OBSERVED_KEY, b"abc").unwrap();
            s.close().unwrap();
        }
        let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
        assert!(matches!(
            RocksDbWindowStore::open(&db, "w", 1000, 50),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn arguments_are_checked_and_closed_stores_refuse_calls() {
        let dir = tempfile::tempdir().unwrap();
        let db = TaskDb::open(dir.path(), &[], &budget()).unwrap();
        for (retention, interval) in [(-1, 10), (10, 0), (10, -5)] {
            assert!(matches!(
                RocksDbWindowStore::open(&db, "w", retention, interval),
                Err(StoreError::InvalidArgument { .. })
            ));
            assert!(matches!(
                RocksDbSessionStore::open(&db, "s", retention, interval),
                Err(StoreError::InvalidArgument { .. })
            ));
        }
        let mut s = RocksDbWindowStore::open(&db, "w", 10, 5).unwrap();
        s.put(b"a", Some(b"1"), 1).unwrap();
        s.flush().unwrap();
        s.close().unwrap();
        s.close().unwrap();
        assert!(matches!(s.fetch(b"a", 1), Err(StoreError::Closed(_))));
        assert!(matches!(s.put(b"a", None, 1), Err(StoreError::Closed(_))));
        assert!(matches!(s.all(), Err(StoreError::Closed(_))));
        assert!(matches!(s.flush(), Err(StoreError::Closed(_))));
        let mut ss = RocksDbSessionStore::open(&db, "s", 10, 5).unwrap();
        assert!(matches!(
            ss.put(b"a", w(9, 8), b"x"),
            Err(StoreError::InvalidArgument { .. })
        ));
        assert_eq!(
            ss.observed_stream_time(),
            None,
            "a rejected put is not observed"
        );
        ss.close().unwrap();
        assert!(matches!(ss.fetch(b"a"), Err(StoreError::Closed(_))));
        assert!(matches!(
            ss.remove(b"a", w(1, 2)),
            Err(StoreError::Closed(_))
        ));
        assert_eq!((ss.name(), ss.retention_ms()), ("s", 10));
    }

    #[test]
    fn session_expiry_drops_segments_and_reopening_recovers_them() {
        let dir = tempfile::tempdir().unwrap();
        let budget = budget();
        {
            let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
            let mut s = RocksDbSessionStore::open(&db, "s", 100, 50).unwrap();
            s.put(b"a", w(0, 10), b"x").unwrap();
            s.put(b"a", w(30, 40), b"y").unwrap();
            s.put(b"b", w(5, 60), b"z").unwrap();
            assert_eq!(
                sessions(s.find_key_sessions(b"a", 10, 30).unwrap()),
                vec![
                    (b"a".to_vec(), 0, 10, b"x".to_vec()),
                    (b"a".to_vec(), 30, 40, b"y".to_vec())
                ]
            );
            // Stream time 145: ends up to 45 are gone; segment 0 (ends 0..=49) is live.
            s.put(b"c", w(140, 145), b"w").unwrap();
            assert_eq!(segment_cfs(&db, "s"), vec!["s.0", "s.1", "s.2"]);
            assert_eq!(sessions(s.fetch(b"a").unwrap()), vec![]);
            assert_eq!(s.fetch_session(b"a", w(30, 40)).unwrap(), None);
            // Stream time 160: segment 0 goes.
            s.put(b"d", w(150, 160), b"v").unwrap();
            assert_eq!(segment_cfs(&db, "s"), vec!["s.1", "s.2", "s.3"]);
            assert_eq!(sessions(s.fetch(b"b").unwrap()), vec![], "ended at 60");
            s.flush().unwrap();
        }
        let db = TaskDb::open(dir.path(), &[], &budget).unwrap();
        let mut s = RocksDbSessionStore::open(&db, "s", 100, 50).unwrap();
        assert_eq!(s.segment_ids(), vec![1, 2, 3]);
        assert_eq!(s.observed_stream_time(), Some(160));
        assert_eq!(
            sessions(
                s.find_sessions(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX)
                    .unwrap()
            ),
            vec![
                (b"c".to_vec(), 140, 145, b"w".to_vec()),
                (b"d".to_vec(), 150, 160, b"v".to_vec())
            ]
        );
        s.remove(b"c", w(140, 145)).unwrap();
        assert_eq!(s.fetch_session(b"c", w(140, 145)).unwrap(), None);
        // Late: dropped, no segment made.
        s.put(b"e", w(0, 50), b"late").unwrap();
        assert_eq!(s.fetch_session(b"e", w(0, 50)).unwrap(), None);
        assert_eq!(s.segment_ids(), vec![1, 2, 3]);
        s.put(b"f", w(200, 260), b"u").unwrap();
        assert_eq!(segment_cfs(&db, "s"), vec!["s.3", "s.5"]);
    }

    #[test]
    fn sessions_come_by_key_then_end_then_start_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let db = TaskDb::open(dir.path(), &[], &budget()).unwrap();
        let mut s = RocksDbSessionStore::open(&db, "s", 1000, 10).unwrap();
        let mut model = InMemorySessionStore::new("s", 1000).unwrap();
        let puts: [(&[u8], i64, i64); 10] = [
            (b"b", 0, 5),
            (b"a", 20, 25),
            (b"a", 0, 25),
            (b"a", 3, 4),
            (b"b", 30, 31),
            (b"", 1, 2),
            (b"a\0", 0, 15),
            (b"a\0", -30, -20),
            (b"\0", 7, 45),
            (b"a", 12, 12),
        ];
        for (k, start, end) in puts {
            s.put(k, w(start, end), &[start as u8]).unwrap();
            model.put(k, w(start, end), &[start as u8]).unwrap();
        }
        let all = sessions(
            s.find_sessions(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX)
                .unwrap(),
        );
        let mut sorted = all.clone();
        sorted.sort_by(|x, y| (&x.0, x.2, x.1).cmp(&(&y.0, y.2, y.1)));
        assert_eq!(all, sorted);
        assert_eq!(all.len(), puts.len());
        let same = |lo: Bound<&[u8]>, hi: Bound<&[u8]>, earliest_end, latest_start| {
            assert_eq!(
                sessions(s.find_sessions(lo, hi, earliest_end, latest_start).unwrap()),
                sessions(
                    model
                        .find_sessions(lo, hi, earliest_end, latest_start)
                        .unwrap()
                )
            );
        };
        same(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX);
        same(Bound::Included(b"a"), Bound::Included(b"a"), 5, 20);
        same(Bound::Excluded(b"a"), Bound::Unbounded, -25, 0);
        same(Bound::Unbounded, Bound::Excluded(b"a\0"), 12, 12);
        same(
            Bound::Included(b"b"),
            Bound::Included(b"a"),
            i64::MIN,
            i64::MAX,
        );
        assert_eq!(
            sessions(s.fetch(b"a").unwrap()),
            sessions(model.fetch(b"a").unwrap())
        );
    }

    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff)], 0..3)
    }

    fn key_bound() -> impl Strategy<Value = Option<(bool, Vec<u8>)>> {
        proptest::option::of((any::<bool>(), small_key()))
    }

    fn bound(b: &Option<(bool, Vec<u8>)>) -> Bound<&[u8]> {
        match b {
            None => Bound::Unbounded,
            Some((true, k)) => Bound::Included(k),
            Some((false, k)) => Bound::Excluded(k),
        }
    }

    fn time() -> impl Strategy<Value = i64> {
        -30i64..80
    }

    /// A time range, now and then inverted.
    fn times() -> impl Strategy<Value = (i64, i64)> {
        (time(), -5i64..70).prop_map(|(from, len)| (from, from + len))
    }

    #[derive(Debug, Clone)]
    enum WindowOp {
        Put(Vec<u8>, i64, Option<u8>),
        /// Overwrites or deletes an earlier put's window.
        Again(Index, Option<u8>),
        Fetch(Vec<u8>, i64),
        FetchEarlier(Index),
        FetchKeyRange(Vec<u8>, (i64, i64), bool),
        FetchRange(Option<(bool, Vec<u8>)>, Option<(bool, Vec<u8>)>, (i64, i64)),
        FetchAll((i64, i64)),
        Flush,
        Reopen,
    }

    fn window_op() -> impl Strategy<Value = WindowOp> {
        let value = || proptest::option::of(any::<u8>());
        prop_oneof![
            8 => (small_key(), time(), value()).prop_map(|(k, t, v)| WindowOp::Put(k, t, v)),
            2 => (any::<Index>(), value()).prop_map(|(i, v)| WindowOp::Again(i, v)),
            1 => (small_key(), time()).prop_map(|(k, t)| WindowOp::Fetch(k, t)),
            2 => any::<Index>().prop_map(WindowOp::FetchEarlier),
            2 => (small_key(), times(), any::<bool>())
                .prop_map(|(k, t, r)| WindowOp::FetchKeyRange(k, t, r)),
            2 => (key_bound(), key_bound(), times())
                .prop_map(|(lo, hi, t)| WindowOp::FetchRange(lo, hi, t)),
            1 => times().prop_map(WindowOp::FetchAll),
            1 => Just(WindowOp::Flush),
            1 => Just(WindowOp::Reopen),
        ]
    }

    /// Every segment left has a live time in it, and every segment is a column family.
    fn segments_are_live(
        db: &TaskDb,
        store: &str,
        ids: &[i64],
        observed: Option<i64>,
        retention: i64,
        interval: i64,
    ) -> Result<(), TestCaseError> {
        let live = observed
            .unwrap_or(i64::MIN)
            .saturating_sub(retention)
            .saturating_add(1);
        for id in ids {
            prop_assert!(id * interval + interval > live, "segment {} expired", id);
        }
        prop_assert_eq!(segment_cfs(db, store).len(), ids.len());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Every answer of the RocksDB window store is the in-memory store's, through puts,
        /// deletes, expiry, flushes and reopening.
        #[test]
        fn window_store_matches_the_in_memory_model(
            retention in 0i64..60,
            interval in 1i64..25,
            ops in proptest::collection::vec(window_op(), 1..60),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let budget = budget();
            let mut db = TaskDb::open(dir.path(), &[], &budget).unwrap();
            let mut s = RocksDbWindowStore::open(&db, "w", retention, interval).unwrap();
            let mut model = InMemoryWindowStore::new("w", retention).unwrap();
            let mut written: Vec<(Vec<u8>, i64)> = Vec::new();
            for op in ops {
                match op {
                    WindowOp::Put(k, t, v) => {
                        let v = v.map(|v| [v]);
                        s.put(&k, v.as_ref().map(|v| &v[..]), t).unwrap();
                        model.put(&k, v.as_ref().map(|v| &v[..]), t).unwrap();
                        written.push((k, t));
                    }
                    WindowOp::Again(i, v) => {
                        if !written.is_empty() {
                            let (k, t) = written[i.index(written.len())].clone();
                            let v = v.map(|v| [v]);
                            s.put(&k, v.as_ref().map(|v| &v[..]), t).unwrap();
                            model.put(&k, v.as_ref().map(|v| &v[..]), t).unwrap();
                        }
                    }
                    WindowOp::Fetch(k, t) => {
                        prop_assert_eq!(s.fetch(&k, t).unwrap(), model.fetch(&k, t).unwrap());
                    }
                    WindowOp::FetchEarlier(i) => {
                        if !written.is_empty() {
                            let (k, t) = &written[i.index(written.len())];
                            prop_assert_eq!(s.fetch(k, *t).unwrap(), model.fetch(k, *t).unwrap());
                        }
                    }
                    WindowOp::FetchKeyRange(k, (from, to), reverse) => {
                        prop_assert_eq!(
                            windows(s.fetch_key_range(&k, from, to, reverse).unwrap()),
                            windows(model.fetch_key_range(&k, from, to, reverse).unwrap())
                        );
                    }
                    WindowOp::FetchRange(lo, hi, (from, to)) => {
                        let (lo, hi) = (bound(&lo), bound(&hi));
                        prop_assert_eq!(
                            windows(s.fetch_range(lo, hi, from, to).unwrap()),
                            windows(model.fetch_range(lo, hi, from, to).unwrap())
                        );
                    }
                    WindowOp::FetchAll((from, to)) => {
                        prop_assert_eq!(
                            windows(s.fetch_all(from, to).unwrap()),
                            windows(model.fetch_all(from, to).unwrap())
                        );
                    }
                    WindowOp::Flush => s.flush().unwrap(),
                    WindowOp::Reopen => {
                        s.close().unwrap();
                        drop(s);
                        drop(db);
                        db = TaskDb::open(dir.path(), &[], &budget).unwrap();
                        s = RocksDbWindowStore::open(&db, "w", retention, interval).unwrap();
                    }
                }
                segments_are_live(
                    &db, "w", &s.segment_ids(), s.observed_stream_time(), retention, interval,
                )?;
            }
            prop_assert_eq!(windows(s.all().unwrap()), windows(model.all().unwrap()));
        }
    }

    #[derive(Debug, Clone)]
    enum SessionOp {
        Put(Vec<u8>, i64, i64, u8),
        /// Overwrites an earlier put's session.
        Again(Index, u8),
        Remove(Vec<u8>, i64, i64),
        RemoveEarlier(Index),
        FetchSession(Vec<u8>, i64, i64),
        FetchEarlier(Index),
        Find(Option<(bool, Vec<u8>)>, Option<(bool, Vec<u8>)>, i64, i64),
        FindKey(Vec<u8>, i64, i64),
        Fetch(Vec<u8>),
        Flush,
        Reopen,
    }

    fn session_op() -> impl Strategy<Value = SessionOp> {
        let len = || 0i64..12;
        prop_oneof![
            8 => (small_key(), time(), len(), any::<u8>())
                .prop_map(|(k, t, l, v)| SessionOp::Put(k, t, t + l, v)),
            1 => (any::<Index>(), any::<u8>()).prop_map(|(i, v)| SessionOp::Again(i, v)),
            1 => (small_key(), time(), len()).prop_map(|(k, t, l)| SessionOp::Remove(k, t, t + l)),
            2 => any::<Index>().prop_map(SessionOp::RemoveEarlier),
            1 => (small_key(), time(), len())
                .prop_map(|(k, t, l)| SessionOp::FetchSession(k, t, t + l)),
            2 => any::<Index>().prop_map(SessionOp::FetchEarlier),
            2 => (key_bound(), key_bound(), time(), time())
                .prop_map(|(lo, hi, e, l)| SessionOp::Find(lo, hi, e, l)),
            2 => (small_key(), time(), time()).prop_map(|(k, e, l)| SessionOp::FindKey(k, e, l)),
            1 => small_key().prop_map(SessionOp::Fetch),
            1 => Just(SessionOp::Flush),
            1 => Just(SessionOp::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Every answer of the RocksDB session store is the in-memory store's, through puts,
        /// removes, expiry, flushes and reopening.
        #[test]
        fn session_store_matches_the_in_memory_model(
            retention in 0i64..60,
            interval in 1i64..25,
            ops in proptest::collection::vec(session_op(), 1..60),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let budget = budget();
            let mut db = TaskDb::open(dir.path(), &[], &budget).unwrap();
            let mut s = RocksDbSessionStore::open(&db, "s", retention, interval).unwrap();
            let mut model = InMemorySessionStore::new("s", retention).unwrap();
            let mut written: Vec<(Vec<u8>, SessionWindow)> = Vec::new();
            let pick = |written: &[(Vec<u8>, SessionWindow)], i: &Index| {
                (!written.is_empty()).then(|| written[i.index(written.len())].clone())
            };
            for op in ops {
                match op {
                    SessionOp::Put(k, start, end, v) => {
                        s.put(&k, w(start, end), &[v]).unwrap();
                        model.put(&k, w(start, end), &[v]).unwrap();
                        written.push((k, w(start, end)));
                    }
                    SessionOp::Again(i, v) => {
                        if let Some((k, win)) = pick(&written, &i) {
                            s.put(&k, win, &[v]).unwrap();
                            model.put(&k, win, &[v]).unwrap();
                        }
                    }
                    SessionOp::Remove(k, start, end) => {
                        s.remove(&k, w(start, end)).unwrap();
                        model.remove(&k, w(start, end)).unwrap();
                    }
                    SessionOp::RemoveEarlier(i) => {
                        if let Some((k, win)) = pick(&written, &i) {
                            s.remove(&k, win).unwrap();
                            model.remove(&k, win).unwrap();
                        }
                    }
                    SessionOp::FetchSession(k, start, end) => {
                        prop_assert_eq!(
                            s.fetch_session(&k, w(start, end)).unwrap(),
                            model.fetch_session(&k, w(start, end)).unwrap()
                        );
                    }
                    SessionOp::FetchEarlier(i) => {
                        if let Some((k, win)) = pick(&written, &i) {
                            prop_assert_eq!(
                                s.fetch_session(&k, win).unwrap(),
                                model.fetch_session(&k, win).unwrap()
                            );
                        }
                    }
                    SessionOp::Find(lo, hi, earliest_end, latest_start) => {
                        let (lo, hi) = (bound(&lo), bound(&hi));
                        prop_assert_eq!(
                            sessions(s.find_sessions(lo, hi, earliest_end, latest_start).unwrap()),
                            sessions(model.find_sessions(lo, hi, earliest_end, latest_start).unwrap())
                        );
                    }
                    SessionOp::FindKey(k, earliest_end, latest_start) => {
                        prop_assert_eq!(
                            sessions(s.find_key_sessions(&k, earliest_end, latest_start).unwrap()),
                            sessions(model.find_key_sessions(&k, earliest_end, latest_start).unwrap())
                        );
                    }
                    SessionOp::Fetch(k) => {
                        prop_assert_eq!(
                            sessions(s.fetch(&k).unwrap()),
                            sessions(model.fetch(&k).unwrap())
                        );
                    }
                    SessionOp::Flush => s.flush().unwrap(),
                    SessionOp::Reopen => {
                        s.close().unwrap();
                        drop(s);
                        drop(db);
                        db = TaskDb::open(dir.path(), &[], &budget).unwrap();
                        s = RocksDbSessionStore::open(&db, "s", retention, interval).unwrap();
                    }
                }
                segments_are_live(
                    &db, "s", &s.segment_ids(), s.observed_stream_time(), retention, interval,
                )?;
            }
            prop_assert_eq!(
                sessions(s.find_sessions(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX).unwrap()),
                sessions(model.find_sessions(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX).unwrap())
            );
        }
    }
}
