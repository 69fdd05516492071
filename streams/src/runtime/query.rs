//! Interactive queries (Kafka Streams' IQ): read-only views of a running application's
//! local stores, and the metadata that says which instance holds which key.
//!
//! # Local stores
//!
//! [`KafkaStreams::store`] (and [`timestamped_key_value_store`](KafkaStreams::timestamped_key_value_store),
//! [`window_store`](KafkaStreams::window_store), [`session_store`](KafkaStreams::session_store))
//! returns a view over every store of that name that this instance has now: one per local
//! task of the store's sub-topology (one per input partition), or the one global store. A
//! view is a name and a set of [`StoreQueryParameters`], not a set of stores: every call
//! looks the stores up again, so a view stays valid across rebalances and never holds a
//! store (or its lock) between calls. Each call locks each store only for the call's
//! read; a scan collects its entries into a `Vec` first.
//!
//! A call fails with [`StreamsError::State`] (Kafka's `InvalidStateStoreException`) when
//! the client is not `RUNNING` (with [stale stores](StoreQueryParameters::enable_stale_stores)
//! also `REBALANCING`, which includes the stores of tasks still restoring), when a
//! [partition](StoreQueryParameters::with_partition) was asked for that this instance does
//! not host, or when a store was closed under the call because its task is migrating;
//! these are all worth a retry after looking the key's host up again. A store name the
//! topology does not know, a store of another kind, or other key or value types fail when
//! the view is made.
//!
//! Scans over several partitions are merged in the order of the serialized keys (what one
//! store's scan returns), window scans by window start, then key. A timestamped store (a
//! `KTable`'s) is queried as a plain key-value store, its values without their
//! timestamps, or with them through
//! [`timestamped_key_value_store`](KafkaStreams::timestamped_key_value_store).
//!
//! Queries read the stores: the DSL's table caches (`statestore.cache.max.bytes`) reach the
//! stores when their task commits, so a query may be up to `commit.interval.ms` behind what
//! the task processed (Kafka Streams reads through its caches).
//!
//! # Metadata
//!
//! Every member of the group carries its instance's `application.server` (`host:port`) in
//! its subscription; the leader's assignment tells every member the whole map of host to
//! tasks and source partitions, and the partition count of every source topic. From it
//! [`KafkaStreams::query_metadata_for_key`] finds the partition of a key (murmur2 of the
//! serialized key over the partition count of the store's source topic, as the default
//! partitioner places records) and the host whose task holds that partition;
//! [`KafkaStreams::stream_clients_metadata`] and
//! [`KafkaStreams::streams_metadata_for_store`] list the hosts with their stores and
//! partitions. Instances without `application.server` are not in the map. The map is the
//! one of the last assignment: during a rebalance it may be out of date, and before the
//! first one it is empty ([`KeyQueryMetadata::is_available`] says so).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use brook_client::producer::partitioner::partition_for_key;
use brook_client::TopicPartition;
use brook_state::{SessionWindow, StoreError, ValueAndTimestamp};

use super::assignor::AssignmentInfo;
use super::{lock, KafkaStreams, Shared, StreamsState};
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::record::Data;
use crate::serde::SerdeRef;
use crate::store::{self, KvStore, OpenStore, SessStore, StoreDef, StoreKind, WinStore};
use crate::task::Task;
use crate::topology::Topology;
use crate::TaskId;

// ---------------------------------------------------------------------------------------
// Parameters and metadata types

/// Which local stores a query reads (Kafka Streams' `StoreQueryParameters`): every local
/// store of a name by default, or the one of a partition, and only those of running tasks
/// unless stale stores are enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreQueryParameters {
    store_name: String,
    partition: Option<i32>,
    stale_stores: bool,
}

impl StoreQueryParameters {
    /// Every local store named `store_name`, of running tasks only.
    pub fn from_name(store_name: &str) -> StoreQueryParameters {
        StoreQueryParameters {
            store_name: store_name.to_owned(),
            partition: None,
            stale_stores: false,
        }
    }

    /// Only the store of input partition `partition` (ignored for a global store); a
    /// query fails if this instance does not host it.
    pub fn with_partition(mut self, partition: i32) -> StoreQueryParameters {
        self.partition = Some(partition);
        self
    }

    /// Also the stores of tasks still restoring, and queries while the client is
    /// `REBALANCING` (what Kafka Streams calls stale stores; standby tasks would be
    /// included too, but Brook has none yet).
    pub fn enable_stale_stores(mut self) -> StoreQueryParameters {
        self.stale_stores = true;
        self
    }

    /// The store's name.
    pub fn store_name(&self) -> &str {
        &self.store_name
    }

    /// The partition asked for, if one was.
    pub fn partition(&self) -> Option<i32> {
        self.partition
    }

    /// Whether stale stores are enabled.
    pub fn stale_stores_enabled(&self) -> bool {
        self.stale_stores
    }
}

/// An instance's `application.server`: where its interactive-query endpoint listens
/// (Kafka Streams' `HostInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostInfo {
    /// Host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The host of [`HostInfo::unavailable`].
const UNAVAILABLE: &str = "unavailable";

impl HostInfo {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> HostInfo {
        HostInfo {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port` (`[v6-address]:port` for IPv6), as `application.server` holds it.
    pub fn parse(s: &str) -> Result<HostInfo> {
        let bad = |why: &str| {
            StreamsError::Config(format!(
                "application.server {s:?}: {why} (expected host:port)"
            ))
        };
        let (host, port) = s.trim().rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.contains(':') && !s.trim().starts_with('[') {
            return Err(bad("an IPv6 address needs brackets"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
        Ok(HostInfo::new(host, port))
    }

    /// The host of metadata that is not known (Kafka Streams' `HostInfo.unavailable()`:
    /// `unavailable:0` here, as ports are unsigned).
    pub fn unavailable() -> HostInfo {
        HostInfo::new(UNAVAILABLE, 0)
    }

    /// False for [`HostInfo::unavailable`].
    pub fn is_available(&self) -> bool {
        !(self.host == UNAVAILABLE && self.port == 0)
    }
}

impl fmt::Display for HostInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where a key of a store lives (Kafka Streams' `KeyQueryMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQueryMetadata {
    /// The instance whose active task holds the key ([`HostInfo::unavailable`] if no
    /// instance with an `application.server` does, or the map is not known yet).
    pub active_host: HostInfo,
    /// Instances with a standby copy (always empty: Brook has no standby tasks yet).
    pub standby_hosts: Vec<HostInfo>,
    /// The input partition (and task) the key belongs to; -1 for a global store or when
    /// not known.
    pub partition: i32,
}

impl KeyQueryMetadata {
    /// Nothing known yet (Kafka Streams' `KeyQueryMetadata.NOT_AVAILABLE`).
    pub fn not_available() -> KeyQueryMetadata {
        KeyQueryMetadata {
            active_host: HostInfo::unavailable(),
            standby_hosts: Vec::new(),
            partition: -1,
        }
    }

    /// Whether the active host is known.
    pub fn is_available(&self) -> bool {
        self.active_host.is_available()
    }
}

/// One instance of the application as the last assignment describes it (Kafka Streams'
/// `StreamsMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsMetadata {
    /// Its `application.server`.
    pub host_info: HostInfo,
    /// The stores of its tasks, and every global store.
    pub state_store_names: BTreeSet<String>,
    /// The source partitions of its tasks.
    pub topic_partitions: BTreeSet<TopicPartition>,
}

/// What one host runs, as the assignment's user data carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostTasks {
    /// The tasks of its members.
    pub tasks: BTreeSet<TaskId>,
    /// Their source partitions.
    pub partitions: BTreeSet<TopicPartition>,
}

/// Checks `application.server` (a `host:port`), when set.
pub(crate) fn validate_config(config: &StreamsConfig) -> Result<()> {
    if let Some(s) = &config.application_server {
        HostInfo::parse(s)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The registry of local stores

/// What a byte store's call returns.
type StoreResult<T> = std::result::Result<T, StoreError>;

/// A store a task owns, not kept alive by the registry: once its task is dropped it is
/// gone, whatever path the task took out.
#[derive(Clone)]
enum WeakStore {
    KeyValue(Weak<Mutex<Box<dyn KvStore>>>),
    Window(Weak<Mutex<Box<dyn WinStore>>>),
    Session(Weak<Mutex<Box<dyn SessStore>>>),
}

impl WeakStore {
    fn of(s: &OpenStore) -> WeakStore {
        match s {
            OpenStore::KeyValue(s) => WeakStore::KeyValue(Arc::downgrade(s)),
            OpenStore::Window(s) => WeakStore::Window(Arc::downgrade(s)),
            OpenStore::Session(s) => WeakStore::Session(Arc::downgrade(s)),
        }
    }

    fn upgrade(&self) -> Option<OpenStore> {
        Some(match self {
            WeakStore::KeyValue(w) => OpenStore::KeyValue(w.upgrade()?),
            WeakStore::Window(w) => OpenStore::Window(w.upgrade()?),
            WeakStore::Session(w) => OpenStore::Session(w.upgrade()?),
        })
    }

    fn alive(&self) -> bool {
        match self {
            WeakStore::KeyValue(w) => w.strong_count() > 0,
            WeakStore::Window(w) => w.strong_count() > 0,
            WeakStore::Session(w) => w.strong_count() > 0,
        }
    }
}

/// A registered task's stores, by name.
struct Registered {
    stores: BTreeMap<String, (WeakStore, Arc<StoreDef>)>,
    /// Still restoring (queried only with stale stores enabled).
    restoring: bool,
}

/// Where a store's records come from.
#[derive(Debug, Clone)]
enum Source {
    /// A store of sub-topology `sub`, whose (resolved) source topics are `topics`.
    Task { sub: u32, topics: Vec<String> },
    /// A global store.
    Global,
}

/// The topology's stores as queries see them.
struct StoreSources {
    by_store: BTreeMap<String, Source>,
    stores_of_sub: BTreeMap<u32, BTreeSet<String>>,
    global: BTreeSet<String>,
}

impl StoreSources {
    fn new(topology: &Topology, app: &str) -> StoreSources {
        let mut by_store = BTreeMap::new();
        let mut stores_of_sub: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for sub in topology.sub_topologies() {
            let topics: Vec<String> = sub
                .source_topics
                .iter()
                .map(|t| topology.resolve_topic(t, app))
                .collect();
            for s in &sub.stores {
                by_store.insert(
                    s.clone(),
                    Source::Task {
                        sub: sub.id,
                        topics: topics.clone(),
                    },
                );
                stores_of_sub.entry(sub.id).or_default().insert(s.clone());
            }
        }
        let global: BTreeSet<String> = topology.global_stores().keys().cloned().collect();
        for g in &global {
            by_store.insert(g.clone(), Source::Global);
        }
        StoreSources {
            by_store,
            stores_of_sub,
            global,
        }
    }

    /// The stores of `tasks`, and every global store.
    fn store_names(&self, tasks: &BTreeSet<TaskId>) -> BTreeSet<String> {
        let mut out = self.global.clone();
        for t in tasks {
            if let Some(s) = self.stores_of_sub.get(&t.subtopology) {
                out.extend(s.iter().cloned());
            }
        }
        out
    }
}

/// The open stores of every local task (the stream threads' and the global one) and the
/// group's last assignment, for interactive queries (and
/// [`KafkaStreams::store_key_value`]). It holds no store alive: a task that is dropped
/// leaves it, however it ended.
#[derive(Default)]
pub(crate) struct TaskRegistry {
    tasks: Mutex<BTreeMap<TaskId, Registered>>,
    /// The generation and the decoded user data of the newest assignment.
    assignment: Mutex<Option<(i32, Arc<AssignmentInfo>)>>,
    sources: OnceLock<StoreSources>,
}

impl fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("tasks", &lock(&self.tasks).keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A store found for a query.
struct Located {
    task: TaskId,
    store: OpenStore,
    def: Arc<StoreDef>,
}

impl TaskRegistry {
    fn put(&self, task: &Task, restoring: bool) {
        let stores = task
            .stores()
            .map(|(name, (s, d))| (name.clone(), (WeakStore::of(s), d.clone())))
            .collect();
        lock(&self.tasks).insert(task.id(), Registered { stores, restoring });
    }

    /// Lists `task`'s stores as those of a running (restored) task.
    pub fn register(&self, task: &Task) {
        self.put(task, false);
    }

    /// Lists `task`'s stores as restoring (queried only with stale stores enabled).
    pub fn register_restoring(&self, task: &Task) {
        self.put(task, true);
    }

    /// Forgets `task` (closed or moved).
    pub fn remove(&self, task: TaskId) {
        lock(&self.tasks).remove(&task);
    }

    /// Notes an assignment's user data; one of an older generation than the newest seen
    /// is ignored (each local thread gets the same map).
    pub fn set_assignment(&self, generation: i32, info: AssignmentInfo) {
        let mut a = lock(&self.assignment);
        if a.as_ref().is_none_or(|(g, _)| *g <= generation) {
            *a = Some((generation, Arc::new(info)));
        }
    }

    fn assignment(&self) -> Option<Arc<AssignmentInfo>> {
        lock(&self.assignment).as_ref().map(|(_, a)| a.clone())
    }

    #[cfg(test)]
    pub(crate) fn assignment_for_tests(&self) -> Option<Arc<AssignmentInfo>> {
        self.assignment()
    }

    fn sources(&self, shared: &Shared) -> &StoreSources {
        self.sources
            .get_or_init(|| StoreSources::new(&shared.topology, &shared.config.application_id))
    }

    /// The open stores named `name`: of partition `partition` only if given (ignored for
    /// a global store), of restoring tasks too if `stale`. Returns them by task, and how
    /// many were left out because their task restores.
    fn locate(
        &self,
        name: &str,
        partition: Option<i32>,
        stale: bool,
        global: bool,
    ) -> (Vec<Located>, usize) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|_, r| r.stores.values().all(|(w, _)| w.alive()));
        let mut found = Vec::new();
        let mut restoring = 0;
        for (&id, r) in tasks.iter() {
            let Some((w, def)) = r.stores.get(name) else {
                continue;
            };
            if !global && partition.is_some_and(|p| p != id.partition) {
                continue;
            }
            if r.restoring && !stale {
                restoring += 1;
                continue;
            }
            if let Some(store) = w.upgrade() {
                found.push(Located {
                    task: id,
                    store,
                    def: def.clone(),
                });
            }
        }
        (found, restoring)
    }

    /// Every entry of the key-value store `name` over the running local tasks, global
    /// stores included (the timestamps of a timestamped store are dropped), whatever the
    /// client's state.
    pub fn key_values<K: Data, V: Data>(&self, name: &str) -> Result<Vec<(K, V)>> {
        let (found, _) = self.locate(name, None, false, true);
        let mut out = Vec::new();
        for l in found {
            let OpenStore::KeyValue(s) = &l.store else {
                return Err(StreamsError::State(format!(
                    "{name} is not a key-value store"
                )));
            };
            let (keys, values) = l.def.serdes::<K, V>()?;
            let raw = store::lock(s)
                .all()?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let codec = Codec {
                store: name.to_owned(),
                topic: l.def.changelog_topic(""),
            };
            let timestamped = matches!(l.def.kind(), StoreKind::KeyValue { timestamped: true });
            for (k, v) in raw {
                let v = if timestamped {
                    ValueAndTimestamp::decode(name, &v)?.value
                } else {
                    v
                };
                out.push((codec.de(&keys, "key", &k)?, codec.de(&values, "value", &v)?));
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Views

/// Serializes and deserializes a store's keys and values (with the store's changelog
/// topic as the serde topic, as its processors do).
#[derive(Debug, Clone)]
struct Codec {
    store: String,
    topic: String,
}

impl Codec {
    fn ser<T: 'static>(&self, serde: &SerdeRef<T>, what: &str, v: &T) -> Result<Vec<u8>> {
        match serde.serialize(&self.topic, v) {
            Ok(Some(b)) => Ok(b.to_vec()),
            Ok(None) => Err(StreamsError::State(format!(
                "store {}: the {what} serializes to null, which no store holds",
                self.store
            ))),
            Err(source) => Err(StreamsError::Serde {
                what: format!("query {what}"),
                node: self.store.clone(),
                source,
            }),
        }
    }

    fn de<T: 'static>(&self, serde: &SerdeRef<T>, what: &str, b: &[u8]) -> Result<T> {
        serde
            .deserialize(&self.topic, Some(b))
            .map_err(|source| StreamsError::Serde {
                what: format!("store {what}"),
                node: self.store.clone(),
                source,
            })
    }
}

/// The kind of view asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    KeyValue,
    TimestampedKeyValue,
    Window,
    Session,
}

/// Why `what` cannot be done in `state`, if it cannot: the client must be started and not
/// closed (`RUNNING` or `REBALANCING`).
fn check_started(state: StreamsState, what: &str) -> Result<()> {
    let why = match state {
        StreamsState::Running | StreamsState::Rebalancing => return Ok(()),
        StreamsState::Created => "the client has not been started",
        StreamsState::PendingShutdown | StreamsState::NotRunning => "the client is closed",
        StreamsState::PendingError | StreamsState::Error => "the client failed",
    };
    Err(StreamsError::State(format!(
        "cannot {what}: {why} (it is {state})"
    )))
}

/// What every view shares: the client, its parameters and the store.
#[derive(Clone)]
struct Querier {
    shared: Arc<Shared>,
    params: StoreQueryParameters,
    global: bool,
    codec: Codec,
}

impl Querier {
    /// Checks that the client is started, the store exists and is of the kind wanted.
    fn new(
        streams: &KafkaStreams,
        params: StoreQueryParameters,
        want: Want,
    ) -> Result<(Querier, Arc<StoreDef>)> {
        let shared = streams.shared.clone();
        let name = params.store_name.clone();
        check_started(shared.state(), &format!("query store {name}"))?;
        let Some(def) = shared.topology.stores.get(&name).cloned() else {
            return Err(unknown_store(&shared, &name));
        };
        let fits = match (want, def.kind()) {
            (Want::KeyValue, StoreKind::KeyValue { .. }) => true,
            (Want::TimestampedKeyValue, StoreKind::KeyValue { timestamped }) => *timestamped,
            (Want::Window, StoreKind::Window { .. }) => true,
            (Want::Session, StoreKind::Session { .. }) => true,
            _ => false,
        };
        if !fits {
            let is = match def.kind() {
                StoreKind::KeyValue { timestamped: true } => "a timestamped key-value store",
                StoreKind::KeyValue { timestamped: false } => {
                    "a key-value store without timestamps"
                }
                StoreKind::Window { .. } => "a window store",
                StoreKind::Session { .. } => "a session store",
            };
            let wanted = match want {
                Want::KeyValue => "a key-value store",
                Want::TimestampedKeyValue => "a timestamped key-value store",
                Want::Window => "a window store",
                Want::Session => "a session store",
            };
            return Err(StreamsError::State(format!(
                "store {name} is {is}, not {wanted}"
            )));
        }
        let global = matches!(
            shared.registry.sources(&shared).by_store.get(&name),
            Some(Source::Global)
        );
        let codec = Codec {
            store: name,
            topic: def.changelog_topic(&shared.config.application_id),
        };
        Ok((
            Querier {
                shared,
                params,
                global,
                codec,
            },
            def,
        ))
    }

    fn name(&self) -> &str {
        &self.params.store_name
    }

    fn debug(&self, f: &mut fmt::Formatter<'_>, view: &str) -> fmt::Result {
        f.debug_struct(view)
            .field("params", &self.params)
            .field("global", &self.global)
            .finish_non_exhaustive()
    }

    /// The stores to read now.
    fn stores(&self) -> Result<Vec<Located>> {
        let name = self.name();
        let stale = self.params.stale_stores;
        let state = self.shared.state();
        check_started(state, &format!("query store {name}"))?;
        if state == StreamsState::Rebalancing && !stale {
            return Err(StreamsError::State(format!(
                "store {name} cannot be queried while the client is REBALANCING (its tasks \
                 are being assigned or restored): retry once it is RUNNING, or enable stale \
                 stores"
            )));
        }
        let (found, restoring) =
            self.shared
                .registry
                .locate(name, self.params.partition, stale, self.global);
        if found.is_empty() && !self.global {
            if let Some(p) = self.params.partition {
                let why = if restoring > 0 {
                    "is still restoring here (enable stale stores to read it anyway)"
                } else {
                    "is not hosted by this instance (query_metadata_for_key says which is)"
                };
                return Err(StreamsError::State(format!(
                    "partition {p} of store {name} {why}"
                )));
            }
        }
        Ok(found)
    }

    /// A store error of `l` as a query error: a closed store is migrating.
    fn fail(&self, l: &Located, e: StoreError) -> StreamsError {
        match e {
            StoreError::Closed(_) => StreamsError::State(format!(
                "store {} of task {} was closed during the query: it is migrating to another \
                 thread or instance; retry (after query_metadata_for_key, as its host may \
                 have changed)",
                self.name(),
                l.task
            )),
            e => StreamsError::Store(e),
        }
    }

    fn wrong_kind(&self, l: &Located) -> StreamsError {
        StreamsError::State(format!(
            "store {} of task {} is not of the kind its definition says",
            self.name(),
            l.task
        ))
    }

    /// `f` over each key-value store, collecting what it returns.
    fn each_kv<T>(
        &self,
        mut f: impl FnMut(&dyn KvStore) -> std::result::Result<T, StoreError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for l in self.stores()? {
            let OpenStore::KeyValue(s) = &l.store else {
                return Err(self.wrong_kind(&l));
            };
            let r = f(&**store::lock(s));
            out.push(r.map_err(|e| self.fail(&l, e))?);
        }
        Ok(out)
    }

    fn each_window<T>(
        &self,
        mut f: impl FnMut(&dyn WinStore) -> std::result::Result<T, StoreError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for l in self.stores()? {
            let OpenStore::Window(s) = &l.store else {
                return Err(self.wrong_kind(&l));
            };
            let r = f(&**store::lock(s));
            out.push(r.map_err(|e| self.fail(&l, e))?);
        }
        Ok(out)
    }

    fn each_session<T>(
        &self,
        mut f: impl FnMut(&dyn SessStore) -> std::result::Result<T, StoreError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for l in self.stores()? {
            let OpenStore::Session(s) = &l.store else {
                return Err(self.wrong_kind(&l));
            };
            let r = f(&**store::lock(s));
            out.push(r.map_err(|e| self.fail(&l, e))?);
        }
        Ok(out)
    }

    /// The first value of `key` in any store.
    fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        for l in self.stores()? {
            let OpenStore::KeyValue(s) = &l.store else {
                return Err(self.wrong_kind(&l));
            };
            let r = store::lock(s).get(key);
            if let Some(v) = r.map_err(|e| self.fail(&l, e))? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The entries within the bounds over every store, by key bytes (descending with
    /// `reverse`).
    fn kv_range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if let (Bound::Included(f), Bound::Included(t)) = (from, to) {
            if f > t {
                // Kafka Streams: an inverted range is empty.
                return Ok(Vec::new());
            }
        }
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = self
            .each_kv(|s| s.range(from, to, false)?.collect::<StoreResult<Vec<_>>>())?
            .into_iter()
            .flatten()
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        if reverse {
            all.reverse();
        }
        Ok(all)
    }

    fn kv_count(&self) -> Result<u64> {
        Ok(self
            .each_kv(|s| s.approximate_num_entries())?
            .into_iter()
            .fold(0u64, u64::saturating_add))
    }
}

/// A read-only view of a key-value store over every local task that has it (Kafka
/// Streams' `ReadOnlyKeyValueStore`, from [`KafkaStreams::store`]). A timestamped store
/// is read without its timestamps. Each call looks the stores up again: see the
/// [module docs](self).
pub struct ReadOnlyKeyValueStore<K, V> {
    q: Querier,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
    timestamped: bool,
}

impl<K, V> Clone for ReadOnlyKeyValueStore<K, V> {
    fn clone(&self) -> Self {
        ReadOnlyKeyValueStore {
            q: self.q.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
            timestamped: self.timestamped,
        }
    }
}

impl<K, V> fmt::Debug for ReadOnlyKeyValueStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.q.debug(f, "ReadOnlyKeyValueStore")
    }
}

impl<K: Data, V: Data> ReadOnlyKeyValueStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        self.q.name()
    }

    fn value(&self, b: &[u8]) -> Result<V> {
        if self.timestamped {
            let vt = ValueAndTimestamp::decode(self.name(), b)?;
            self.q.codec.de(&self.values, "value", &vt.value)
        } else {
            self.q.codec.de(&self.values, "value", b)
        }
    }

    fn pairs(&self, raw: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<(K, V)>> {
        raw.into_iter()
            .map(|(k, v)| Ok((self.q.codec.de(&self.keys, "key", &k)?, self.value(&v)?)))
            .collect()
    }

    /// The value of `key`, from whichever local store has it.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let k = self.q.codec.ser(&self.keys, "key", key)?;
        self.q.kv_get(&k)?.map(|v| self.value(&v)).transpose()
    }

    /// The entries from `from` to `to` (both included) over every local store, in the
    /// order of the serialized keys; empty if `from` is after `to`.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let (f, t) = (
            self.q.codec.ser(&self.keys, "key", from)?,
            self.q.codec.ser(&self.keys, "key", to)?,
        );
        let raw = self
            .q
            .kv_range(Bound::Included(&f), Bound::Included(&t), false)?;
        self.pairs(raw)
    }

    /// [`range`](Self::range), last key first.
    pub fn reverse_range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let (f, t) = (
            self.q.codec.ser(&self.keys, "key", from)?,
            self.q.codec.ser(&self.keys, "key", to)?,
        );
        let raw = self
            .q
            .kv_range(Bound::Included(&f), Bound::Included(&t), true)?;
        self.pairs(raw)
    }

    /// Every entry of every local store, in the order of the serialized keys.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        let raw = self.q.kv_range(Bound::Unbounded, Bound::Unbounded, false)?;
        self.pairs(raw)
    }

    /// [`all`](Self::all), last key first.
    pub fn reverse_all(&self) -> Result<Vec<(K, V)>> {
        let raw = self.q.kv_range(Bound::Unbounded, Bound::Unbounded, true)?;
        self.pairs(raw)
    }

    /// About how many entries the local stores hold together.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.q.kv_count()
    }
}

/// A read-only view of a timestamped key-value store (a `KTable`'s) whose values come with
/// the timestamp of the record that set them (Kafka Streams'
/// `ReadOnlyKeyValueStore<K, ValueAndTimestamp<V>>`, from
/// [`KafkaStreams::timestamped_key_value_store`]).
pub struct ReadOnlyTimestampedKeyValueStore<K, V> {
    q: Querier,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
}

impl<K, V> Clone for ReadOnlyTimestampedKeyValueStore<K, V> {
    fn clone(&self) -> Self {
        ReadOnlyTimestampedKeyValueStore {
            q: self.q.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}

impl<K, V> fmt::Debug for ReadOnlyTimestampedKeyValueStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.q.debug(f, "ReadOnlyTimestampedKeyValueStore")
    }
}

impl<K: Data, V: Data> ReadOnlyTimestampedKeyValueStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        self.q.name()
    }

    fn value(&self, b: &[u8]) -> Result<(V, i64)> {
        let vt = ValueAndTimestamp::decode(self.name(), b)?;
        Ok((
            self.q.codec.de(&self.values, "value", &vt.value)?,
            vt.timestamp,
        ))
    }

    fn triples(&self, raw: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<(K, V, i64)>> {
        raw.into_iter()
            .map(|(k, v)| {
                let (v, ts) = self.value(&v)?;
                Ok((self.q.codec.de(&self.keys, "key", &k)?, v, ts))
            })
            .collect()
    }

    /// The value of `key` and its timestamp.
    pub fn get(&self, key: &K) -> Result<Option<(V, i64)>> {
        let k = self.q.codec.ser(&self.keys, "key", key)?;
        self.q.kv_get(&k)?.map(|v| self.value(&v)).transpose()
    }

    /// The entries from `from` to `to` (both included) with their timestamps, in the
    /// order of the serialized keys.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V, i64)>> {
        let (f, t) = (
            self.q.codec.ser(&self.keys, "key", from)?,
            self.q.codec.ser(&self.keys, "key", to)?,
        );
        let raw = self
            .q
            .kv_range(Bound::Included(&f), Bound::Included(&t), false)?;
        self.triples(raw)
    }

    /// Every entry with its timestamp, in the order of the serialized keys.
    pub fn all(&self) -> Result<Vec<(K, V, i64)>> {
        let raw = self.q.kv_range(Bound::Unbounded, Bound::Unbounded, false)?;
        self.triples(raw)
    }

    /// About how many entries the local stores hold together.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.q.kv_count()
    }
}

/// A read-only view of a window store over every local task that has it (Kafka Streams'
/// `ReadOnlyWindowStore`, from [`KafkaStreams::window_store`]). Windows are named by
/// their start time (ms); windows older than the store's retention are gone.
pub struct ReadOnlyWindowStore<K, V> {
    q: Querier,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
}

impl<K, V> Clone for ReadOnlyWindowStore<K, V> {
    fn clone(&self) -> Self {
        ReadOnlyWindowStore {
            q: self.q.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}

impl<K, V> fmt::Debug for ReadOnlyWindowStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.q.debug(f, "ReadOnlyWindowStore")
    }
}

impl<K: Data, V: Data> ReadOnlyWindowStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        self.q.name()
    }

    fn key(&self, k: &K) -> Result<Vec<u8>> {
        self.q.codec.ser(&self.keys, "key", k)
    }

    fn triples(&self, mut raw: Vec<brook_state::WindowedEntry>) -> Result<Vec<(K, i64, V)>> {
        raw.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        raw.into_iter()
            .map(|e| {
                Ok((
                    self.q.codec.de(&self.keys, "key", &e.key)?,
                    e.start,
                    self.q.codec.de(&self.values, "value", &e.value)?,
                ))
            })
            .collect()
    }

    /// The value of `key`'s window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        let k = self.key(key)?;
        let found = self.q.each_window(|s| s.fetch(&k, window_start))?;
        found
            .into_iter()
            .flatten()
            .next()
            .map(|v| self.q.codec.de(&self.values, "value", &v))
            .transpose()
    }

    /// `key`'s windows starting within `time_from..=time_to`, by start; empty if the range
    /// is inverted.
    pub fn fetch_range(&self, key: &K, time_from: i64, time_to: i64) -> Result<Vec<(i64, V)>> {
        Ok(self
            .fetch_range_timestamped(key, time_from, time_to)?
            .into_iter()
            .map(|(start, v, _)| (start, v))
            .collect())
    }

    /// The windows of the keys from `key_from` to `key_to` (both included, by serialized
    /// key) starting within `time_from..=time_to`, by start, then key.
    pub fn fetch_key_range(
        &self,
        key_from: &K,
        key_to: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(K, i64, V)>> {
        let (f, t) = (self.key(key_from)?, self.key(key_to)?);
        if f > t || time_from > time_to {
            return Ok(Vec::new());
        }
        let raw = self
            .q
            .each_window(|s| {
                s.fetch_range(Bound::Included(&f), Bound::Included(&t), time_from, time_to)?
                    .collect::<StoreResult<Vec<_>>>()
            })?
            .into_iter()
            .flatten()
            .collect();
        self.triples(raw)
    }

    /// Every window starting within `time_from..=time_to`, by start, then key.
    pub fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<Vec<(K, i64, V)>> {
        Ok(self
            .fetch_all_timestamped(time_from, time_to)?
            .into_iter()
            .map(|(k, start, v, _)| (k, start, v))
            .collect())
    }

    /// Every live window, by start, then key.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        self.fetch_all(i64::MIN, i64::MAX)
    }

    /// As [`fetch_range`](Self::fetch_range), with each window's timestamp: the latest
    /// record's, which a windowed aggregation's store keeps before the value (`-1` when a
    /// value is too short to hold one).
    pub fn fetch_range_timestamped(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(i64, V, i64)>> {
        if time_from > time_to {
            return Ok(Vec::new());
        }
        let k = self.key(key)?;
        let mut raw: Vec<brook_state::WindowedEntry> = self
            .q
            .each_window(|s| {
                s.fetch_key_range(&k, time_from, time_to, false)?
                    .collect::<StoreResult<Vec<_>>>()
            })?
            .into_iter()
            .flatten()
            .collect();
        raw.sort_by_key(|e| e.start);
        raw.into_iter()
            .map(|e| {
                Ok((
                    e.start,
                    self.q.codec.de(&self.values, "value", &e.value)?,
                    crate::store::window_timestamp(&e.value),
                ))
            })
            .collect()
    }

    /// As [`fetch_all`](Self::fetch_all), with each window's timestamp (see
    /// [`fetch_range_timestamped`](Self::fetch_range_timestamped)).
    pub fn fetch_all_timestamped(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(K, i64, V, i64)>> {
        if time_from > time_to {
            return Ok(Vec::new());
        }
        let mut raw: Vec<brook_state::WindowedEntry> = self
            .q
            .each_window(|s| {
                s.fetch_all(time_from, time_to)?
                    .collect::<StoreResult<Vec<_>>>()
            })?
            .into_iter()
            .flatten()
            .collect();
        raw.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        raw.into_iter()
            .map(|e| {
                Ok((
                    self.q.codec.de(&self.keys, "key", &e.key)?,
                    e.start,
                    self.q.codec.de(&self.values, "value", &e.value)?,
                    crate::store::window_timestamp(&e.value),
                ))
            })
            .collect()
    }
}

/// A read-only view of a session store over every local task that has it (Kafka Streams'
/// `ReadOnlySessionStore`, from [`KafkaStreams::session_store`]).
pub struct ReadOnlySessionStore<K, V> {
    q: Querier,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
}

impl<K, V> Clone for ReadOnlySessionStore<K, V> {
    fn clone(&self) -> Self {
        ReadOnlySessionStore {
            q: self.q.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}

impl<K, V> fmt::Debug for ReadOnlySessionStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.q.debug(f, "ReadOnlySessionStore")
    }
}

impl<K: Data, V: Data> ReadOnlySessionStore<K, V> {
    /// The store's name.
    pub fn name(&self) -> &str {
        self.q.name()
    }

    fn key(&self, k: &K) -> Result<Vec<u8>> {
        self.q.codec.ser(&self.keys, "key", k)
    }

    fn sessions(&self, mut raw: Vec<brook_state::SessionEntry>) -> Result<Vec<(SessionWindow, V)>> {
        raw.sort_by_key(|e| (e.window.end, e.window.start));
        raw.into_iter()
            .map(|e| Ok((e.window, self.q.codec.de(&self.values, "value", &e.value)?)))
            .collect()
    }

    /// Every live session of `key`, by end, then start.
    pub fn fetch(&self, key: &K) -> Result<Vec<(SessionWindow, V)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }

    /// `key`'s sessions that end at or after `earliest_end` and start at or before
    /// `latest_start`, by end, then start.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(SessionWindow, V)>> {
        let k = self.key(key)?;
        let raw = self
            .q
            .each_session(|s| {
                s.find_key_sessions(&k, earliest_end, latest_start)?
                    .collect::<StoreResult<Vec<_>>>()
            })?
            .into_iter()
            .flatten()
            .collect();
        self.sessions(raw)
    }

    /// The value of `key`'s session `window`.
    pub fn fetch_session(&self, key: &K, window: SessionWindow) -> Result<Option<V>> {
        let k = self.key(key)?;
        let found = self.q.each_session(|s| s.fetch_session(&k, window))?;
        found
            .into_iter()
            .flatten()
            .next()
            .map(|v| self.q.codec.de(&self.values, "value", &v))
            .transpose()
    }

    /// Every live session of the keys from `key_from` to `key_to` (both included, by
    /// serialized key), by key, then end, then start.
    pub fn fetch_range(&self, key_from: &K, key_to: &K) -> Result<Vec<(K, SessionWindow, V)>> {
        let (f, t) = (self.key(key_from)?, self.key(key_to)?);
        if f > t {
            return Ok(Vec::new());
        }
        let mut raw: Vec<brook_state::SessionEntry> = self
            .q
            .each_session(|s| {
                s.find_sessions(Bound::Included(&f), Bound::Included(&t), i64::MIN, i64::MAX)?
                    .collect::<StoreResult<Vec<_>>>()
            })?
            .into_iter()
            .flatten()
            .collect();
        raw.sort_by(|a, b| {
            (&a.key, a.window.end, a.window.start).cmp(&(&b.key, b.window.end, b.window.start))
        });
        raw.into_iter()
            .map(|e| {
                Ok((
                    self.q.codec.de(&self.keys, "key", &e.key)?,
                    e.window,
                    self.q.codec.de(&self.values, "value", &e.value)?,
                ))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The client's query API

impl KafkaStreams {
    /// A read-only view of the key-value store (plain or timestamped) named in `params`
    /// over this instance's tasks and global stores (Kafka Streams' `store()` with
    /// `QueryableStoreTypes.keyValueStore()`). Fails if the client is not started or is
    /// closed, if the topology has no such store, if it is not a key-value store, or if
    /// `K` and `V` are not its types; each call on the view checks the client's state
    /// and finds the stores again (see the [module docs](self)).
    pub fn store<K: Data, V: Data>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlyKeyValueStore<K, V>> {
        let (q, def) = Querier::new(self, params, Want::KeyValue)?;
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(ReadOnlyKeyValueStore {
            q,
            keys,
            values,
            timestamped: matches!(def.kind(), StoreKind::KeyValue { timestamped: true }),
        })
    }

    /// A read-only view of the timestamped key-value store (a `KTable`'s) named in
    /// `params`, values with their timestamps (Kafka Streams'
    /// `QueryableStoreTypes.timestampedKeyValueStore()`); as [`store`](Self::store)
    /// otherwise.
    pub fn timestamped_key_value_store<K: Data, V: Data>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlyTimestampedKeyValueStore<K, V>> {
        let (q, def) = Querier::new(self, params, Want::TimestampedKeyValue)?;
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(ReadOnlyTimestampedKeyValueStore { q, keys, values })
    }

    /// A read-only view of the window store named in `params` (Kafka Streams'
    /// `QueryableStoreTypes.windowStore()`); as [`store`](Self::store) otherwise.
    pub fn window_store<K: Data, V: Data>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlyWindowStore<K, V>> {
        let (q, def) = Querier::new(self, params, Want::Window)?;
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(ReadOnlyWindowStore { q, keys, values })
    }

    /// A read-only view of the session store named in `params` (Kafka Streams'
    /// `QueryableStoreTypes.sessionStore()`); as [`store`](Self::store) otherwise.
    pub fn session_store<K: Data, V: Data>(
        &self,
        params: StoreQueryParameters,
    ) -> Result<ReadOnlySessionStore<K, V>> {
        let (q, def) = Querier::new(self, params, Want::Session)?;
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(ReadOnlySessionStore { q, keys, values })
    }

    /// Where `key` of store `store_name` lives (Kafka Streams' `queryMetadataForKey`): its
    /// partition, murmur2 of the key serialized by `key_serde` (for the store's source
    /// topic) over that topic's partition count, as the default partitioner places it,
    /// and the instance whose task holds that partition. For a global store: this
    /// instance, partition -1. [`KeyQueryMetadata::not_available`] before the first
    /// assignment. Fails if the client is not started or closed, or the store unknown.
    pub fn query_metadata_for_key<K: Data>(
        &self,
        store_name: &str,
        key: &K,
        key_serde: &SerdeRef<K>,
    ) -> Result<KeyQueryMetadata> {
        let shared = &self.shared;
        check_started(
            shared.state(),
            &format!("get the metadata of a key of store {store_name}"),
        )?;
        let sources = shared.registry.sources(shared);
        let (sub, topics) = match sources.by_store.get(store_name) {
            None => return Err(unknown_store(shared, store_name)),
            Some(Source::Global) => {
                let host = self.local_host().unwrap_or_else(HostInfo::unavailable);
                return Ok(KeyQueryMetadata {
                    active_host: host,
                    standby_hosts: Vec::new(),
                    partition: -1,
                });
            }
            Some(Source::Task { sub, topics }) => (*sub, topics),
        };
        let Some(info) = shared.registry.assignment() else {
            return Ok(KeyQueryMetadata::not_available());
        };
        let Some((topic, count)) = topics
            .iter()
            .find_map(|t| info.partition_counts.get(t).map(|n| (t, *n)))
        else {
            return Ok(KeyQueryMetadata::not_available());
        };
        let bytes = match key_serde.serialize(topic, key) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(StreamsError::State(format!(
                    "the key serializes to null: no partition of store {store_name} holds it"
                )))
            }
            Err(source) => {
                return Err(StreamsError::Serde {
                    what: "query metadata key".into(),
                    node: store_name.to_owned(),
                    source,
                })
            }
        };
        let partition = partition_for_key(&bytes, count);
        let task = TaskId {
            subtopology: sub,
            partition,
        };
        let active_host = info
            .hosts
            .iter()
            .find(|(_, h)| h.tasks.contains(&task))
            .map(|(host, _)| host.clone())
            .unwrap_or_else(HostInfo::unavailable);
        Ok(KeyQueryMetadata {
            active_host,
            standby_hosts: Vec::new(),
            partition,
        })
    }

    /// Every instance of the application with an `application.server`, by host, as the
    /// last assignment describes them (Kafka Streams' `metadataForAllStreamsClients`).
    /// Empty before the first assignment; fails if the client is not started or closed.
    pub fn stream_clients_metadata(&self) -> Result<Vec<StreamsMetadata>> {
        let shared = &self.shared;
        check_started(shared.state(), "get the streams metadata")?;
        let sources = shared.registry.sources(shared);
        let Some(info) = shared.registry.assignment() else {
            return Ok(Vec::new());
        };
        Ok(info
            .hosts
            .iter()
            .map(|(host, h)| StreamsMetadata {
                host_info: host.clone(),
                state_store_names: sources.store_names(&h.tasks),
                topic_partitions: h.partitions.clone(),
            })
            .collect())
    }

    /// The instances (of [`stream_clients_metadata`](Self::stream_clients_metadata))
    /// that have store `store_name`: those running a task of its sub-topology, or all for
    /// a global store (Kafka Streams' `streamsMetadataForStore`). Fails if the store is
    /// unknown.
    pub fn streams_metadata_for_store(&self, store_name: &str) -> Result<Vec<StreamsMetadata>> {
        let all = self.stream_clients_metadata()?;
        let shared = &self.shared;
        if !shared
            .registry
            .sources(shared)
            .by_store
            .contains_key(store_name)
        {
            return Err(unknown_store(shared, store_name));
        }
        Ok(all
            .into_iter()
            .filter(|m| m.state_store_names.contains(store_name))
            .collect())
    }

    /// This instance's `application.server`, if set.
    pub fn host_info(&self) -> Option<HostInfo> {
        self.local_host()
    }

    fn local_host(&self) -> Option<HostInfo> {
        self.shared
            .config
            .application_server
            .as_deref()
            .and_then(|s| HostInfo::parse(s).ok())
    }
}

fn unknown_store(shared: &Shared, name: &str) -> StreamsError {
    let known: Vec<&str> = shared.topology.stores.keys().map(String::as_str).collect();
    StreamsError::State(format!(
        "no store named {name} in the topology (its stores: {})",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_info_parses_host_and_port() {
        assert_eq!(
            HostInfo::parse("localhost:8080").unwrap(),
            HostInfo::new("localhost", 8080)
        );
        let v6 = HostInfo::parse("[::1]:9").unwrap();
        assert_eq!(v6, HostInfo::new("::1", 9));
        assert_eq!(v6.to_string(), "[::1]:9");
        assert_eq!(HostInfo::new("a", 1).to_string(), "a:1");
        for bad in ["localhost", ":80", "a:b", "a:70000", "::1:80"] {
            let e = HostInfo::parse(bad).unwrap_err().to_string();
            assert!(e.contains("application.server"), "{bad}: {e}");
        }
        assert!(!HostInfo::unavailable().is_available());
        assert!(!KeyQueryMetadata::not_available().is_available());
        assert!(HostInfo::new("a", 0).is_available());
    }

    #[test]
    fn query_parameters_build_like_kafkas() {
        let p = StoreQueryParameters::from_name("counts");
        assert_eq!(
            (p.store_name(), p.partition(), p.stale_stores_enabled()),
            ("counts", None, false)
        );
        let p = p.with_partition(2).enable_stale_stores();
        assert_eq!((p.partition(), p.stale_stores_enabled()), (Some(2), true));
    }
}
