//! RocksDB stores.
//!
//! **Layout: one RocksDB instance per task, a column family per store.** Kafka Streams opens
//! one instance per store. Brook opens one per task (sub-topology × partition), because:
//! - a task's stores are written, flushed and checkpointed together, and one instance holds
//!   one set of files, background threads and (later, under exactly-once) one atomic write
//!   batch across them;
//! - a task migrates as a unit, so its directory moves or is wiped as one;
//! - the number of instances a machine runs is the number of tasks, not tasks × stores,
//!   which keeps file handles and compaction threads in check.
//!
//! A column family keeps each store's keys, options and files apart, so a store can still
//! be dropped alone (`drop_cf`). The instance is opened multi-threaded
//! (`DBWithThreadMode<MultiThreaded>`), so column families can be created and dropped through
//! a shared handle while the task runs: the segmented window and session stores
//! ([`crate::segmented`]) keep each time segment in a column family of its own and drop it
//! whole when it expires.
//!
//! **Memory: one budget for every instance** ([`MemoryBudget`], `state.memory.bytes`): a
//! shared LRU block cache of that size, and a write buffer manager charged to the same cache
//! (memtables take at most a quarter of it), as Kafka Streams' bounded-memory configuration
//! does. So the stores of every task together stay within the budget, however many there are.
//!
//! **Durability** comes from the changelog, as in Kafka Streams: writes skip RocksDB's
//! write-ahead log, and [`StateStore::flush`] (called at commit, before the checkpoint is
//! written) flushes the memtables to SST files. After a crash, a store holds at least what
//! was flushed at the last checkpoint, and restoration replays the changelog from the
//! checkpointed offset.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rocksdb::{
    BlockBasedOptions, BoundColumnFamily, Cache, ColumnFamilyDescriptor, Direction, IteratorMode,
    MultiThreaded, Options, WriteBatch, WriteBufferManager, WriteOptions,
};

use crate::error::StoreError;
use crate::memory::{as_ref, empty_range, in_range, owned};
use crate::store::{KeyValueIter, KeyValueStore, StateStore};

/// The memory all RocksDB stores of a process share: `state.memory.bytes`.
#[derive(Clone)]
pub struct MemoryBudget {
    bytes: usize,
    cache: Cache,
    write_buffers: WriteBufferManager,
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl MemoryBudget {
    /// The default `state.memory.bytes`: 256 MiB.
    pub const DEFAULT_BYTES: usize = 256 << 20;

    /// A budget of `bytes` (at least 1 MiB): the block cache, with memtables charged to it
    /// up to a quarter.
    pub fn new(bytes: usize) -> MemoryBudget {
        let bytes = bytes.max(1 << 20);
        let cache = Cache::new_lru_cache(bytes);
        let write_buffers =
            WriteBufferManager::new_write_buffer_manager_with_cache(bytes / 4, true, cache.clone());
        MemoryBudget {
            bytes,
            cache,
            write_buffers,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What the shared cache holds now (blocks and charged memtables).
    pub fn usage(&self) -> usize {
        self.cache.get_usage()
    }

    fn options(&self) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_bloom_filter(10.0, false);
        let mut opts = Options::default();
        opts.set_block_based_table_factory(&table);
        opts.set_write_buffer_manager(&self.write_buffers);
        opts
    }
}

/// The RocksDB instance of a task: multi-threaded, so column families are created and dropped
/// through `&self`.
pub(crate) type DB = rocksdb::DBWithThreadMode<MultiThreaded>;

/// The column family RocksDB always has; no store lives in it.
const DEFAULT_CF: &str = "default";

pub(crate) fn storage(store: &str, e: rocksdb::Error) -> StoreError {
    StoreError::Storage {
        store: store.to_owned(),
        reason: e.into_string(),
    }
}

/// A task's RocksDB instance, with one column family per store (and one per time segment of
/// a segmented store). A clone is another handle on the same instance.
#[derive(Clone)]
pub struct TaskDb {
    db: Arc<DB>,
    path: PathBuf,
    budget: MemoryBudget,
    /// The names of the column families open now (RocksDB's multi-threaded handle has no
    /// listing of its own).
    cfs: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for TaskDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskDb").field("path", &self.path).finish()
    }
}

impl TaskDb {
    /// Opens (creating if need be) the instance at `path` with a column family for each
    /// of `stores` (column families already there are opened too, so nothing is lost when
    /// a topology drops a store).
    pub fn open(path: &Path, stores: &[&str], budget: &MemoryBudget) -> Result<TaskDb, StoreError> {
        let what = path.display().to_string();
        let mut opts = budget.options();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // A new directory has no column families to list.
        let mut names: Vec<String> = DB::list_cf(&opts, path).unwrap_or_default();
        for s in stores {
            if !names.iter().any(|n| n == s) {
                names.push((*s).to_owned());
            }
        }
        let cfs = names
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(n, budget.options()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| storage(&what, e))?;
        Ok(TaskDb {
            db: Arc::new(db),
            path: path.to_owned(),
            budget: budget.clone(),
            cfs: Arc::new(Mutex::new(
                names.into_iter().filter(|n| n != DEFAULT_CF).collect(),
            )),
        })
    }

    /// The directory of the instance.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the column families open now, ascending (RocksDB's `default` family,
    /// which no store uses, left out).
    pub fn column_families(&self) -> Vec<String> {
        self.names().iter().cloned().collect()
    }

    /// Creates the column family `name` (with the budget's options) unless it exists.
    pub fn create_column_family(&self, name: &str) -> Result<(), StoreError> {
        let mut names = self.names();
        if names.contains(name) {
            return Ok(());
        }
        self.db
            .create_cf(name, &self.budget.options())
            .map_err(|e| storage(name, e))?;
        names.insert(name.to_owned());
        Ok(())
    }

    /// Drops the column family `name` and with it every file it has (nothing is left to
    /// compact away); a family that does not exist is not an error.
    pub fn drop_column_family(&self, name: &str) -> Result<(), StoreError> {
        let mut names = self.names();
        if !names.remove(name) {
            return Ok(());
        }
        self.db.drop_cf(name).map_err(|e| storage(name, e))
    }

    pub(crate) fn db(&self) -> &Arc<DB> {
        &self.db
    }

    fn names(&self) -> MutexGuard<'_, BTreeSet<String>> {
        // The set stays consistent under a panic elsewhere: every change is one insert or
        // remove.
        self.cfs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key-value store `name` (one of the stores the instance was opened with).
    pub fn key_value_store(&self, name: &str) -> Result<RocksDbKeyValueStore, StoreError> {
        if self.db.cf_handle(name).is_none() {
            return Err(StoreError::InvalidArgument {
                store: name.to_owned(),
                reason: format!(
                    "no such store in the task database at {}",
                    self.path.display()
                ),
            });
        }
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(RocksDbKeyValueStore {
            name: name.to_owned(),
            db: self.db.clone(),
            write,
            open: true,
        })
    }
}

/// A key-value store in a column family of a task's RocksDB instance.
pub struct RocksDbKeyValueStore {
    name: String,
    db: Arc<DB>,
    write: WriteOptions,
    open: bool,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbKeyValueStore")
            .field("name", &self.name)
            .field("open", &self.open)
            .finish()
    }
}

impl RocksDbKeyValueStore {
    fn cf(&self) -> Result<Arc<BoundColumnFamily<'_>>, StoreError> {
        if !self.open {
            return Err(StoreError::Closed(self.name.clone()));
        }
        self.db
            .cf_handle(&self.name)
            .ok_or_else(|| StoreError::Closed(self.name.clone()))
    }

    fn err(&self, e: rocksdb::Error) -> StoreError {
        storage(&self.name, e)
    }
}

impl StateStore for RocksDbKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let cf = self.cf()?;
        self.db.flush_cf(&cf).map_err(|e| self.err(e))
    }

    fn close(&mut self) -> Result<(), StoreError> {
        if self.open {
            self.flush()?;
            self.open = false;
        }
        Ok(())
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

impl KeyValueStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.cf()?;
        self.db.get_cf(&cf, key).map_err(|e| self.err(e))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let cf = self.cf()?;
        self.db
            .put_cf_opt(&cf, key, value, &self.write)
            .map_err(|e| self.err(e))
    }

    fn write_batch(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<(), StoreError> {
        let cf = self.cf()?;
        let mut batch = WriteBatch::default();
        for (k, v) in entries {
            match v {
                Some(v) => batch.put_cf(&cf, k, v),
                None => batch.delete_cf(&cf, k),
            }
        }
        self.db
            .write_opt(batch, &self.write)
            .map_err(|e| self.err(e))
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.cf()?;
        let old = self.db.get_cf(&cf, key).map_err(|e| self.err(e))?;
        if old.is_some() {
            self.db
                .delete_cf_opt(&cf, key, &self.write)
                .map_err(|e| self.err(e))?;
        }
        Ok(old)
    }

    fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        let cf = self.cf()?;
        if empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let (lo, hi) = (owned(from), owned(to));
        let mode = match (reverse, &lo, &hi) {
            (false, Bound::Included(k) | Bound::Excluded(k), _) => {
                IteratorMode::From(k, Direction::Forward)
            }
            (false, Bound::Unbounded, _) => IteratorMode::Start,
            (true, _, Bound::Included(k) | Bound::Excluded(k)) => {
                IteratorMode::From(k, Direction::Reverse)
            }
            (true, _, Bound::Unbounded) => IteratorMode::End,
        };
        let name = self.name.clone();
        let it = self.db.iterator_cf(&cf, mode);
        let (lo2, hi2) = (lo.clone(), hi.clone());
        // Skip what lies before the starting bound (an excluded start key), stop at the
        // first key past the other bound.
        let it = it
            .map(move |r| r.map_err(|e| storage(&name, e)))
            .skip_while(move |r| match r {
                Ok((k, _)) if !reverse => !in_range(k, as_ref(&lo2), Bound::Unbounded),
                Ok((k, _)) => !in_range(k, Bound::Unbounded, as_ref(&hi2)),
                Err(_) => false,
            })
            .take_while(move |r| match r {
                Ok((k, _)) if !reverse => in_range(k, Bound::Unbounded, as_ref(&hi)),
                Ok((k, _)) => in_range(k, as_ref(&lo), Bound::Unbounded),
                Err(_) => true,
            })
            .map(|r| r.map(|(k, v)| (k.into_vec(), v.into_vec())));
        Ok(Box::new(it))
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        let cf = self.cf()?;
        Ok(self
            .db
            .property_int_value_cf(&cf, "rocksdb.estimate-num-keys")
            .map_err(|e| self.err(e))?
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn collect(it: KeyValueIter<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
        it.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn stores_of_a_task_are_apart_and_flushed_data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(8 << 20);
        {
            let db = TaskDb::open(dir.path(), &["counts", "names"], &budget).unwrap();
            let mut counts = db.key_value_store("counts").unwrap();
            let mut names = db.key_value_store("names").unwrap();
            counts.put(b"a", b"1").unwrap();
            names.put(b"a", b"alice").unwrap();
            counts
                .write_batch(&[(b"b", Some(b"2")), (b"c", Some(b"3")), (b"c", None)])
                .unwrap();
            assert_eq!(counts.get(b"a").unwrap(), Some(b"1".to_vec()));
            assert_eq!(names.get(b"a").unwrap(), Some(b"alice".to_vec()));
            assert_eq!(counts.get(b"c").unwrap(), None);
            assert_eq!(counts.delete(b"b").unwrap(), Some(b"2".to_vec()));
            counts.put(b"b", b"22").unwrap();
            assert!(db.key_value_store("other").is_err());
            counts.close().unwrap();
            names.flush().unwrap();
            assert!(matches!(counts.get(b"a"), Err(StoreError::Closed(_))));
        }
        let db = TaskDb::open(dir.path(), &["counts"], &budget).unwrap();
        let counts = db.key_value_store("counts").unwrap();
        assert_eq!(
            collect(counts.all().unwrap()),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"22".to_vec())
            ]
        );
        // A store not named this time is still there.
        let names = db.key_value_store("names").unwrap();
        assert_eq!(names.get(b"a").unwrap(), Some(b"alice".to_vec()));
        assert!(counts.approximate_num_entries().unwrap() >= 1);
        assert!(budget.usage() <= budget.bytes() + (1 << 20));
    }

    fn bound(b: &Option<(bool, Vec<u8>)>) -> Bound<&[u8]> {
        match b {
            None => Bound::Unbounded,
            Some((true, k)) => Bound::Included(k),
            Some((false, k)) => Bound::Excluded(k),
        }
    }

    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(0xfe), Just(0xff)],
            0..3,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Ranges both ways and prefix scans answer as the in-memory model does.
        #[test]
        fn scans_match_a_model(
            puts in proptest::collection::vec((small_key(), any::<u8>()), 0..40),
            deletes in proptest::collection::vec(small_key(), 0..10),
            from in proptest::option::of((any::<bool>(), small_key())),
            to in proptest::option::of((any::<bool>(), small_key())),
            prefix in small_key(),
            flush in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let db = TaskDb::open(dir.path(), &["s"], &MemoryBudget::new(4 << 20)).unwrap();
            let mut s = db.key_value_store("s").unwrap();
            let mut model = BTreeMap::new();
            for (k, v) in &puts {
                s.put(k, &[*v]).unwrap();
                model.insert(k.clone(), vec![*v]);
            }
            if flush {
                s.flush().unwrap();
            }
            for k in &deletes {
                prop_assert_eq!(s.delete(k).unwrap(), model.remove(k));
            }
            let (f, t) = (bound(&from), bound(&to));
            let want: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .filter(|(k, _)| in_range(k, f, t))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(&collect(s.range(f, t, false).unwrap()), &want);
            let mut rev = want.clone();
            rev.reverse();
            prop_assert_eq!(collect(s.range(f, t, true).unwrap()), rev);
            let with_prefix: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(collect(s.prefix_scan(&prefix).unwrap()), with_prefix);
        }
    }
}
