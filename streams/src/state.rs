//! Where a task's stores come from ([`StoreProvider`]): RocksDB under the state
//! directory (one instance per task, `<state.dir>/<application.id>/<task>/rocksdb`) or
//! memory, and how their writes reach the changelog.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use brook_state::changelog::{
    ChangeLoggingKeyValueStore, ChangeLoggingSessionStore, ChangeLoggingWindowStore,
    ChangelogContext, ChangelogSink,
};
use brook_state::{
    default_segment_interval, InMemoryKeyValueStore, InMemorySessionStore, InMemoryWindowStore,
    MemoryBudget, RocksDbSessionStore, RocksDbWindowStore, StoreError, TaskDb,
};

use crate::error::{Result, StreamsError};
use crate::store::{KvStore, OpenStore, SessStore, StoreDef, StoreKind, WinStore};
use crate::task::{OutRecord, RecordCollector};
use crate::TaskId;

/// Opens the stores of tasks.
pub(crate) trait StoreProvider {
    /// Opens the stores `defs` of task `task` (not yet wrapped for changelogging), in
    /// order.
    fn open(&mut self, task: TaskId, defs: &[&StoreDef]) -> Result<Vec<OpenStore>>;
}

fn shared_kv(s: impl KvStore + 'static) -> OpenStore {
    OpenStore::KeyValue(Arc::new(Mutex::new(Box::new(s))))
}

fn shared_window(s: impl WinStore + 'static) -> OpenStore {
    OpenStore::Window(Arc::new(Mutex::new(Box::new(s))))
}

fn shared_session(s: impl SessStore + 'static) -> OpenStore {
    OpenStore::Session(Arc::new(Mutex::new(Box::new(s))))
}

fn memory_store(def: &StoreDef) -> Result<OpenStore> {
    Ok(match def.kind {
        StoreKind::KeyValue { .. } => shared_kv(InMemoryKeyValueStore::new(&def.name)),
        StoreKind::Window { retention_ms, .. } => {
            shared_window(InMemoryWindowStore::new(&def.name, retention_ms)?)
        }
        StoreKind::Session { retention_ms } => {
            shared_session(InMemorySessionStore::new(&def.name, retention_ms)?)
        }
    })
}

/// Every store in memory, whatever the topology says.
#[derive(Debug, Default)]
pub(crate) struct InMemoryStores;

impl StoreProvider for InMemoryStores {
    fn open(&mut self, _task: TaskId, defs: &[&StoreDef]) -> Result<Vec<OpenStore>> {
        defs.iter().map(|d| memory_store(d)).collect()
    }
}

/// Persistent stores in RocksDB, one instance per task under `dir`; in-memory stores in
/// memory.
pub(crate) struct RocksStores {
    dir: PathBuf,
    budget: MemoryBudget,
    dbs: HashMap<TaskId, TaskDb>,
}

impl RocksStores {
    /// Stores under `dir` (the application's state directory) sharing `budget`.
    pub fn new(dir: &Path, budget: MemoryBudget) -> RocksStores {
        RocksStores {
            dir: dir.to_owned(),
            budget,
            dbs: HashMap::new(),
        }
    }

    /// The directory of `task`.
    pub fn task_dir(&self, task: TaskId) -> PathBuf {
        self.dir.join(task.to_string())
    }

    /// Forgets `task`'s instance (its stores must be closed first).
    pub fn release(&mut self, task: TaskId) {
        self.dbs.remove(&task);
    }
}

impl StoreProvider for RocksStores {
    fn open(&mut self, task: TaskId, defs: &[&StoreDef]) -> Result<Vec<OpenStore>> {
        let persistent = defs.iter().any(|d| d.persistent);
        if persistent && !self.dbs.contains_key(&task) {
            let path = self.task_dir(task).join("rocksdb");
            std::fs::create_dir_all(&path).map_err(|e| {
                StreamsError::Config(format!(
                    "cannot create state directory {}: {e}",
                    path.display()
                ))
            })?;
            let db = TaskDb::open(&path, &[], &self.budget)?;
            self.dbs.insert(task, db);
        }
        let mut out = Vec::with_capacity(defs.len());
        for def in defs {
            let db = match self.dbs.get(&task) {
                Some(db) if def.persistent => db,
                _ => {
                    out.push(memory_store(def)?);
                    continue;
                }
            };
            let store = match def.kind {
                StoreKind::KeyValue { .. } => {
                    db.create_column_family(&def.name)?;
                    shared_kv(db.key_value_store(&def.name)?)
                }
                StoreKind::Window { retention_ms, .. } => shared_window(RocksDbWindowStore::open(
                    db,
                    &def.name,
                    retention_ms,
                    default_segment_interval(retention_ms),
                )?),
                StoreKind::Session { retention_ms } => shared_session(RocksDbSessionStore::open(
                    db,
                    &def.name,
                    retention_ms,
                    default_segment_interval(retention_ms),
                )?),
            };
            out.push(store);
        }
        Ok(out)
    }
}

/// Sends the writes of a task's stores to their changelog topics, partition = the task's
/// partition, through the task's record collector.
pub(crate) struct TaskChangelogSink {
    pub collector: Arc<dyn RecordCollector>,
    pub partition: i32,
    /// Changelog topic by store.
    pub topics: HashMap<String, String>,
}

impl ChangelogSink for TaskChangelogSink {
    fn append(
        &mut self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> std::result::Result<(), StoreError> {
        let topic = self
            .topics
            .get(store)
            .ok_or_else(|| StoreError::InvalidArgument {
                store: store.to_owned(),
                reason: "the store has no changelog topic".into(),
            })?;
        let record = OutRecord {
            topic: topic.clone(),
            partition: Some(self.partition),
            key: Some(bytes::Bytes::copy_from_slice(key)),
            value: value.map(bytes::Bytes::copy_from_slice),
            timestamp,
            headers: Vec::new(),
        };
        self.collector
            .send(record)
            .map_err(|e| StoreError::Storage {
                store: store.to_owned(),
                reason: format!("changelog write failed: {e}"),
            })
    }
}

/// Wraps `store` so its writes go to its changelog, if the store is logged.
pub(crate) fn with_logging(
    store: OpenStore,
    def: &StoreDef,
    context: &ChangelogContext,
) -> OpenStore {
    if !def.logging {
        return store;
    }
    let c = context.clone();
    match store {
        OpenStore::KeyValue(s) => match unwrap_shared(s) {
            Ok(inner) => shared_kv(ChangeLoggingKeyValueStore::new(inner, c)),
            Err(s) => OpenStore::KeyValue(s),
        },
        OpenStore::Window(s) => match unwrap_shared(s) {
            Ok(inner) => shared_window(ChangeLoggingWindowStore::new(inner, c)),
            Err(s) => OpenStore::Window(s),
        },
        OpenStore::Session(s) => match unwrap_shared(s) {
            Ok(inner) => shared_session(ChangeLoggingSessionStore::new(inner, c)),
            Err(s) => OpenStore::Session(s),
        },
    }
}

/// The store inside a freshly opened shared store (nothing else holds it yet).
fn unwrap_shared<T: ?Sized>(
    s: Arc<Mutex<Box<T>>>,
) -> std::result::Result<Box<T>, Arc<Mutex<Box<T>>>> {
    Arc::try_unwrap(s).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
}
